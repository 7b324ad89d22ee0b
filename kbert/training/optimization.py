"""BERT's optimiser: AdamW (or LAMB) on a warm-up then linear-decay schedule, global-norm clipping, loss scaling."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import tensorflow as tf

OPTIMIZERS = ("adamw", "lamb")


@keras.saving.register_keras_serializable(package="kbert")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Rises linearly from 0 to `peak` over `warmup_steps`, then falls linearly to 0 at `total_steps`.

    The schedule of BERT's fine-tuning recipe and of Hugging Face's `get_linear_schedule_with_warmup`.
    """

    def __init__(self, peak: float, warmup_steps: int, total_steps: int):
        if not 0 <= warmup_steps <= total_steps:
            raise ValueError(f"warmup_steps ({warmup_steps}) must lie between 0 and total_steps ({total_steps})")
        self.peak = peak
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        warmup = self.peak * step / max(self.warmup_steps, 1)
        decay = self.peak * tf.maximum(0.0, (self.total_steps - step) / max(self.total_steps - self.warmup_steps, 1))
        return tf.where(step < self.warmup_steps, warmup, decay)

    def get_config(self):
        return {"peak": self.peak, "warmup_steps": self.warmup_steps, "total_steps": self.total_steps}


@keras.saving.register_keras_serializable(package="kbert")
class FusedAdamW(keras.optimizers.Optimizer):
    """AdamW with each update done by TensorFlow's fused `ResourceApplyAdam` kernel: one pass over the variable and
    its two moments instead of about ten elementwise ops, each a pass over memory (the optimiser was a tenth of a
    BERT-mini step on CPU). The maths, variables and checkpoints of `keras.optimizers.AdamW` (whose weight decay
    the base class applies); written as Keras documents a custom optimiser, with `build` and `update_step`."""

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 name="fused_adamw", **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, name=name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self.momentums, self.velocities = self.add_optimizer_variables(var_list, ["momentum", "velocity"])

    def update_step(self, gradient, variable, learning_rate):
        index = self._get_variable_index(variable)
        target = variable.value if isinstance(variable, keras.Variable) else variable
        dtype = target.dtype
        step = tf.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=target.handle, m=self.momentums[index].value.handle, v=self.velocities[index].value.handle,
            beta1_power=tf.pow(beta_1, step), beta2_power=tf.pow(beta_2, step), lr=tf.cast(learning_rate, dtype),
            beta1=beta_1, beta2=beta_2, epsilon=tf.cast(self.epsilon, dtype),
            grad=tf.cast(tf.convert_to_tensor(gradient), dtype))

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


def make_optimizer(
    name: str,
    schedule: keras.optimizers.schedules.LearningRateSchedule,
    variables: Sequence[keras.Variable],
    weight_decay: float = 0.01,
    loss_scaling: bool = False,
) -> keras.optimizers.Optimizer:
    """A built optimiser for `variables`: `adamw` or `lamb` with BERT's betas and epsilon; biases and LayerNorm
    parameters (the rank-1 variables) get no weight decay. `loss_scaling` wraps it for float16 training.

    Create it inside the strategy's scope so its slots are distributed like the variables.
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"Unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    cls = FusedAdamW if name == "adamw" else keras.optimizers.Lamb
    optimizer = cls(learning_rate=schedule, weight_decay=weight_decay, beta_1=0.9, beta_2=0.999, epsilon=1e-6)
    optimizer.exclude_from_weight_decay(var_list=[v for v in variables if len(v.shape) <= 1])
    if loss_scaling:
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    optimizer.build(list(variables))
    return optimizer


def apply_gradients(
    optimizer: keras.optimizers.Optimizer,
    grads: Sequence[tf.Tensor],
    variables: Sequence[keras.Variable],
    clip_norm: float | None,
) -> tf.Tensor:
    """Sums this replica's gradients with the others', clips the sum to `clip_norm` (global norm), applies it.

    Call in replica context (inside `strategy.run`) with gradients of `optimizer.scale_loss(loss)`, where `loss`
    is already divided by the GLOBAL batch's count. Returns the global norm of the unclipped gradient (not finite
    when the gradient is not). Keras optimisers all-reduce gradients themselves but clip before that, which would
    clip each replica's share; so the sum is formed and clipped here, and each replica hands the optimiser
    `1 / num_replicas` of it.
    """
    context = tf.distribute.get_replica_context()
    grads = context.all_reduce(tf.distribute.ReduceOp.SUM, [tf.convert_to_tensor(g) for g in grads])
    scale = optimizer.dynamic_scale if isinstance(optimizer, keras.optimizers.LossScaleOptimizer) else None
    if scale is not None:
        grads = [g / scale for g in grads]
    norm = tf.linalg.global_norm(grads)
    if clip_norm:
        grads, _ = tf.clip_by_global_norm(grads, clip_norm, use_norm=norm)
    share = 1.0 / context.num_replicas_in_sync
    if scale is not None:
        share = share * scale  # the loss-scale optimiser checks the scaled gradient is finite, then unscales it
    if share != 1.0:
        grads = [g * share for g in grads]
    optimizer.apply_gradients(zip(grads, variables, strict=True))
    return norm

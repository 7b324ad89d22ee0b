"""The optimiser: BERT's learning-rate schedule, weight decay that spares biases and LayerNorm, clipping of the
summed gradient, and float16 loss scaling."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kbert.training.optimization import WarmupLinearDecay, apply_gradients, make_optimizer


def test_schedule_matches_hugging_face_linear_schedule_with_warmup():
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    peak, warmup, total = 1e-3, 10, 50
    torch_optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=peak)
    scheduler = transformers.get_linear_schedule_with_warmup(torch_optimizer, warmup, total)
    expected = []
    for _ in range(total + 3):
        expected.append(scheduler.get_last_lr()[0])
        torch_optimizer.step()
        scheduler.step()
    schedule = WarmupLinearDecay(peak, warmup, total)
    np.testing.assert_allclose([float(schedule(step)) for step in range(total + 3)], expected, rtol=1e-5, atol=1e-12)


def test_schedule_survives_serialization():
    schedule = WarmupLinearDecay(2e-4, 3, 30)
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert float(again(7)) == pytest.approx(float(schedule(7)))


def _model():
    inputs = keras.Input((3,))
    hidden = keras.layers.LayerNormalization(name="norm")(keras.layers.Dense(4, name="dense")(inputs))
    return keras.Model(inputs, hidden)


@pytest.mark.parametrize("name", ["adamw", "lamb"])
def test_weight_decay_shrinks_matrices_but_not_biases_or_layer_norm(name):
    model = _model()
    for variable in model.trainable_variables:
        variable.assign(tf.ones(variable.shape))
    lr, decay = 0.1, 0.5
    optimizer = make_optimizer(name, keras.optimizers.schedules.ExponentialDecay(lr, 1, 1.0), model.trainable_variables,
                               weight_decay=decay)
    zero_grads = [tf.zeros(v.shape) for v in model.trainable_variables]  # so only the decay moves anything
    optimizer.apply_gradients(zip(zero_grads, model.trainable_variables, strict=True))
    values = {v.path: v.numpy() for v in model.trainable_variables}
    np.testing.assert_allclose(values["dense/kernel"], 1 - lr * decay, rtol=1e-6)
    for path in ("dense/bias", "norm/gamma", "norm/beta"):
        np.testing.assert_array_equal(values[path], 1.0, err_msg=path)


def test_unknown_optimizer_is_refused():
    with pytest.raises(ValueError, match="Unknown optimizer 'sgd'; choose one of adamw, lamb"):
        make_optimizer("sgd", WarmupLinearDecay(1e-3, 0, 10), [])


def _sgd_step(optimizer, grads, variables, clip_norm):
    @tf.function
    def step():
        return tf.distribute.get_strategy().run(lambda: apply_gradients(optimizer, grads, variables, clip_norm))

    return float(step())


def test_the_gradient_is_clipped_to_the_global_norm():
    variables = [tf.Variable([0.0, 0.0]), tf.Variable([0.0])]
    grads = [tf.constant([3.0, 4.0]), tf.constant([12.0])]  # global norm 13
    norm = _sgd_step(keras.optimizers.SGD(1.0), grads, variables, clip_norm=1.0)
    assert norm == pytest.approx(13.0)
    np.testing.assert_allclose(np.concatenate([v.numpy() for v in variables]), [-3 / 13, -4 / 13, -12 / 13],
                               rtol=1e-6)


def test_loss_scaling_unscales_before_clipping_and_skips_non_finite_steps():
    variables = [tf.Variable([0.0, 0.0])]
    optimizer = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(1.0), initial_scale=1024.0)
    optimizer.build(variables)
    norm = _sgd_step(optimizer, [tf.constant([3.0, 4.0]) * 1024.0], variables, clip_norm=1.0)
    assert norm == pytest.approx(5.0)
    np.testing.assert_allclose(variables[0].numpy(), [-0.6, -0.8], rtol=1e-6)
    norm = _sgd_step(optimizer, [tf.constant([np.inf, 1.0])], variables, clip_norm=1.0)
    assert not np.isfinite(norm)
    np.testing.assert_allclose(variables[0].numpy(), [-0.6, -0.8], rtol=1e-6)  # the step was skipped
    assert float(optimizer.dynamic_scale) == 512.0  # and the scale halved


def test_fused_adamw_follows_keras_adamw_step_for_step():
    """The fused kernel must change nothing but speed: same updates as keras.optimizers.AdamW, decay exclusions
    included (tests/test_training_distribute.py runs it mirrored and multi-worker)."""
    from kbert.training.optimization import FusedAdamW

    strategy = tf.distribute.get_strategy()
    rng = np.random.default_rng(0)
    shapes = [(40, 24), (24,), (7, 5)]
    initial = [rng.standard_normal(s).astype("float32") for s in shapes]
    gradients = [[rng.standard_normal(s).astype("float32") for s in shapes] for _ in range(6)]

    def train(cls):
        with strategy.scope():
            variables = [keras.Variable(value) for value in initial]
            optimizer = cls(learning_rate=WarmupLinearDecay(0.05, 2, 10), weight_decay=0.1, beta_1=0.9,
                            beta_2=0.999, epsilon=1e-6)
            optimizer.exclude_from_weight_decay(var_list=[variables[1]])
            optimizer.build(variables)

        @tf.function
        def step(grads):
            strategy.run(lambda: optimizer.apply_gradients(zip(grads, variables, strict=True)))

        for grads in gradients:
            step([tf.constant(g) for g in grads])
        return [v.numpy() for v in variables]

    for fused, reference in zip(train(FusedAdamW), train(keras.optimizers.AdamW), strict=True):
        np.testing.assert_allclose(fused, reference, rtol=1e-5, atol=3e-6)


def test_fused_adamw_reads_and_writes_the_checkpoints_of_keras_adamw(tmp_path):
    """Runs checkpointed before FusedAdamW stood on its own (as a subclass of keras.optimizers.AdamW) resume."""
    from kbert.training.optimization import FusedAdamW

    def optimizer_and_variables(cls):
        variables = [keras.Variable(np.full(shape, 0.5, "float32")) for shape in ((3, 2), (2,))]
        optimizer = cls(learning_rate=0.1, weight_decay=0.01)
        optimizer.build(variables)
        return optimizer, variables

    reference, variables = optimizer_and_variables(keras.optimizers.AdamW)
    reference.apply_gradients(zip([tf.ones((3, 2)), tf.ones((2,))], variables, strict=True))
    written = tf.train.Checkpoint(optimizer=reference, variables=variables).write(str(tmp_path / "ckpt"))
    fused, fused_variables = optimizer_and_variables(FusedAdamW)
    tf.train.Checkpoint(optimizer=fused, variables=fused_variables).read(written).assert_consumed()
    assert int(fused.iterations) == 1
    for mine, theirs in zip(fused.variables, reference.variables, strict=True):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())

"""The training loop (distributed steps, gradient accumulation, checkpoints, resume, logs) and evaluation.

One loop serves pretraining and fine-tuning: a task (see `tasks`) says what to compute on a batch, the loop does
the rest. Resuming is deterministic: the data stream restarts at the checkpoint's step (`step` global batches into
a stream whose order is fixed), and the model, optimiser and step come from the checkpoint.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Callable, Mapping

import keras
import tensorflow as tf

from kbert.training.checkpoints import RunCheckpoints
from kbert.training.history import History
from kbert.training.optimization import apply_gradients
from kbert.training.progress import Progress
from kbert.training.strategy import is_chief, writable_dir
from kbert.training.tasks import Task

# (input context, per-replica batch size, first batch) -> this input pipeline's endless stream of per-replica
# batches from its `first batch` on, the same every time it is asked for.
DatasetFn = Callable[[tf.distribute.InputContext, int, int], tf.data.Dataset]

SUM = tf.distribute.ReduceOp.SUM


class TrainingDiverged(RuntimeError):
    """The loss (or the gradient) stopped being a finite number."""


@dataclasses.dataclass(frozen=True)
class LoopOptions:
    """How long and how to train; `global_batch_size` counts every replica's and every accumulated micro-batch."""

    total_steps: int
    global_batch_size: int
    accumulation_steps: int = 1
    clip_norm: float | None = 1.0
    jit_compile: bool = False
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    log_every: int = 10
    eval_every: int | None = None


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """Where a `train` call ended: the step, the training metrics of its last logging window and the last
    evaluation (both empty when there was nothing left to train), its wall time and the newest checkpoint."""

    step: int
    metrics: dict[str, float]
    evaluation: dict[str, float]
    seconds: float
    checkpoint: str | None


def train(
    task: Task,
    optimizer: keras.optimizers.Optimizer,
    strategy: tf.distribute.Strategy,
    dataset_fn: DatasetFn,
    options: LoopOptions,
    run_dir: str,
    checkpoint_objects: Mapping[str, object],
    evaluate_fn: Callable[[], dict[str, float]] | None = None,
    title: str = "train",
) -> TrainResult:
    """Trains `task.model` with `optimizer` to `options.total_steps`, resuming from `run_dir`'s newest checkpoint.

    Build the model and optimiser inside `strategy.scope()`. `checkpoint_objects` (model, optimiser, ...) are saved
    every `checkpoint_every` steps and at the end, and a log record closes at each of those steps, so a resumed
    run logs what an uninterrupted one does. `evaluate_fn`, if given, runs every `eval_every` steps and at the end,
    its metrics logged as "eval"; a run resumed at such a step evaluates first, in case it stopped before the
    evaluation was logged. Raises TrainingDiverged, without saving, when the loss is not finite.
    """
    per_replica_batch = _per_replica_batch(options, strategy.num_replicas_in_sync)
    with strategy.scope():
        step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    chief = is_chief(strategy)
    with writable_dir(run_dir, strategy) as write_dir:
        checkpoints = RunCheckpoints(run_dir, write_dir, step, options.keep_checkpoints,
                                     dropout_seeds=_seed_states(task.model), **checkpoint_objects)
        start = checkpoints.restore()
        history = History(run_dir, enabled=chief, resume_step=start)
        progress = None
        began = window_began = time.monotonic()
        window: dict[str, float] = {}
        metrics: dict[str, float] = {}
        evaluation: dict[str, float] = {}
        try:
            if evaluate_fn and start and _evaluates_at(start, options):
                evaluation = evaluate_fn()  # every worker evaluates (it takes collectives); the chief logs it once
                if not history.has(start, "eval"):
                    history.record(start, "eval", evaluation)
            if start >= options.total_steps:
                history.plot(f"{run_dir}/learning_curves.png", title)  # its final evaluation may be new
                return TrainResult(start, {}, evaluation, 0.0, checkpoints.latest)
            progress = (Progress(title, options.total_steps, start, every=options.log_every,
                                 shown=task.objective.SHOWN) if chief else None)
            iterator = iter(strategy.distribute_datasets_from_function(
                functools.partial(_pipeline_input, dataset_fn, per_replica_batch, start)))
            train_step = make_train_step(task, optimizer, strategy, options)
            loss_scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
            began = window_began = time.monotonic()
            for current in range(start + 1, options.total_steps + 1):
                sums, norm = train_step(iterator)
                sums, norm = {k: float(v) for k, v in sums.items()}, float(norm)
                loss = task.metrics(sums)["loss"]
                if not math.isfinite(loss) or not (loss_scaled or math.isfinite(norm)):
                    raise TrainingDiverged(_diverged_message(current, loss, norm, checkpoints.latest))
                step.assign(current)
                window = {k: window.get(k, 0.0) + v for k, v in sums.items()}
                metrics = task.metrics(window)
                if progress:
                    progress.update(current, metrics, options.global_batch_size)
                if current % options.log_every == 0 or _checkpoints_at(current, options):
                    now = time.monotonic()
                    history.record(current, "train", {
                        **metrics, "learning_rate": float(optimizer.learning_rate), "grad_norm": norm,
                        "examples_per_second": window["examples"] / max(now - window_began, 1e-9)})
                    window, window_began = {}, now
                if _checkpoints_at(current, options):
                    checkpoints.save()
                if evaluate_fn and _evaluates_at(current, options):
                    evaluation = evaluate_fn()
                    history.record(current, "eval", evaluation)
                    window_began = time.monotonic()  # examples/s counts training time only
        finally:
            if progress:
                progress.close()
            history.close()
        history.plot(f"{run_dir}/learning_curves.png", title)
        return TrainResult(options.total_steps, metrics, evaluation, time.monotonic() - began, checkpoints.latest)


def _checkpoints_at(step: int, options: LoopOptions) -> bool:
    return step % options.checkpoint_every == 0 or step == options.total_steps


def _evaluates_at(step: int, options: LoopOptions) -> bool:
    return bool(options.eval_every and step % options.eval_every == 0) or step == options.total_steps


def _seed_states(model: keras.Model) -> list[keras.Variable]:
    """The states of the model's random-number generators (dropout): Keras keeps them out of `tf.train.Checkpoint`,
    but a resumed run must draw the same dropout masks as an uninterrupted one."""
    return [v for v in model.non_trainable_variables if v.path.endswith("seed_generator_state")]


def _per_replica_batch(options: LoopOptions, replicas: int) -> int:
    parts = replicas * options.accumulation_steps
    if options.global_batch_size % parts:
        raise ValueError(
            f"batch size {options.global_batch_size} does not split evenly into {replicas} replica(s) x "
            f"{options.accumulation_steps} accumulation step(s); use a multiple of {parts}.")
    return options.global_batch_size // replicas


def _pipeline_input(dataset_fn: DatasetFn, per_replica_batch: int, start_step: int,
                    context: tf.distribute.InputContext) -> tf.data.Dataset:
    """This input pipeline's batches from step `start_step` on: each step takes one batch per local replica."""
    batches_per_step = context.num_replicas_in_sync // context.num_input_pipelines
    return dataset_fn(context, per_replica_batch, start_step * batches_per_step).prefetch(tf.data.AUTOTUNE)


def make_train_step(task: Task, optimizer: keras.optimizers.Optimizer, strategy: tf.distribute.Strategy,
                     options: LoopOptions) -> Callable:
    """A tf.function: one optimiser step on the next global batch; returns (summed batch sums, gradient norm).

    Public so that bench/bench_pretraining_step.py times exactly the step that training runs.
    """
    variables = task.model.trainable_variables
    micro_batches = options.accumulation_steps

    def gradients(batch, totals):
        with tf.GradientTape() as tape:
            sums = task.sums(batch, training=True)
            loss = optimizer.scale_loss(task.loss(sums, totals))
        return [tf.convert_to_tensor(g) for g in tape.gradient(loss, variables)], sums

    if options.jit_compile:
        gradients = tf.function(gradients, jit_compile=True)

    def replica_step(batch):
        totals = tf.distribute.get_replica_context().all_reduce(SUM, task.counts(batch))
        split = tf.nest.map_structure(
            lambda t: tf.reshape(t, tf.concat([[micro_batches, -1], tf.shape(t)[1:]], axis=0)), batch)
        grads, sums = gradients(_micro_batch(split, 0), totals)
        if micro_batches > 1:
            for i in tf.range(1, micro_batches):
                more_grads, more_sums = gradients(_micro_batch(split, i), totals)
                grads = [a + b for a, b in zip(grads, more_grads, strict=True)]
                sums = {key: sums[key] + more_sums[key] for key in sums}
        return sums, apply_gradients(optimizer, grads, variables, options.clip_norm)

    @tf.function
    def train_step(iterator):
        sums, norm = strategy.run(replica_step, args=(next(iterator),))
        return ({key: strategy.reduce(SUM, value, axis=None) for key, value in sums.items()},
                strategy.reduce(tf.distribute.ReduceOp.MEAN, norm, axis=None))

    return train_step


def _micro_batch(split, index):
    """Micro-batch `index` of a batch whose tensors were reshaped to `[micro_batches, micro_batch_size, ...]`."""
    return tf.nest.map_structure(lambda t: t[index], split)


def _diverged_message(step: int, loss: float, norm: float, latest: str | None) -> str:
    remedy = "a lower --learning-rate, more --warmup-steps, or float32 precision"
    if latest:
        advice = (f"The last good checkpoint, {latest}, is kept, but resumed with the same settings the run would "
                  f"diverge here again (training is deterministic): train again in a new --output-dir with {remedy}.")
    else:
        advice = (f"No checkpoint had been written yet, so this run may start again with other settings: rerun with "
                  f"{remedy}.")
    return (f"Training stopped at step {step}: the loss is {loss} and the gradient norm {norm}, not finite numbers. "
            f"{advice}")


class Evaluator:
    """Metrics of a task's model over finite datasets batched with the global batch size (a last, smaller batch
    included); the evaluation step is compiled once and reused."""

    def __init__(self, task: Task, strategy: tf.distribute.Strategy):
        self.task = task
        self.strategy = strategy

        @tf.function(reduce_retracing=True)
        def step(batch):
            sums = strategy.run(functools.partial(task.sums, training=False), args=(batch,))
            return {key: strategy.reduce(SUM, value, axis=None) for key, value in sums.items()}

        self._step = step

    def __call__(self, dataset: tf.data.Dataset) -> dict[str, float]:
        totals: dict[str, float] = {}
        for batch in self.strategy.experimental_distribute_dataset(dataset):
            for key, value in self._step(batch).items():
                totals[key] = totals.get(key, 0.0) + float(value)
        if not totals:
            raise ValueError("The evaluation dataset is empty.")
        return self.task.metrics(totals)

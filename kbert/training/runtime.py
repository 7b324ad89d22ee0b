"""What every training job settles before it builds a model: strategy, precision, XLA, optimiser, loop options."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

import keras
import tensorflow as tf

from kbert import precision
from kbert.io import write_json
from kbert.training.loop import DatasetFn, Evaluator, LoopOptions, train
from kbert.training.machine import command_line, describe_hardware
from kbert.training.optimization import WarmupLinearDecay, make_optimizer
from kbert.training.run_config import TrainingSettings, check_resumable
from kbert.training.strategy import auto_precision, is_chief, make_strategy
from kbert.training.tasks import Task

EVAL_FILE = "eval.json"


@dataclasses.dataclass(frozen=True)
class Runtime:
    """The resolved choices of a run (recorded in settings.json under "resolved")."""

    strategy: tf.distribute.Strategy
    precision: str
    jit_compile: bool

    def describe(self) -> dict:
        """The choices, and the command and machine this (re)start of the run came from (for the model card)."""
        return {"precision": self.precision, "jit_compile": self.jit_compile,
                "strategy": type(self.strategy).__name__, "replicas": self.strategy.num_replicas_in_sync,
                "command": command_line(), "hardware": describe_hardware()}


def start_run(settings: TrainingSettings, task: str, strategy: tf.distribute.Strategy | None = None) -> Runtime:
    """Checks `settings.output_dir` can hold (or resume) this run, picks the strategy unless given, sets the dtype
    policy and seeds Keras' random numbers with the run's seed; build models after this."""
    check_resumable(settings, task)
    os.makedirs(settings.output_dir, exist_ok=True)
    strategy = strategy or make_strategy(settings.strategy, settings.tpu)
    policy = auto_precision(strategy) if settings.precision == "auto" else settings.precision
    precision.set_policy(policy)
    keras.utils.set_random_seed(settings.seed)  # the initial weights (and dropout's seeds) follow the run's seed
    jit_compile = precision.default_jit_compile() if settings.jit_compile is None else settings.jit_compile
    return Runtime(strategy, policy, jit_compile)


def total_steps(settings: TrainingSettings, examples_per_epoch: int | None) -> int:
    """`settings.steps`, or enough steps for `settings.epochs` passes over `examples_per_epoch` examples."""
    if settings.steps:
        return settings.steps
    if not examples_per_epoch:
        raise ValueError("the run's length is given in epochs, but the size of an epoch is unknown; give steps")
    return max(1, round(settings.epochs * examples_per_epoch / settings.batch_size))


def build_optimizer(settings: TrainingSettings, runtime: Runtime, model: keras.Model,
                    steps: int) -> keras.optimizers.Optimizer:
    """The optimiser of `settings` for `model`'s trainable variables on a warm-up/linear-decay schedule of
    `steps` (call inside the strategy's scope); float16 gets loss scaling."""
    warmup = steps // 10 if settings.warmup_steps is None else min(settings.warmup_steps, steps)
    return make_optimizer(settings.optimizer, WarmupLinearDecay(settings.learning_rate, warmup, steps),
                          model.trainable_variables, settings.weight_decay,
                          loss_scaling=runtime.precision == "mixed_float16")


def loop_options(settings: TrainingSettings, runtime: Runtime, steps: int) -> LoopOptions:
    return LoopOptions(
        total_steps=steps, global_batch_size=settings.batch_size, accumulation_steps=settings.accumulation_steps,
        clip_norm=settings.clip_norm or None, jit_compile=runtime.jit_compile,
        checkpoint_every=settings.checkpoint_every, keep_checkpoints=settings.keep_checkpoints,
        log_every=settings.log_every, eval_every=settings.eval_every)


@dataclasses.dataclass(frozen=True)
class JobResult:
    """What a pretraining or fine-tuning job reports: where it wrote, how long it trained, its final training
    metrics, its held-out metrics and reference figures to judge them by (chance, majority class...)."""

    run_dir: str
    steps: int
    seconds: float
    train: dict[str, float]
    evaluation: dict[str, float]
    references: dict[str, float]


@dataclasses.dataclass(frozen=True)
class Training:
    """What a job trains: its task and optimiser, its batches, how many steps, and what its checkpoints hold."""

    task: Task
    optimizer: keras.optimizers.Optimizer
    dataset_fn: DatasetFn
    steps: int
    checkpointed: dict


@dataclasses.dataclass(frozen=True)
class Judging:
    """How a job is judged: its held-out batches (None: not judged), `final_figures()` giving once at the end a
    pair (more held-out figures, reference figures to judge them by), and the fields eval.json records besides."""

    heldout: tf.data.Dataset | None
    final_figures: Callable[[], tuple[dict, dict]]
    record: dict


def train_and_evaluate(training: Training, judging: Judging, runtime: Runtime, settings: TrainingSettings,
                       title: str) -> JobResult:
    """Trains (resuming if checkpoints exist), evaluates on the held-out batches and records the evaluation in the
    run's `eval.json` (chief only)."""
    evaluator, heldout = Evaluator(training.task, runtime.strategy), judging.heldout
    result = train(training.task, training.optimizer, runtime.strategy, training.dataset_fn,
                   loop_options(settings, runtime, training.steps), settings.output_dir, training.checkpointed,
                   evaluate_fn=(lambda: evaluator(heldout)) if heldout else None, title=title)
    evaluation, references = {}, {}
    if heldout:
        evaluation = result.evaluation or evaluator(heldout)  # a run that had already finished is evaluated now
        more, references = judging.final_figures()
        evaluation = {**evaluation, **more}
        if is_chief(runtime.strategy):
            write_json(os.path.join(settings.output_dir, EVAL_FILE),
                       {**judging.record, "step": result.step, **evaluation, "references": references})
    return JobResult(settings.output_dir, result.step, result.seconds, result.metrics, evaluation, references)

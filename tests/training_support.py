"""Shared by the training tests: synthetic pretraining batches in the contract's format, a tiny BERT, and a small
training run, callable in the test process or as a worker process:

    python tests/training_support.py OUTPUT_DIR [--strategy default|mirrored|multi_worker] [--steps N] ...
"""

import argparse
import functools
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from kbert.config import BertConfig  # noqa: E402
from kbert.models import BertBackbone, BertPretrainer  # noqa: E402
from kbert.training.loop import Evaluator, LoopOptions, TrainResult, train  # noqa: E402
from kbert.training.optimization import WarmupLinearDecay, make_optimizer  # noqa: E402
from kbert.training.tasks import PretrainingTask  # noqa: E402

VOCAB_SIZE, SEQ_LENGTH, PREDICTIONS = 60, 16, 4


def synthetic_examples(count: int = 256, seed: int = 0) -> dict[str, np.ndarray]:
    """Pretraining examples: two segments of random tokens with right padding, 1-4 masked-LM targets each (their
    positions hold [MASK], id 4), and an NSP label that depends on the first token so it can be learned."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(8, SEQ_LENGTH + 1, size=count)
    positions = np.arange(SEQ_LENGTH)[None]
    padding_mask = (positions < lengths[:, None]).astype("int32")
    token_ids = rng.integers(5, VOCAB_SIZE, size=(count, SEQ_LENGTH)).astype("int32") * padding_mask
    segment_ids = ((positions >= lengths[:, None] // 2) * padding_mask).astype("int32")
    used = positions[:, :PREDICTIONS] < rng.integers(1, PREDICTIONS + 1, size=count)[:, None]
    mask_positions = np.where(used, np.arange(2, 2 + PREDICTIONS)[None], 0).astype("int32")
    mask_ids = np.where(used, np.take_along_axis(token_ids, mask_positions, 1), 0).astype("int32")
    np.put_along_axis(token_ids, mask_positions, np.where(used, 4, np.take_along_axis(token_ids, mask_positions, 1)),
                      1)
    return {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask,
            "mask_positions": mask_positions, "mask_ids": mask_ids, "mask_weights": used.astype("float32"),
            "next_sentence_labels": (token_ids[:, 1] % 2).astype("int32")}


def dataset_fn(examples: dict[str, np.ndarray]):
    """A loop DatasetFn over `examples`, repeated: input pipeline p of P takes examples p, p+P, ..., so one step's
    batches over all pipelines are the same examples as one batch of the whole global batch."""

    def make(context: tf.distribute.InputContext, batch_size: int, first_batch: int) -> tf.data.Dataset:
        dataset = tf.data.Dataset.from_tensor_slices(examples).repeat()
        dataset = dataset.shard(context.num_input_pipelines, context.input_pipeline_id)
        return dataset.batch(batch_size, drop_remainder=True).skip(first_batch)

    return make


def tiny_pretrainer(dropout: float = 0.0, seed: int = 0) -> BertPretrainer:
    """A 2-layer BERT with its pretraining heads, every weight built (call inside the strategy's scope)."""
    keras.utils.set_random_seed(seed)
    config = BertConfig.from_preset("tiny", vocab_size=VOCAB_SIZE, max_position_embeddings=SEQ_LENGTH,
                                    hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    model = BertPretrainer(BertBackbone(config))
    model({name: values[:1] for name, values in synthetic_examples(1).items()})
    return model


def run(output_dir: str, strategy: tf.distribute.Strategy | None = None, steps: int = 6, batch_size: int = 8,
        accumulation_steps: int = 1, dropout: float = 0.0, checkpoint_every: int = 1000,
        examples: dict[str, np.ndarray] | None = None, learning_rate: float = 3e-3,
        clip_norm: float | None = 1.0, loss_scaling: bool = False, log_every: int = 1,
        eval_every: int | None = None) -> TrainResult:
    """Pretrains the tiny model on synthetic data for `steps` steps (resuming from `output_dir`), logging every
    `log_every`; with `eval_every`, evaluates on 16 other synthetic examples that often and at the end."""
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        model = tiny_pretrainer(dropout)
        optimizer = make_optimizer("adamw", WarmupLinearDecay(learning_rate, 2, steps), model.trainable_variables,
                                   loss_scaling=loss_scaling)
    options = LoopOptions(total_steps=steps, global_batch_size=batch_size, accumulation_steps=accumulation_steps,
                          checkpoint_every=checkpoint_every, log_every=log_every, clip_norm=clip_norm,
                          eval_every=eval_every)
    task = PretrainingTask(model)
    evaluate_fn = None
    if eval_every:
        heldout = tf.data.Dataset.from_tensor_slices(synthetic_examples(16, seed=1)).batch(batch_size)
        evaluate_fn = functools.partial(Evaluator(task, strategy), heldout)
    return train(task, optimizer, strategy, dataset_fn(examples or synthetic_examples()), options, output_dir,
                 {"model": model, "optimizer": optimizer}, evaluate_fn)


def train_records(output_dir: str) -> list[dict]:
    """The per-step training records of a run's metrics.jsonl."""
    with open(os.path.join(output_dir, "metrics.jsonl"), encoding="utf-8") as file:
        return [record for record in map(json.loads, file) if record["split"] == "train"]


def _strategy(name: str) -> tf.distribute.Strategy:
    if name == "mirrored":
        (cpu,) = tf.config.list_physical_devices("CPU")
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("output_dir")
    parser.add_argument("--strategy", default="default", choices=["default", "mirrored", "multi_worker"])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--checkpoint-every", type=int, default=1000)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--examples", type=int, default=256, help="size of the synthetic data set")
    parser.add_argument("--eval-every", type=int, default=None)
    args = parser.parse_args()
    strategy = _strategy(args.strategy)  # first: multi-worker set-up must precede other TensorFlow work
    run(args.output_dir, strategy, steps=args.steps, checkpoint_every=args.checkpoint_every, dropout=args.dropout,
        examples=synthetic_examples(args.examples), eval_every=args.eval_every)

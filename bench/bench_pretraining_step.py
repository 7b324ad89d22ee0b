"""Tokens/s of one pretraining step (MLM + NSP, AdamW), kbert next to keras-hub's BertMaskedLM (MLM only).

Systems: `kbert` is the training loop's step (what `train.py pretrain` runs: clipping, global-batch loss),
`kbert-fit` the same model under Keras `fit`, `keras-hub` keras-hub's `BertMaskedLM` under `fit`.

    .venv/bin/python bench/bench_pretraining_step.py --presets mini base --policies float32 mixed_bfloat16

Both models run Keras' own train function (one `fit` step) on the same random batch (batch 32 x 128 tokens,
20 predictions a sequence), with and without XLA, timed in turn; the figure is the median over `--steps` steps.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import keras_hub  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from kbert import precision  # noqa: E402
from kbert.config import BertConfig  # noqa: E402
from kbert.models import BertBackbone, BertPretrainer  # noqa: E402
from kbert.training.loop import LoopOptions, make_train_step  # noqa: E402
from kbert.training.optimization import WarmupLinearDecay, make_optimizer  # noqa: E402
from kbert.training.tasks import PretrainingTask  # noqa: E402


def random_batch(vocab_size: int, batch_size: int, seq_length: int, predictions: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    positions = np.sort(np.stack([rng.choice(np.arange(1, seq_length), predictions, replace=False)
                                  for _ in range(batch_size)]), axis=1)
    return {
        "token_ids": rng.integers(5, vocab_size, (batch_size, seq_length)).astype("int32"),
        "segment_ids": (np.arange(seq_length)[None, :] >= seq_length // 2).repeat(batch_size, 0).astype("int32"),
        "padding_mask": np.ones((batch_size, seq_length), "int32"),
        "mask_positions": positions.astype("int32"),
        "mask_ids": rng.integers(5, vocab_size, (batch_size, predictions)).astype("int32"),
        "mask_weights": np.ones((batch_size, predictions), "float32"),
        "next_sentence_labels": rng.integers(0, 2, batch_size).astype("int32"),
    }


def adamw() -> keras.optimizers.Optimizer:
    return keras.optimizers.AdamW(learning_rate=1e-4, weight_decay=0.01)


def kbert_train_function(config: BertConfig, batch: dict, jit: bool):
    model = BertPretrainer(BertBackbone(config))
    model.compile(optimizer=adamw(), jit_compile=jit)
    return model, tf.data.Dataset.from_tensors(batch).repeat()


class _TrainingLoopStep:
    """kbert's training-loop step (what `train.py pretrain` runs) behind the `train_function(iterator)` interface."""

    def __init__(self, config: BertConfig, jit: bool):
        strategy = tf.distribute.get_strategy()
        self.model = BertPretrainer(BertBackbone(config))
        schedule = WarmupLinearDecay(1e-4, 10, 10_000)
        optimizer = make_optimizer("adamw", schedule, self.model.trainable_variables)
        options = LoopOptions(total_steps=10_000, global_batch_size=32, jit_compile=jit)
        self.train_function = make_train_step(PretrainingTask(self.model), optimizer, strategy, options)

    def make_train_function(self):
        """Built in `__init__` already."""


def kbert_loop_train_function(config: BertConfig, batch: dict, jit: bool):
    step = _TrainingLoopStep(config, jit)
    dataset = tf.data.Dataset.from_tensors(batch).repeat()
    return step, dataset


def keras_hub_train_function(config: BertConfig, batch: dict, jit: bool):
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=config.vocab_size, num_layers=config.num_hidden_layers,
        num_heads=config.num_attention_heads, hidden_dim=config.hidden_size,
        intermediate_dim=config.intermediate_size, max_sequence_length=config.max_position_embeddings)
    model = keras_hub.models.BertMaskedLM(backbone)
    model.compile(optimizer=adamw(), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  weighted_metrics=[keras.metrics.SparseCategoricalAccuracy()], jit_compile=jit)
    inputs = {key: batch[key] for key in ("token_ids", "segment_ids", "padding_mask", "mask_positions")}
    return model, tf.data.Dataset.from_tensors((inputs, batch["mask_ids"], batch["mask_weights"])).repeat()


def interleaved_step_seconds(runs: dict, warmup: int, steps: int) -> dict[str, float]:
    """Median step time of each model's Keras train function (what `fit` runs per step), timing the models in
    turn so that a change in machine load touches them alike."""
    functions = {}
    for name, (model, dataset) in runs.items():
        model.make_train_function()
        functions[name] = (model.train_function, iter(dataset))
    durations: dict[str, list[float]] = {name: [] for name in runs}
    for step in range(warmup + steps):
        for name, (function, iterator) in functions.items():
            start = time.perf_counter()
            outputs = function(iterator)
            tf.nest.map_structure(np.asarray, outputs)  # wait for the step to finish
            if step >= warmup:
                durations[name].append(time.perf_counter() - start)
    return {name: float(np.median(times)) for name, times in durations.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["mini", "base"])
    parser.add_argument("--policies", nargs="+", default=["float32", "mixed_bfloat16"])
    parser.add_argument("--systems", nargs="+", default=["kbert", "keras-hub"])
    parser.add_argument("--xla", nargs="+", default=["off", "on"], choices=["off", "on"])
    parser.add_argument("--vocab-size", type=int, default=30522)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seq-length", type=int, default=128)
    parser.add_argument("--predictions", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args()

    builders = {"kbert": kbert_loop_train_function, "kbert-fit": kbert_train_function,
                "keras-hub": keras_hub_train_function}
    tokens = args.batch_size * args.seq_length
    batch = random_batch(args.vocab_size, args.batch_size, args.seq_length, args.predictions)
    print(f"batch {args.batch_size} x {args.seq_length} tokens, {args.predictions} predictions a sequence, "
          f"vocab {args.vocab_size}, {os.cpu_count()} CPUs, TF {tf.__version__}, keras-hub {keras_hub.__version__}")
    print(f"{'preset':8} {'policy':16} {'XLA':4} {'system':10} {'s/step':>8} {'tokens/s':>9}")
    for preset in args.presets:
        for policy in args.policies:
            config = BertConfig.from_preset(preset, vocab_size=args.vocab_size)
            for xla in args.xla:
                keras.backend.clear_session()  # this also resets Keras' dtype policy to float32, so set it after
                precision.set_policy(policy)
                runs = {system: builders[system](config, batch, xla == "on") for system in args.systems}
                seconds = interleaved_step_seconds(runs, args.warmup, args.steps)
                for system in args.systems:
                    print(f"{preset:8} {policy:16} {xla:4} {system:10} {seconds[system]:8.3f} "
                          f"{tokens / seconds[system]:9.0f}", flush=True)


if __name__ == "__main__":
    main()

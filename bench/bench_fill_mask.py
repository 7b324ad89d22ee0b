"""Fill-mask latency: the exported SavedModel's `fill_mask` signature (strings in, tokenized in-graph) against
keras-hub's `BertMaskedLM` in a `tf.function` (token ids in), both `base` with the same random weights.

    .venv/bin/python bench/bench_fill_mask.py [--repeats 15] [--preset base]

Prints the median milliseconds per call at batch 1 x 32 tokens and batch 32 x 128 tokens, one [MASK] per text. The
runs are interleaved (ours, keras-hub, keras-hub + XLA, rotating) so a busy machine slows all of them alike.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras_hub  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from kbert.config import PRESETS  # noqa: E402
from kbert.convert.keras_hub import backbone_from_keras_hub, masked_lm_head_arrays_from_keras_hub  # noqa: E402
from kbert.convert.weights import weight_name  # noqa: E402
from kbert.export import export_model  # noqa: E402
from kbert.models import BertPretrainer  # noqa: E402
from kbert.text.tokenizer import BertTokenizer  # noqa: E402
from kbert.text.vocab import SPECIAL_TOKENS  # noqa: E402

VOCAB_SIZE = 21128  # Google's Chinese BERT vocabulary size
SHAPES = ((1, 32), (32, 128))  # (batch size, tokens with [CLS] and [SEP])


def models(preset: str) -> tuple[keras_hub.models.BertMaskedLM, BertPretrainer]:
    """keras-hub's masked LM with random weights, and a kbert pretrainer holding the same weights."""
    layers, hidden = PRESETS[preset]
    hub_backbone = keras_hub.models.BertBackbone(
        vocabulary_size=VOCAB_SIZE, num_layers=layers, num_heads=hidden // 64, hidden_dim=hidden,
        intermediate_dim=4 * hidden, max_sequence_length=512)
    hub = keras_hub.models.BertMaskedLM(hub_backbone)
    ours = BertPretrainer(backbone_from_keras_hub(hub_backbone))
    head = masked_lm_head_arrays_from_keras_hub(hub)
    for variable in ours.masked_lm_head.weights:
        variable.assign(head[weight_name(ours, variable)])
    return hub, ours


def texts(tokenizer: BertTokenizer, batch_size: int, length: int, seed: int = 0) -> list[str]:
    """Random CJK texts of `length - 2` tokens (one character each), one of them [MASK]."""
    rng = np.random.default_rng(seed)
    characters = tokenizer.vocab[len(SPECIAL_TOKENS):]
    rows = []
    for _ in range(batch_size):
        row = list(rng.choice(characters, size=length - 2))
        row[rng.integers(length - 2)] = "[MASK]"
        rows.append("".join(row))
    return rows


def hub_inputs(tokenizer: BertTokenizer, batch: list[str], length: int) -> dict[str, tf.Tensor]:
    """The same texts as token ids for keras-hub, with the [MASK] positions."""
    features = tokenizer(tf.constant(batch), seq_length=length)
    positions = tf.argmax(tf.cast(features["token_ids"] == tokenizer.mask_id, tf.int32), axis=1, output_type=tf.int32)
    return {**features, "mask_positions": positions[:, None]}


def median_ms(samples: list[float]) -> float:
    return 1000 * statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--preset", default="base", choices=list(PRESETS))
    args = parser.parse_args()

    tokenizer = BertTokenizer([*SPECIAL_TOKENS, *(chr(0x4E00 + i) for i in range(VOCAB_SIZE - len(SPECIAL_TOKENS)))])
    hub, ours = models(args.preset)
    with tempfile.TemporaryDirectory() as directory:
        fill_mask = tf.saved_model.load(str(export_model(ours, tokenizer, directory, name="bench"))).signatures[
            "fill_mask"]
        hub_call = tf.function(lambda inputs: hub(inputs, training=False), jit_compile=False)
        hub_xla = tf.function(lambda inputs: hub(inputs, training=False), jit_compile=True)
        print(f"preset {args.preset}, vocab {VOCAB_SIZE}, TensorFlow {tf.__version__}, keras-hub "
              f"{keras_hub.__version__}, {os.cpu_count()} CPUs; median ms per call over {args.repeats} interleaved "
              "repeats (first calls, which trace and compile, not counted)")
        print(f"{'batch x tokens':>15} {'kbert SavedModel':>17} {'keras-hub':>10} {'keras-hub XLA':>14}  "
              "max |p_kbert - p_keras_hub|")
        for batch_size, length in SHAPES:
            batch = texts(tokenizer, batch_size, length)
            strings, ids = tf.constant(batch), hub_inputs(tokenizer, batch, length)
            runs = {"kbert": lambda s=strings: fill_mask(text=s)["probabilities"],
                    "keras-hub": lambda i=ids: hub_call(i), "keras-hub XLA": lambda i=ids: hub_xla(i)}
            for run in runs.values():
                run().numpy()  # trace and compile
            times = {name: [] for name in runs}
            for repeat in range(args.repeats):
                names = list(runs)[repeat % 3:] + list(runs)[:repeat % 3]  # rotate who goes first
                for name in names:
                    start = time.perf_counter()
                    runs[name]().numpy()
                    times[name].append(time.perf_counter() - start)
            ours_top = fill_mask(text=strings)["probabilities"].numpy()[:, 0, 0]
            hub_top = np.sort(tf.nn.softmax(hub_call(ids)).numpy()[:, 0], axis=-1)[:, -1]
            print(f"{batch_size:>7} x {length:<5} {median_ms(times['kbert']):>17.1f} "
                  f"{median_ms(times['keras-hub']):>10.1f} {median_ms(times['keras-hub XLA']):>14.1f}  "
                  f"{np.abs(ours_top - hub_top).max():.1e} (top-1 probability)")


if __name__ == "__main__":
    main()

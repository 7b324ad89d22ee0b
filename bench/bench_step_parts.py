"""Two parts of the training step against what they replaced: dropout from the keyed hash (kernels.dropout) vs
TensorFlow's Philox random numbers (16 bits an element), and FusedAdamW vs Keras' AdamW.

    .venv/bin/python bench/bench_step_parts.py [--elements 2097152] [--repeats 20]

Prints the median ms of dropout forward + backward on a float32 tensor, and of one optimiser update of BERT-mini's
variables (11.1 M parameters, vocab 30522); each pair is timed in turn so machine load touches both alike.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from kbert.layers import kernels  # noqa: E402
from kbert.training.optimization import FusedAdamW  # noqa: E402

_LAYER_SHAPES = [(256, 768), (768,), (256, 256), (256,), (256, 1024), (1024,), (1024, 256), (256,), (256,), (256,)]
MINI_SHAPES = [(30522, 256), (512, 256)] + _LAYER_SHAPES * 4


def philox_dropout(x, rate: float, seed):
    """TensorFlow's stateless Philox bits, two elements per 32-bit draw (kbert's dropout before the hash)."""
    threshold = round(rate * 65536)
    size = tf.size(x)
    bits = tf.random.stateless_uniform([(size + 1) // 2], seed, minval=None, maxval=None, dtype=tf.uint32)
    keep = tf.reshape(tf.reshape(tf.bitcast(bits, tf.uint16), [-1])[:size] >= threshold, tf.shape(x))
    return tf.where(keep, x * (65536.0 / (65536 - threshold)), tf.zeros_like(x))


def dropout_step(fn, x):
    seed = tf.constant([3, 7], tf.int32)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(fn(x, 0.1, seed))
        return tape.gradient(loss, x)

    return step


def optimizer_step(cls):
    variables = [keras.Variable(np.zeros(shape, "float32")) for shape in MINI_SHAPES]
    optimizer = cls(learning_rate=1e-3, weight_decay=0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-6)
    optimizer.exclude_from_weight_decay(var_list=[v for v in variables if len(v.shape) == 1])
    optimizer.build(variables)
    gradients = [tf.random.normal(shape) for shape in MINI_SHAPES]

    @tf.function
    def step():
        optimizer.apply_gradients(zip(gradients, variables, strict=True))
        return variables[0][0, 0]

    return step


def interleaved_ms(functions: dict, repeats: int) -> dict[str, float]:
    for function in functions.values():
        np.asarray(function())  # trace and warm up
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            np.asarray(function())
            times[name].append(time.perf_counter() - start)
    return {name: 1000 * float(np.median(values)) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--elements", type=int, default=2 * 1024 * 1024)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    x = tf.random.normal([args.elements])
    dropout = interleaved_ms({"hash (kbert)": dropout_step(kernels.dropout, x),
                              "philox": dropout_step(philox_dropout, x)}, args.repeats)
    adam = interleaved_ms({"FusedAdamW (kbert)": optimizer_step(FusedAdamW),
                           "keras AdamW": optimizer_step(keras.optimizers.AdamW)}, args.repeats)
    print(f"dropout forward + backward, {args.elements / 1e6:.1f} M elements: "
          + ", ".join(f"{name} {ms:.1f} ms" for name, ms in dropout.items()))
    print(f"optimiser update, {sum(int(np.prod(s)) for s in MINI_SHAPES) / 1e6:.1f} M parameters: "
          + ", ".join(f"{name} {ms:.1f} ms" for name, ms in adam.items()))


if __name__ == "__main__":
    main()

"""The one place the dtype policy is chosen; layers keep softmax and LayerNorm in float32 themselves."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import keras
import tensorflow as tf

POLICIES = ("float32", "mixed_bfloat16", "mixed_float16")


def set_policy(name: str) -> None:
    """Sets Keras' global dtype policy; build models after calling it."""
    if name not in POLICIES:
        raise ValueError(f"Unknown precision {name!r}; choose one of {', '.join(POLICIES)}")
    keras.config.set_dtype_policy(name)


def current_policy() -> str:
    return keras.config.dtype_policy().name


@contextlib.contextmanager
def policy(name: str) -> Iterator[None]:
    """Keras' dtype policy `name` for the block (build models inside it), then the policy before it again, even when
    the block raises.

    >>> with policy("mixed_bfloat16"):
    ...     layer = keras.layers.Dense(4)  # computes in bfloat16
    >>> current_policy()                    # the caller's again
    'float32'
    """
    previous = keras.config.dtype_policy()
    set_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def default_jit_compile() -> bool:
    """XLA for whole training steps where it is faster: on GPUs and TPUs, not on CPUs.

    Measured on a 2-core CPU (bench/bench_pretraining_step.py, bench/README.md): a whole-step XLA `mini` float32
    step took 10-20x longer (XLA's CPU random-number kernels, and its dots skip oneDNN); with the hash dropout its
    compile plus 4 steps still did not finish in 8 minutes. The encoder's elementwise kernels are XLA-fused either way.
    """
    return bool(tf.config.list_physical_devices("GPU") or tf.config.list_physical_devices("TPU"))

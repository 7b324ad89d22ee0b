"""The one place the dtype policy is chosen; layers keep softmax and LayerNorm in float32 themselves."""

from __future__ import annotations

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


def default_jit_compile() -> bool:
    """XLA where it is faster: on GPUs always; on CPUs only in float32 (XLA's CPU bf16 matmuls skip oneDNN's AMX)."""
    if tf.config.list_physical_devices("GPU"):
        return True
    return current_policy() == "float32"

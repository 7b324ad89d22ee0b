"""Shared test fixtures: quiet TensorFlow, a fixed seed, and small random BERT inputs."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _seed_and_float32():
    """Each test starts from the same seed and the float32 policy, whatever an earlier test set."""
    keras.utils.set_random_seed(1234)
    keras.config.set_dtype_policy("float32")
    yield
    keras.config.set_dtype_policy("float32")


def random_backbone_inputs(vocab_size: int, batch_size: int = 3, seq_length: int = 12, seed: int = 0) -> dict:
    """Random token ids with a different amount of right padding per row and two segments."""
    rng = np.random.default_rng(seed)
    lengths = np.linspace(seq_length, seq_length // 2, batch_size).astype(int)
    positions = np.arange(seq_length)[None, :]
    padding_mask = (positions < lengths[:, None]).astype("int32")
    token_ids = rng.integers(5, vocab_size, size=(batch_size, seq_length)).astype("int32") * padding_mask
    segment_ids = ((positions >= (lengths[:, None] // 2)) * padding_mask).astype("int32")
    return {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask}

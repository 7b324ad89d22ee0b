"""Importing trained BERT weights from Google, Hugging Face and keras-hub checkpoints into kbert models."""

from __future__ import annotations

import os
from pathlib import Path

import keras

from kbert.convert.google import load_google_checkpoint
from kbert.convert.huggingface import load_huggingface
from kbert.convert.keras_hub import load_keras_hub_preset


def load_checkpoint(path: str | os.PathLike) -> tuple[keras.Model, list[str]]:
    """Loads whichever kind of BERT checkpoint `path` is; returns the kbert model and the vocabulary.

    A directory with `model.weights.h5` is a keras-hub preset, one with `config.json` a Hugging Face checkpoint;
    anything else (a directory with `bert_config.json`, or a checkpoint prefix) is read as Google's format.
    """
    path = Path(path)
    if (path / "model.weights.h5").is_file():
        return load_keras_hub_preset(path)
    if (path / "config.json").is_file():
        return load_huggingface(path)
    return load_google_checkpoint(path)

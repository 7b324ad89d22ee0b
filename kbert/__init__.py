"""kbert: BERT built the Keras 3 / TensorFlow way — pretrain, fine-tune, export, explore."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def __getattr__(name: str):
    """`kbert.pipeline(task, model_dir)` without importing TensorFlow when `kbert` itself is imported."""
    if name == "pipeline":
        import importlib

        return importlib.import_module("kbert.pipeline")
    raise AttributeError(f"module 'kbert' has no attribute {name!r}")

"""Training checkpoints: the model, optimiser and step, saved every N steps, the last K kept, resumed from the latest.

TensorFlow writes a checkpoint's data and index files first and only then rewrites the `checkpoint` file that
names the latest one (atomically, by renaming a temporary file), so a run killed mid-save resumes from the
previous complete checkpoint.
"""

from __future__ import annotations

import glob
import os
import shutil

import keras
import tensorflow as tf


class RunCheckpoints:
    """Saves and restores `step` plus the trackable `objects` (models, optimiser) of one training run.

    `directory` is where checkpoints are read from; `write_directory` is where this worker writes (the same on the
    chief, a private temporary folder on other workers: see `strategy.writable_dir`).
    """

    def __init__(self, directory: str, write_directory: str, step: tf.Variable, keep: int = 3, **objects):
        self.directory = directory
        self.step = step
        self.checkpoint = tf.train.Checkpoint(step=step, **objects)
        self.manager = tf.train.CheckpointManager(self.checkpoint, write_directory, max_to_keep=keep,
                                                  step_counter=step)

    @property
    def latest(self) -> str | None:
        """The prefix of the newest complete checkpoint in `directory`, or None."""
        return tf.train.latest_checkpoint(self.directory)

    def restore(self) -> int:
        """Loads the newest checkpoint if there is one; returns the step it was taken at (0 for a fresh run).

        Removes the temporary folder of a save that was cut short (it is never named as the latest)."""
        for partial in glob.glob(os.path.join(self.manager.directory, "ckpt-*_temp")):
            shutil.rmtree(partial, ignore_errors=True)
        path = self.latest
        if path is None:
            return 0
        self.checkpoint.restore(path).assert_existing_objects_matched()
        return int(self.step.numpy())

    def save(self) -> str:
        """Writes a checkpoint numbered by the current step; returns its prefix."""
        return self.manager.save(checkpoint_number=self.step)


def resolve_checkpoint(path: str | os.PathLike) -> str:
    """A checkpoint prefix from `path`: a run directory (its newest checkpoint) or a prefix such as `.../ckpt-500`."""
    path = os.fspath(path)
    if os.path.isdir(path):
        latest = tf.train.latest_checkpoint(path)
        if latest is None:
            raise FileNotFoundError(f"{path} holds no checkpoint (no 'checkpoint' file naming one); "
                                    "pass a training run's directory or a checkpoint prefix such as run/ckpt-500.")
        return latest
    if not tf.io.gfile.exists(path + ".index"):
        raise FileNotFoundError(f"No checkpoint at {path} (no {path}.index); pass a training run's directory "
                                "or a checkpoint prefix such as run/ckpt-500.")
    return path


def load_backbone_weights(backbone: keras.Model, path: str | os.PathLike) -> str:
    """Fills `backbone` with the backbone weights of a kbert training checkpoint (pretraining or fine-tuning);
    returns the prefix read. Fails if any backbone variable is missing from the checkpoint."""
    prefix = resolve_checkpoint(path)
    status = tf.train.Checkpoint(backbone=backbone).read(prefix)
    try:
        status.assert_existing_objects_matched()
    except AssertionError as error:
        raise ValueError(f"{prefix} does not hold this backbone's weights (a different config, or not a kbert "
                         f"training checkpoint): {str(error)[:300]}") from None
    status.expect_partial()
    return prefix


def restore_model(model: keras.Model, run_dir: str | os.PathLike) -> str:
    """Loads the `model` entry of a run's newest checkpoint into `model` (for evaluation or export); returns the
    prefix read. Fails if any of the model's variables is missing from it."""
    prefix = resolve_checkpoint(run_dir)
    status = tf.train.Checkpoint(model=model).read(prefix)
    status.assert_existing_objects_matched()
    status.expect_partial()
    return prefix

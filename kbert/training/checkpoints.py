"""Training checkpoints: the model, optimiser and step, saved every N steps, the last K kept, resumed from the newest
one that reads back whole.

TensorFlow writes a checkpoint's data file and then its index (each by a rename), and only then rewrites the
`checkpoint` file that names the latest one. Every tensor carries a CRC32C in the index, so reading a checkpoint
back verifies it: each one is read back when written, and a start looks for the newest intact one itself (not
trusting the `checkpoint` file), so a deleted, truncated or corrupt checkpoint costs the steps since the one before.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import sys

import keras
import tensorflow as tf

STATE_FILE = "checkpoint"  # TensorFlow's record of the checkpoints a run kept, newest last
_INDEX = re.compile(r"-(\d+)\.index$")


class CheckpointError(ValueError):
    """A checkpoint that cannot be used (missing or damaged files), or a run directory with none intact left; the
    message names the files."""


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
        self.latest: str | None = None  # the newest checkpoint in `directory` this run restored or wrote

    def restore(self) -> int:
        """Loads the newest intact checkpoint if there is one; returns the step it was taken at (0 for a new run).

        Removes the temporary folder of a save that was cut short. Raises CheckpointError when the directory held
        checkpoints but none is intact: such a run is never started over from step 0 unasked."""
        for partial in glob.glob(os.path.join(self.manager.directory, "ckpt-*_temp")):
            shutil.rmtree(partial, ignore_errors=True)
        self.latest = newest_intact_checkpoint(self.directory)
        if self.latest is None:
            return 0
        self.checkpoint.restore(self.latest).assert_existing_objects_matched()
        return int(self.step.numpy())

    def save(self) -> str:
        """Writes a checkpoint numbered by the current step and reads it back; returns its prefix."""
        prefix = self.manager.save(checkpoint_number=self.step)
        try:
            verify_checkpoint(prefix)
        except CheckpointError as error:
            raise CheckpointError(f"the checkpoint just written does not read back whole: {error}. Is the disk full "
                                  "or failing? The older checkpoints are kept: fix the disk and rerun to resume."
                                  ) from None
        self.latest = os.path.join(self.directory, os.path.basename(prefix))
        return prefix


def verify_checkpoint(prefix: str) -> None:
    """Reads every tensor of the checkpoint at `prefix`, which checks each against its CRC32C; raises
    CheckpointError naming the missing or damaged file."""
    index = prefix + ".index"
    if not tf.io.gfile.exists(index):
        raise CheckpointError(f"{index} is missing")
    try:
        reader = tf.train.load_checkpoint(prefix)
    except (tf.errors.OpError, ValueError, RuntimeError) as error:
        raise CheckpointError(f"{index} is damaged ({first_line(error)})") from None
    try:
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except (tf.errors.OpError, IndexError, ValueError, RuntimeError) as error:
        data = sorted(glob.glob(glob.escape(prefix) + ".data-*")) or [prefix + ".data-00000-of-00001"]
        raise CheckpointError(f"{', '.join(data)} {'is' if len(data) == 1 else 'are'} missing or damaged "
                              f"({first_line(error)})") from None


def first_line(error: BaseException) -> str:
    """An error's first line (at most 300 characters), for messages that name a file."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:300]


def checkpoint_prefixes(directory: str) -> list[str]:
    """The checkpoints of `directory`, the highest step first: every complete one (TensorFlow writes the index
    last) and those the `checkpoint` file names, whether or not their files are still there."""
    prefixes = {path[:-len(".index")] for path in glob.glob(os.path.join(glob.escape(directory), "*.index"))}
    prefixes.update(os.path.join(directory, os.path.basename(path)) for path in _named_in_state_file(directory))
    return sorted(prefixes, key=checkpoint_step, reverse=True)


def _named_in_state_file(directory: str) -> list[str]:
    if not os.path.exists(os.path.join(directory, STATE_FILE)):
        return []
    try:
        state = tf.train.get_checkpoint_state(directory)
    except Exception:  # noqa: BLE001  (an unreadable state file names nothing; the index files still count)
        return []
    return list(state.all_model_checkpoint_paths) if state else []


def checkpoint_step(prefix: str) -> int:
    """The step in a checkpoint prefix such as `run/ckpt-500`, or -1 where it names none."""
    match = _INDEX.search(prefix + ".index")
    return int(match.group(1)) if match else -1


def holds_checkpoints(directory: str) -> bool:
    """Whether a run in `directory` has written a checkpoint (intact or not): from then on it is resumed, never
    started over, and its settings, vocabulary and labels are fixed."""
    return os.path.exists(os.path.join(directory, STATE_FILE)) or bool(checkpoint_prefixes(directory))


def newest_intact_checkpoint(directory: str) -> str | None:
    """The prefix of the newest checkpoint in `directory` that reads back whole, saying on stderr which newer ones
    were skipped and why; None when the directory never held one.

    Raises CheckpointError when it held some but none is intact."""
    skipped = []
    for prefix in checkpoint_prefixes(directory):
        try:
            verify_checkpoint(prefix)
        except CheckpointError as error:
            skipped.append(str(error))
            continue
        for reason in skipped:
            print(f"note: skipping a damaged checkpoint: {reason}", file=sys.stderr)
        if skipped:
            print(f"note: using {prefix}, the newest intact checkpoint", file=sys.stderr)
        return prefix
    if holds_checkpoints(directory):
        raise CheckpointError(
            f"{directory} held checkpoints, but none is intact: {'; '.join(skipped) or 'their files are gone'}. "
            f"Nothing can be resumed, evaluated or exported from it; to train again from step 0, delete {directory} "
            "or choose another --output-dir.")
    return None


def resolve_checkpoint(path: str | os.PathLike) -> str:
    """A verified checkpoint prefix from `path`: a run directory (its newest intact checkpoint) or a prefix such as
    `.../ckpt-500` (which must itself be intact)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        prefix = newest_intact_checkpoint(path)
        if prefix is None:
            raise FileNotFoundError(f"{path} holds no checkpoint (no ckpt-N.index file); pass a training run's "
                                    "directory or a checkpoint prefix such as run/ckpt-500.")
        return prefix
    if not tf.io.gfile.exists(path + ".index"):
        raise FileNotFoundError(f"No checkpoint at {path} (no {path}.index); pass a training run's directory "
                                "or a checkpoint prefix such as run/ckpt-500.")
    verify_checkpoint(path)
    return path


def load_backbone_weights(backbone: keras.Model, path: str | os.PathLike) -> str:
    """Fills `backbone` with the backbone weights of a kbert training checkpoint (pretraining or fine-tuning);
    returns the prefix read. Fails if any backbone variable is missing from the checkpoint."""
    prefix = resolve_checkpoint(path)
    status = _read(tf.train.Checkpoint(backbone=backbone), prefix, "the backbone of bert_config.json")
    try:
        status.assert_existing_objects_matched()
    except AssertionError as error:
        raise ValueError(f"{prefix} does not hold this backbone's weights (a different config, or not a kbert "
                         f"training checkpoint): {str(error)[:300]}") from None
    status.expect_partial()
    return prefix


def restore_model(model: keras.Model, run_dir: str | os.PathLike) -> str:
    """Loads the `model` entry of a run's newest intact checkpoint (or of the checkpoint at a prefix) into `model`
    (for evaluation, export or a run continuing it); returns the prefix read. Fails if any of the model's
    variables is missing from it or has another shape."""
    prefix = resolve_checkpoint(run_dir)
    status = _read(tf.train.Checkpoint(model=model), prefix, f"the files of {run_dir}")
    status.assert_existing_objects_matched()
    status.expect_partial()
    return prefix


def _read(checkpoint: tf.train.Checkpoint, prefix: str, built_from: str):
    """`checkpoint.read(prefix)`, with a shape mismatch (an edited bert_config.json or labels.json) told plainly."""
    try:
        return checkpoint.read(prefix)
    except (ValueError, tf.errors.InvalidArgumentError) as error:
        raise ValueError(f"{prefix} does not fit the model built from {built_from} ({first_line(error)}); was "
                         "bert_config.json or labels.json edited after training? Restore them as the run wrote "
                         "them.") from None

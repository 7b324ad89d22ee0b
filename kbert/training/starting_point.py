"""Where a run's weights start: a kbert training run (its newest intact checkpoint, or a named one) or a model that
kbert exported (`saved_models/<name>[/<version>]`, such as the shipped zh-mini). Each brings its weights,
bert_config.json, vocab.txt and the way its text was tokenized."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import keras
import tensorflow as tf

from kbert.model_card import CONFIG_FILE, SAVED_MODEL_FILE, VOCAB_FILE, version_dirs
from kbert.training.checkpoints import first_line, load_backbone_weights, resolve_checkpoint, restore_model
from kbert.training.run_config import load_saved_settings

_EXPORT_VARIABLES = os.path.join("variables", "variables")  # the checkpoint prefix inside a SavedModel


@dataclasses.dataclass(frozen=True)
class StartingPoint:
    """A run's starting weights: `path` is what settings.json records (a checkpoint prefix or an export's
    version directory); bert_config.json and vocab.txt lie in `directory`."""

    path: str
    directory: str
    lowercase: bool | None  # None where the source does not say
    fold_full_width: bool
    exported: bool
    model_type: str | None = None  # an export's kbert.json model_type ("pretrainer", "classifier", ...)

    @property
    def config_file(self) -> str:
        return os.path.join(self.directory, CONFIG_FILE)

    @property
    def vocab_file(self) -> str:
        return os.path.join(self.directory, VOCAB_FILE)

    def load_backbone(self, backbone: keras.Model) -> None:
        """Fills `backbone` with the starting weights; fails, naming the source, if any backbone weight is
        missing there or has another shape."""
        if not self.exported:
            load_backbone_weights(backbone, self.path)
            return
        # An export's root object keeps the model as `model`, and every kbert model its backbone as `backbone`.
        self._read_export(tf.train.Checkpoint(model=tf.train.Checkpoint(backbone=backbone)), "the backbone")

    def load_model(self, model: keras.Model) -> None:
        """Fills the whole of `model` (backbone and heads) with the starting weights, which must be of a model
        built as `model` is; fails, naming the source, otherwise."""
        if not self.exported:
            restore_model(model, self.path)
            return
        self._read_export(tf.train.Checkpoint(model=model), "the model")

    def _read_export(self, checkpoint: tf.train.Checkpoint, what: str) -> None:
        prefix = os.path.join(self.path, _EXPORT_VARIABLES)
        try:
            status = checkpoint.read(prefix)
        except (ValueError, IndexError, RuntimeError, tf.errors.OpError) as error:
            if not isinstance(error, (ValueError, tf.errors.InvalidArgumentError)):  # unreadable, not a misfit
                raise ValueError(f"{prefix} (the weights of {self.path}) is damaged ({first_line(error)}); "
                                 "export the model again.") from None
            raise self._misfit(error, what) from None
        status.expect_partial()  # the export's signatures and other heads are not asked for: no warnings about them
        try:
            status.assert_existing_objects_matched()
        except AssertionError as error:
            raise self._misfit(error, what) from None

    def _misfit(self, error: BaseException, what: str) -> ValueError:
        return ValueError(f"{self.path} does not hold the weights of {what} in {self.config_file} "
                          f"({first_line(error)}); export the model again.")


def starting_point(path: str | os.PathLike) -> StartingPoint:
    """The starting point at `path`: an export (a version directory, or a model directory whose newest version is
    taken), a training run directory, or a checkpoint prefix in one."""
    path = os.fspath(path)
    if _is_export(Path(path)):
        from kbert.pipeline import ModelLoadError, read_export, resolve_model_dir  # the inference side's checks

        try:
            export = resolve_model_dir(path)
            metadata = read_export(export)
        except ModelLoadError as error:
            raise ValueError(str(error)) from None
        return StartingPoint(str(export), str(export), metadata["lowercase"],
                             bool(metadata.get("fold_full_width", False)), exported=True,
                             model_type=metadata["model_type"])
    try:
        prefix = resolve_checkpoint(path)
    except FileNotFoundError as error:
        raise FileNotFoundError(f"{error} An exported model, such as saved_models/zh-mini, works too.") from None
    run_dir = os.path.dirname(prefix)
    saved = load_saved_settings(run_dir)
    lowercase = saved["settings"].get("lowercase", True) if saved else None
    fold_full_width = bool(saved and saved["resolved"].get("fold_full_width", False))
    return StartingPoint(prefix, run_dir, lowercase, fold_full_width, exported=False)


def _is_export(path: Path) -> bool:
    """Whether `path` is an export's version directory, or a model directory of numbered versions."""
    return (path / SAVED_MODEL_FILE).is_file() or bool(version_dirs(path))

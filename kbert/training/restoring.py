"""A run read back from its directory, the one way every job evaluates and exports a run: its settings, tokenizer
and model at the newest intact checkpoint, under the run's own dtype policy where asked."""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Iterator

import keras
import tensorflow as tf

from kbert import precision
from kbert.config import BertConfig
from kbert.model_card import LABELS_FILE
from kbert.text.tokenizer import BertTokenizer
from kbert.training.checkpoints import restore_model
from kbert.training.run_config import TrainingSettings, read_run_settings, settings_from
from kbert.training.run_files import read_label_names, read_model_files


@dataclasses.dataclass(frozen=True)
class RestoredRun:
    """A run's model at checkpoint `prefix`, its tokenizer and settings, and (for a classifier) its label names."""

    model: keras.Model
    tokenizer: BertTokenizer
    settings: TrainingSettings
    prefix: str
    label_names: list[str] | None


def restore_run(run_dir: str, job_name: str, settings_class: type[TrainingSettings],
                build_model: Callable[[BertConfig, TrainingSettings, list[str] | None], keras.Model],
                strategy: tf.distribute.Strategy | None = None) -> RestoredRun:
    """The `job_name` run in `run_dir`, its model built by `build_model(config, settings, label_names)` in
    `strategy`'s scope under the current dtype policy, then restored from its newest intact checkpoint."""
    saved = read_run_settings(run_dir, job_name)
    settings = settings_from(settings_class, saved["settings"], os.path.join(run_dir, "settings.json"))
    config, vocab = read_model_files(run_dir)
    # A fine-tuning run resolves its lower-casing from its starting point; runs from before fold_full_width
    # existed tokenized without it.
    lowercase = saved["resolved"].get("lowercase", settings.lowercase)
    tokenizer = BertTokenizer(vocab, lowercase=lowercase, fold_full_width=saved["resolved"].get("fold_full_width",
                                                                                                 False))
    names = read_label_names(run_dir) if os.path.exists(os.path.join(run_dir, LABELS_FILE)) else None
    with (strategy or tf.distribute.get_strategy()).scope():
        model = build_model(config, settings, names)
    return RestoredRun(model, tokenizer, settings, restore_model(model, run_dir), names)


@contextlib.contextmanager
def run_precision(run_dir: str, job_name: str) -> Iterator[None]:
    """The dtype policy that the `job_name` run in `run_dir` trained under, for the block (evaluate as it trained)."""
    with precision.policy(read_run_settings(run_dir, job_name)["resolved"]["precision"]):
        yield

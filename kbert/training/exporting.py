"""Exports a training run's newest checkpoint through its job (`kbert.training.jobs`), with a model card made of the
run's settings, held-out figures and the run it started from."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from kbert.io import read_json
from kbert.model_card import METADATA_FILE
from kbert.training.checkpoints import checkpoint_step
from kbert.training.history import METRICS_FILE, read_records
from kbert.training.jobs import Job, job_of_run
from kbert.training.progress import format_duration
from kbert.training.run_config import RESUMABLE_CHANGES, load_saved_settings
from kbert.training.runtime import EVAL_FILE

DEFAULT_MODELS_DIR = "saved_models"  # where the app (ui/) looks for models


def export_run(run_dir: str, models_dir: str = DEFAULT_MODELS_DIR, name: str | None = None) -> Path:
    """Exports the run in `run_dir` (of any registered job) as the next version of `models_dir/name` (default
    name: the run directory's); returns the version directory."""
    job, saved = job_of_run(run_dir)
    name = name or os.path.basename(os.path.normpath(run_dir))
    return job.export_run(run_dir, models_dir, name, _model_card(run_dir, saved, job))


def _model_card(run_dir: str, saved: dict, job: Job, until_step: int | None = None) -> dict:
    """What the model card says about the run: its data, how long and on what it trained, its held-out figures, the
    command that started it, every setting that shaped it (the main job's command names none), and the run it
    started from; with `until_step`, its length and time up to that step's checkpoint (a run handed over
    mid-schedule)."""
    settings, resolved = saved["settings"], saved["resolved"]
    steps = resolved.get("steps")
    if steps and until_step:
        steps = min(steps, until_step)
    card = {"data": job.describe_data(settings), "steps": steps}
    if steps:
        examples = steps * settings["batch_size"]
        card["examples_seen"] = examples
        card["tokens_seen"] = f"{examples * settings['seq_length']:,} (steps x batch x seq_length, padding included)"
    records = read_records(os.path.join(run_dir, METRICS_FILE))
    if until_step:
        records = [record for record in records if record["step"] <= until_step]
    seconds = training_seconds(records, settings["batch_size"])
    if seconds:
        card["training_time"] = f"{format_duration(seconds)} ({seconds:.0f} s of training steps, evaluations excluded)"
    for key in ("hardware", "precision"):
        if key in resolved:
            card[key] = resolved[key]
    card["command"] = resolved.get("command") or " ".join(sys.argv) or "train.py"
    start = resolved.get("init_checkpoint")
    left_out = (_NOT_RECIPE | (_FROM_THE_CHECKPOINT if start else set())
                | (set() if settings.get("train_file") else _FILE_COLUMNS))
    card["settings"] = {key: value for key, value in settings.items() if key not in left_out and value is not None}
    if start:
        card["started_from"] = _earlier_run(start)
    evaluation = os.path.join(run_dir, EVAL_FILE)
    if os.path.exists(evaluation):
        card["metrics"] = read_json(evaluation)
    return card


# Settings that say where files go or how a run is kept, not how the model trained: left out of the card's settings
# (the data, the starting checkpoint and the resolved precision have their own entries).
_NOT_RECIPE = RESUMABLE_CHANGES | {"data_dir", "corpus", "train_file", "eval_file", "init_checkpoint", "precision"}
# Settings that name the columns of a labelled file: nothing to say where the run read the embedded demo instead.
_FILE_COLUMNS = {"text_column", "text_pair_column", "label_column"}
# Settings that a run started from a checkpoint does not use: the model and vocabulary come with the checkpoint.
_FROM_THE_CHECKPOINT = {"preset", "bert_config", "vocab", "vocab_size"}

# What a card repeats of the card of the run (or exported model) that its run started from.
_CARRIED = ("data", "steps", "tokens_seen", "training_time", "command", "settings", "started_from")


def _earlier_run(prefix: str) -> dict:
    """What the card says about the run whose checkpoint this one started from: the checkpoint (or exported
    model), and while that run's directory is still there (or from the export's metadata), its data, length and
    command; its length and time are the checkpoint's, where that came before the run's end."""
    metadata = os.path.join(prefix, METADATA_FILE)
    if os.path.isfile(metadata):  # an exported model: its own card says how it was made
        card = read_json(metadata).get("model_card", {})
        return {"model": prefix, **{key: card[key] for key in _CARRIED if key in card}}
    run_dir = os.path.dirname(prefix)
    if load_saved_settings(run_dir) is None:
        return {"checkpoint": prefix}
    job, saved = job_of_run(run_dir)
    step = checkpoint_step(prefix)
    card = _model_card(run_dir, saved, job, step if step >= 0 else None)
    return {"checkpoint": prefix, **{key: card[key] for key in _CARRIED if key in card}}


def training_seconds(records: list[dict], batch_size: int) -> float:
    """Seconds spent in training steps, from the run's logged windows (examples / examples_per_second), summed over
    every start of a resumed run; evaluations are not counted."""
    seconds, previous = 0.0, 0
    for record in records:
        if record["split"] == "train" and record.get("examples_per_second"):
            seconds += (record["step"] - previous) * batch_size / record["examples_per_second"]
            previous = record["step"]
    return seconds

"""The kinds of training job, registered by name. `train.py` makes one subcommand per job, and evaluation and export
find a run's job from the name its `settings.json` records, so a new kind of job is one module and one `register`.

A job's module provides a function of the job's name, `<name>(settings, strategy=None) -> JobResult` (train or
resume, then evaluate),
`evaluate_run(run_dir, eval_file=None, strategy=None) -> dict`, `export_run(run_dir, models_dir, name, model_card)
-> Path` and `describe_data(settings) -> str` (the model card's line on what it trained on). Nothing here loads
TensorFlow: the module is imported when the job is used.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from pathlib import Path
from types import ModuleType
from typing import Any

from kbert.training.run_config import FinetuneSettings, PretrainSettings, TrainingSettings, load_saved_settings


@dataclasses.dataclass(frozen=True)
class Job:
    """A kind of training run: its name (the `train.py` subcommand, and the `task` in its runs' settings.json), a
    line of help, its settings class, the settings field given as the positional argument, and its module."""

    name: str
    help: str
    settings: type[TrainingSettings]
    positional: str
    module: str

    def implementation(self) -> ModuleType:
        """The job's module (see the module docstring for what it provides)."""
        return importlib.import_module(self.module)

    def run(self, settings: TrainingSettings, strategy: Any = None):
        return getattr(self.implementation(), self.name)(settings, strategy)

    def evaluate_run(self, run_dir: str, eval_file: str | None = None) -> dict:
        return self.implementation().evaluate_run(run_dir, eval_file)

    def export_run(self, run_dir: str, models_dir: str | os.PathLike, name: str, model_card: dict) -> Path:
        return self.implementation().export_run(run_dir, models_dir, name, model_card)

    def describe_data(self, settings: dict) -> str:
        return self.implementation().describe_data(settings)


JOBS: dict[str, Job] = {}


def register(job: Job) -> Job:
    """Adds `job` to JOBS under its name (a name may be registered once)."""
    if job.name in JOBS:
        raise ValueError(f"a job named {job.name!r} is registered already")
    JOBS[job.name] = job
    return job


def job_of_run(run_dir: str | os.PathLike) -> tuple[Job, dict]:
    """The job that wrote the run in `run_dir`, and the run's settings.json."""
    saved = load_saved_settings(run_dir)
    if saved is None:
        raise FileNotFoundError(f"{run_dir} has no settings.json: pass a run directory written by train.py.")
    name = saved.get("task")
    if name not in JOBS:
        raise ValueError(f"{os.path.join(run_dir, 'settings.json')}: task is {name!r}; known jobs: "
                         f"{', '.join(JOBS)}")
    return JOBS[name], saved


register(Job("pretrain", "pretrain BERT (masked LM + next sentence) on a corpus", PretrainSettings, "corpus",
             "kbert.training.pretraining"))
register(Job("finetune", "fine-tune a classifier on labelled texts", FinetuneSettings, "train_file",
             "kbert.training.finetuning"))

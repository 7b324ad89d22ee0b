"""The job registry: a job registered by name gets its `train.py` subcommand with its settings as options, and
evaluation and export find it from the name its runs record; nothing else in the code names the job."""

import dataclasses
import json
import sys
import types

import pytest

import train
from kbert.training import jobs
from kbert.training.jobs import JOBS, Job, job_of_run
from kbert.training.run_config import TrainingSettings, save_settings


@dataclasses.dataclass
class CountSettings(TrainingSettings):
    """A toy job's settings: a text file whose words it counts."""

    text_file: str | None = dataclasses.field(default=None, metadata={"help": "text file to count the words of"})
    steps: int | None = dataclasses.field(default=1, metadata={"help": "passes"})

    def check(self, fail):
        if self.text_file and not self.text_file.endswith(".txt"):
            fail("text_file", "give a .txt file")


def _toy_module(calls: list) -> types.ModuleType:
    module = types.ModuleType("toy_count_job")

    def count(settings, strategy=None):
        with open(settings.text_file, encoding="utf-8") as file:
            words = len(file.read().split())
        save_settings(settings, "count", {"words": words})
        calls.append(("count", settings.steps))
        from kbert.training.runtime import JobResult

        return JobResult(settings.output_dir, settings.steps, 0.0, {}, {"words": words}, {})

    def evaluate_run(run_dir, eval_file=None, strategy=None):
        calls.append(("evaluate", run_dir))
        return {"words": job_of_run(run_dir)[1]["resolved"]["words"]}

    module.count, module.evaluate_run = count, evaluate_run
    return module


def test_a_registered_job_is_a_subcommand_with_its_settings_and_its_runs_are_evaluated_by_it(
        monkeypatch, tmp_path, capsys):
    calls = []
    monkeypatch.setitem(sys.modules, "toy_count_job", _toy_module(calls))
    monkeypatch.setitem(JOBS, "count", Job("count", "count the words of a text", CountSettings, "text_file",
                                           "toy_count_job"))
    (tmp_path / "words.txt").write_text("one two three\nfour\n")
    run = tmp_path / "run"
    assert train.main(["count", str(tmp_path / "words.txt"), "--steps", "2", "--output-dir", str(run)]) == 0
    assert json.loads(capsys.readouterr().out)["evaluation"] == {"words": 4}
    assert train.main(["evaluate", str(run)]) == 0
    assert json.loads(capsys.readouterr().out) == {"words": 4}
    assert calls == [("count", 2), ("evaluate", str(run))]
    assert train.main(["count", str(tmp_path / "words.csv"), "--output-dir", str(run)]) == 2
    assert "text_file = " in capsys.readouterr().err  # the job's own check, named by field


def test_the_two_jobs_are_registered_and_a_name_is_registered_once():
    assert list(JOBS) == ["pretrain", "finetune"]
    assert JOBS["pretrain"].positional == "corpus" and JOBS["finetune"].positional == "train_file"
    with pytest.raises(ValueError, match="a job named 'pretrain' is registered already"):
        jobs.register(JOBS["pretrain"])


def test_a_run_of_an_unknown_job_or_without_settings_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="has no settings.json: pass a run directory written by train.py"):
        job_of_run(tmp_path)
    (tmp_path / "settings.json").write_text(json.dumps({"task": "distil", "settings": {}, "resolved": {}}))
    with pytest.raises(ValueError, match=r"settings.json: task is 'distil'; known jobs: pretrain, finetune"):
        job_of_run(tmp_path)

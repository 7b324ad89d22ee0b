"""A resumed run logs what an uninterrupted one logs: TensorBoard events without overlapping steps, metrics windows
that close at the same steps, and the evaluation of the step it resumed at even if the stop came before it."""

import glob
import json
import os

import tensorflow as tf
from tensorflow.core.util import event_pb2

from tests.training_support import run

TIMING = "examples_per_second"


def _scalars(run_dir):
    """(split, tag, step) of every TensorBoard scalar of the run, with its value, in file order."""
    found = []
    for path in sorted(glob.glob(os.path.join(run_dir, "logs", "*", "*tfevents*"))):
        split = os.path.basename(os.path.dirname(path))
        for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
            event = event_pb2.Event.FromString(record)
            found += [((split, value.tag, event.step), float(tf.make_ndarray(value.tensor)))
                      for value in event.summary.value if value.tag != TIMING]
    return found


def _records(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl")) as file:
        return [{k: v for k, v in json.loads(line).items() if k != TIMING} for line in file]


def _lose_newest_checkpoint(run_dir, step):
    for path in glob.glob(os.path.join(run_dir, f"ckpt-{step}.*")):
        os.remove(path)


def test_a_resumed_run_leaves_no_overlapping_tensorboard_steps(tmp_path):
    reference, resumed = str(tmp_path / "reference"), str(tmp_path / "resumed")
    run(reference, steps=6, checkpoint_every=2)
    run(resumed, steps=6, checkpoint_every=2)
    _lose_newest_checkpoint(resumed, 6)  # as if killed after logging steps 5 and 6 but before saving step 6
    run(resumed, steps=6, checkpoint_every=2)
    keys = [key for key, _ in _scalars(resumed)]
    assert len(keys) == len(set(keys)), "a step appears twice"
    assert sorted(_scalars(resumed)) == sorted(_scalars(reference))


def test_log_windows_close_at_checkpoints_so_a_resumed_run_logs_the_same_records(tmp_path):
    reference, resumed = str(tmp_path / "reference"), str(tmp_path / "resumed")
    options = dict(steps=6, checkpoint_every=3, log_every=4)
    run(reference, **options)
    assert [r["step"] for r in _records(reference)] == [3, 4, 6]
    run(resumed, **options)
    _lose_newest_checkpoint(resumed, 6)  # resumes from step 3, mid-way through a log window of 4
    run(resumed, **options)
    assert _records(resumed) == _records(reference)


def test_a_run_stopped_before_logging_an_evaluation_evaluates_on_resuming(tmp_path):
    reference, resumed = str(tmp_path / "reference"), str(tmp_path / "resumed")
    options = dict(steps=4, checkpoint_every=2, eval_every=2)
    run(reference, **options)
    assert [r["step"] for r in _records(reference) if r["split"] == "eval"] == [2, 4]
    run(resumed, **options)
    # As a kill between saving ckpt-2 and logging its evaluation leaves it: nothing after the checkpoint.
    _lose_newest_checkpoint(resumed, 4)
    path = os.path.join(resumed, "metrics.jsonl")
    kept = [r for r in map(json.loads, open(path)) if r["step"] < 2 or (r["step"] == 2 and r["split"] == "train")]
    assert [(r["step"], r["split"]) for r in kept] == [(1, "train"), (2, "train")]
    with open(path, "w") as file:
        file.writelines(json.dumps(r) + "\n" for r in kept)
    run(resumed, **options)
    assert _records(resumed) == _records(reference)

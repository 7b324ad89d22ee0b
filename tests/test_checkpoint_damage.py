"""A missing, truncated or corrupt newest checkpoint costs only the steps since the one before: training resumes
from the newest intact checkpoint (saying which and why), evaluation, export and fine-tuning read it, and a run
directory that held checkpoints is never started over from step 0 unasked. Checkpoints are read back when written."""

import glob
import json
import os
import re

import numpy as np
import pytest
import tensorflow as tf

import train
from kbert.training.checkpoints import CheckpointError, RunCheckpoints, resolve_checkpoint
from tests.run_support import copy_run, tiny_runs
from tests.training_support import run, tiny_pretrainer, train_records

STEPS, EVERY = 6, 2


def _tensors(prefix):
    """Every saved value (the object graph aside: it holds Keras' per-process layer names)."""
    reader = tf.train.load_checkpoint(prefix)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if name != "_CHECKPOINTABLE_OBJECT_GRAPH"}


def _assert_same_run(directory, reference):
    records, expected = train_records(directory), train_records(reference)
    assert [r["step"] for r in records] == list(range(1, STEPS + 1))
    for key in ("loss", "grad_norm", "learning_rate"):
        assert [r[key] for r in records] == [r[key] for r in expected], key
    found = _tensors(os.path.join(directory, f"ckpt-{STEPS}"))
    wanted = _tensors(os.path.join(reference, f"ckpt-{STEPS}"))
    assert found.keys() == wanted.keys()
    for name in wanted:
        np.testing.assert_array_equal(found[name], wanted[name], err_msg=name)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("reference"))
    run(directory, steps=STEPS, checkpoint_every=EVERY)
    return directory


@pytest.fixture
def trained(tmp_path):
    """A finished loop run with checkpoints at steps 2, 4 and 6."""
    directory = str(tmp_path / "run")
    run(directory, steps=STEPS, checkpoint_every=EVERY)
    return directory


def _first_progress_step(err: str) -> int:
    return int(re.search(r"train step (\d+)/", err).group(1))


def test_a_deleted_newest_checkpoint_resumes_from_the_one_before(trained, reference, capsys):
    for path in glob.glob(os.path.join(trained, f"ckpt-{STEPS}.*")):
        os.remove(path)
    capsys.readouterr()
    run(trained, steps=STEPS, checkpoint_every=EVERY)
    err = capsys.readouterr().err
    assert f"ckpt-{STEPS}.index is missing" in err
    assert f"using {trained}/ckpt-4, the newest intact checkpoint" in err
    assert _first_progress_step(err) == 5  # steps 1-4 were kept, not trained again
    _assert_same_run(trained, reference)


@pytest.mark.parametrize("damage, named", [
    (lambda prefix: os.truncate(prefix + ".data-00000-of-00001", 100_000), ".data-00000-of-00001 is missing or damaged "
                                                                          "(Read less bytes than requested)"),
    (lambda prefix: os.truncate(prefix + ".index", 200), ".index is damaged (not an sstable"),
])
def test_a_truncated_newest_checkpoint_resumes_from_the_one_before_and_names_the_file(trained, reference, capsys,
                                                                                      damage, named):
    damage(os.path.join(trained, f"ckpt-{STEPS}"))
    capsys.readouterr()
    run(trained, steps=STEPS, checkpoint_every=EVERY)
    err = capsys.readouterr().err
    assert f"note: skipping a damaged checkpoint: {trained}/ckpt-{STEPS}{named}" in err
    assert _first_progress_step(err) == 5
    _assert_same_run(trained, reference)


def test_a_corrupt_byte_is_caught_by_the_checksum(trained):
    data = os.path.join(trained, f"ckpt-{STEPS}.data-00000-of-00001")
    with open(data, "r+b") as file:
        file.seek(os.path.getsize(data) // 2)
        byte = file.read(1)
        file.seek(-1, os.SEEK_CUR)
        file.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(CheckpointError, match=re.escape(data) + r" is missing or damaged \(.*Checksum does not match"):
        resolve_checkpoint(os.path.join(trained, f"ckpt-{STEPS}"))  # a prefix asked for by name: no fallback
    assert resolve_checkpoint(trained).endswith("ckpt-4")


def test_a_run_whose_checkpoints_are_all_gone_is_not_restarted_from_scratch(trained):
    metrics = open(os.path.join(trained, "metrics.jsonl")).read()
    for path in glob.glob(os.path.join(trained, "ckpt-*")):
        os.remove(path)
    with pytest.raises(CheckpointError, match=f"{trained} held checkpoints, but none is intact: .*ckpt-6.index is "
                                              f"missing.*delete {trained} or choose another --output-dir"):
        run(trained, steps=STEPS, checkpoint_every=EVERY)
    assert open(os.path.join(trained, "metrics.jsonl")).read() == metrics  # nothing overwritten


def test_each_checkpoint_is_read_back_when_written(tmp_path, monkeypatch):
    model = tiny_pretrainer()
    step = tf.Variable(2, dtype=tf.int64)
    checkpoints = RunCheckpoints(str(tmp_path), str(tmp_path), step, model=model)
    save = tf.train.CheckpointManager.save

    def save_and_lose_the_tail(self, *args, **kwargs):  # what a full disk does to a write
        prefix = save(self, *args, **kwargs)
        os.truncate(prefix + ".data-00000-of-00001", 1000)
        return prefix

    monkeypatch.setattr(tf.train.CheckpointManager, "save", save_and_lose_the_tail)
    with pytest.raises(CheckpointError, match="the checkpoint just written does not read back whole: .*ckpt-2"):
        checkpoints.save()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return tiny_runs(tmp_path_factory.getbasetemp() / "tiny_runs")


@pytest.fixture
def damaged(runs, tmp_path):
    """A copy of the pretraining run whose newest checkpoint (ckpt-4) is truncated."""
    directory = copy_run(runs["pretrain"], tmp_path / "pretrain")
    os.truncate(directory / "ckpt-4.data-00000-of-00001", 100_000)
    return directory


def test_evaluate_reads_the_newest_intact_checkpoint(damaged, capsys):
    assert train.main(["evaluate", str(damaged)]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["checkpoint"] == str(damaged / "ckpt-2")
    assert f"skipping a damaged checkpoint: {damaged}/ckpt-4.data-00000-of-00001 is missing or damaged" in err


def test_export_reads_the_newest_intact_checkpoint(damaged, tmp_path, capsys):
    assert train.main(["export", str(damaged), "--models-dir", str(tmp_path / "models"), "--name", "lm"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "models" / "lm" / "1")
    exported = tf.train.load_checkpoint(str(tmp_path / "models" / "lm" / "1" / "variables" / "variables"))
    assert exported.get_variable_to_shape_map()


def test_fine_tuning_starts_from_the_newest_intact_checkpoint(damaged, runs, tmp_path, capsys):
    output = tmp_path / "finetune"
    root = runs["pretrain"].parent
    assert train.main(["finetune", str(root / "train.csv"), "--output-dir", str(output), "--init-checkpoint",
                       str(damaged), "--steps", "1", "--batch-size", "8", "--seq-length", "16"]) == 0
    saved = json.loads((output / "settings.json").read_text())
    assert saved["resolved"]["init_checkpoint"] == str(damaged / "ckpt-2")
    assert "ckpt-4.data-00000-of-00001 is missing or damaged" in capsys.readouterr().err

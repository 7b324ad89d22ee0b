"""Training under tf.distribute gives what one replica gives on the same data: two CPU replicas in one process
(MirroredStrategy) and two worker processes talking over 127.0.0.1 (MultiWorkerMirroredStrategy)."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from tests.training_support import run, synthetic_examples, train_records

SUPPORT = os.path.join(os.path.dirname(__file__), "training_support.py")
STEPS = 5
EXAMPLES = 8  # one global batch, seen at every step: the loss falls steadily, so the runs compared really move


@pytest.fixture(scope="module")
def one_replica(tmp_path_factory):
    """The per-step records of the reference run: one replica, the same global batch and data."""
    directory = str(tmp_path_factory.mktemp("one_replica"))
    run(directory, steps=STEPS, examples=synthetic_examples(EXAMPLES))
    return train_records(directory)


def _assert_same_trajectory(records, reference):
    assert [r["step"] for r in records] == [r["step"] for r in reference] == list(range(1, STEPS + 1))
    for key in ("loss", "mlm_accuracy", "nsp_accuracy", "grad_norm", "learning_rate"):
        np.testing.assert_allclose([r[key] for r in records], [r[key] for r in reference], rtol=2e-4, err_msg=key)
    assert reference[-1]["loss"] < reference[0]["loss"] - 0.1


def _worker(output_dir, *args, env=None):
    return subprocess.Popen([sys.executable, SUPPORT, output_dir, "--steps", str(STEPS), "--examples", str(EXAMPLES),
                             *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(process, timeout=240):
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        pytest.fail(f"worker did not finish in {timeout}s:\n{output[-3000:]}")
    assert process.returncode == 0, output[-3000:]


def test_two_mirrored_cpu_replicas_follow_the_one_replica_trajectory(tmp_path, one_replica):
    process = _worker(str(tmp_path), "--strategy", "mirrored")
    _finish(process)
    _assert_same_trajectory(train_records(str(tmp_path)), one_replica)


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_worker_processes_follow_the_one_replica_trajectory_and_only_the_chief_writes(tmp_path, one_replica):
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    chief_dir, other_dir = str(tmp_path / "chief"), str(tmp_path / "other")
    processes = []
    for index, directory in enumerate((chief_dir, other_dir)):
        config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        env = {**os.environ, "TF_CONFIG": json.dumps(config)}
        processes.append(_worker(directory, "--strategy", "multi_worker", env=env))
    for process in processes:
        _finish(process)
    _assert_same_trajectory(train_records(chief_dir), one_replica)
    assert os.path.exists(os.path.join(chief_dir, f"ckpt-{STEPS}.index"))
    assert not os.path.exists(other_dir) or not os.listdir(other_dir)  # worker 1 wrote only to a temporary folder

"""One run per directory: a second training process started in a run directory stops at once, naming the first; the
lock of a process killed with SIGKILL is stale and taken over. Real processes throughout."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

import train
from kbert.file_lock import FileLock, LockHeld
from tests.run_support import pretrain_argv, write_corpus
from tests.training_support import train_records

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOLD = ("import sys\nfrom kbert.file_lock import FileLock\nwith FileLock(sys.argv[1]):\n"
        "    print('held', flush=True)\n    sys.stdin.read()\n")


def _holder(path):
    """A process holding the lock at `path` until its stdin closes (then it releases it) or it is killed."""
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], cwd=ROOT, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "held\n"
    return process


def test_a_held_lock_names_its_holder_and_a_killed_holders_lock_is_free(tmp_path):
    path = tmp_path / "run.lock"
    holder = _holder(path)
    with pytest.raises(LockHeld) as refused:
        FileLock(path).acquire()
    assert refused.value.holder["pid"] == holder.pid and refused.value.holder["host"]
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert path.exists()  # a killed process leaves its lock file behind...
    with FileLock(path) as lock:  # ...but not its lock
        assert lock.previous["pid"] == holder.pid
        assert json.loads(path.read_text())["pid"] == os.getpid()
    assert not path.exists()  # released on exit


def test_a_lock_released_by_its_holder_is_gone_and_free(tmp_path):
    path = tmp_path / "run.lock"
    holder = _holder(path)
    holder.stdin.close()  # lets it release and exit
    assert holder.wait() == 0
    assert not path.exists()
    with FileLock(path) as lock:
        assert lock.previous is None and path.exists()


def _wait_for_lock_of(process, path, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if json.loads(path.read_text()).get("pid") == process.pid:
                return
        except (FileNotFoundError, json.JSONDecodeError):
            pass
        if process.poll() is not None:
            pytest.fail(f"the first run ended (status {process.returncode}) before taking its lock")
        time.sleep(0.05)  # a polling interval, not a wait for an outcome
    pytest.fail(f"the first run took no lock within {timeout}s")


def test_a_second_run_into_the_same_directory_stops_naming_the_first(tmp_path, capsys):
    write_corpus(tmp_path / "corpus.txt")
    output = tmp_path / "run"
    endless = pretrain_argv(tmp_path, output, "--steps", "100000", "--checkpoint-every", "100000")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    first = subprocess.Popen([sys.executable, "train.py", *endless], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        _wait_for_lock_of(first, output / "run.lock")
        second = subprocess.run([sys.executable, "train.py", *endless], cwd=ROOT, env=env, capture_output=True,
                                text=True, timeout=600)
        assert first.poll() is None, "the first run should still be running"
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert second.returncode == 2
    assert f"error: {output} is in use by another run: process {first.pid} on host" in second.stderr
    assert "Traceback" not in second.stderr

    # The first run was killed before its first checkpoint: its lock is stale, and the directory may start over,
    # even with other settings.
    assert train.main(pretrain_argv(tmp_path, output, "--steps", "3", "--log-every", "1")) == 0
    err = capsys.readouterr().err
    assert f"{output / 'run.lock'} was left by process {first.pid}" in err and "no longer running" in err
    assert "holds an earlier attempt that stopped before its first checkpoint" in err
    assert [r["step"] for r in train_records(str(output))] == [1, 2, 3]  # each step logged once
    assert not (output / "run.lock").exists()

"""A training process killed with SIGKILL and started again with the same command ends where an uninterrupted run
ends: same steps, same losses, same optimiser state, same weights."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from tests.training_support import train_records

SUPPORT = os.path.join(os.path.dirname(__file__), "training_support.py")
STEPS, EVERY = 150, 5
COMMAND = ["--steps", str(STEPS), "--checkpoint-every", str(EVERY), "--dropout", "0.1"]


def _train(output_dir):
    subprocess.run([sys.executable, SUPPORT, output_dir, *COMMAND], check=True, capture_output=True, timeout=300)


def _wait_for_first_checkpoint(process, output_dir, timeout=240):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if tf.train.latest_checkpoint(output_dir):
            return
        if process.poll() is not None:
            pytest.fail(f"training ended (status {process.returncode}) before writing a checkpoint")
        time.sleep(0.05)  # a polling interval, not a wait for an outcome
    pytest.fail(f"no checkpoint within {timeout}s")


def _checkpoint_values(output_dir):
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(output_dir))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if not name.startswith(("save_counter", "_CHECKPOINTABLE"))}


def test_a_run_killed_mid_training_resumes_to_the_uninterrupted_result(tmp_path):
    killed, uninterrupted = str(tmp_path / "killed"), str(tmp_path / "uninterrupted")
    process = subprocess.Popen([sys.executable, SUPPORT, killed, *COMMAND], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    _wait_for_first_checkpoint(process, killed)
    process.send_signal(signal.SIGKILL)
    process.wait()
    resumed_from = int(tf.train.latest_checkpoint(killed).rsplit("-", 1)[1])
    assert EVERY <= resumed_from < STEPS, "the kill came after the run had finished"

    _train(killed)
    _train(uninterrupted)

    records, reference = train_records(killed), train_records(uninterrupted)
    assert [r["step"] for r in records] == list(range(1, STEPS + 1))  # each step logged once, none lost
    for key in ("loss", "mlm_accuracy", "nsp_accuracy", "learning_rate", "grad_norm"):
        np.testing.assert_allclose([r[key] for r in records], [r[key] for r in reference], rtol=1e-5, err_msg=key)
    final, expected = _checkpoint_values(killed), _checkpoint_values(uninterrupted)
    assert final.keys() == expected.keys()
    iterations = [name for name in final if name.endswith("optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE")]
    assert iterations and all(final[name] == STEPS for name in iterations)
    assert final["step/.ATTRIBUTES/VARIABLE_VALUE"] == STEPS
    for name in final:
        np.testing.assert_allclose(final[name], expected[name], rtol=1e-5, atol=1e-7, err_msg=name)

"""Fault injection, the short version of bench/fault_injection.py: a training process killed with SIGKILL inside
a checkpoint write, then (rerun) inside a training step, and rerun once more, ends where an uninterrupted run ends:
every logged record and every checkpointed tensor the same."""

import json
import os
import random
import subprocess
import sys

import numpy as np
import tensorflow as tf

from tests.training_support import run, train_records

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUPPORT = os.path.join(ROOT, "tests", "training_support.py")
STEPS, EVERY = 8, 2


def _killed_run(tmp_path, output_dir, phase, occurrence, delay):
    """Runs training_support.py under bench/fault_injection.py's timer, which SIGKILLs it `delay` seconds into the
    `occurrence`-th `phase` (step or checkpoint) of this process."""
    plan, log = tmp_path / f"plan-{phase}.json", tmp_path / f"phases-{phase}.jsonl"
    plan.write_text(json.dumps({"phase": phase, "occurrence": occurrence, "delay": delay}))
    process = subprocess.run([sys.executable, "bench/fault_injection.py", "child", str(plan), str(log), SUPPORT,
                              output_dir, "--steps", str(STEPS), "--checkpoint-every", str(EVERY)],
                             cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert process.returncode == -9, f"not killed (status {process.returncode}):\n{process.stderr[-2000:]}"


def _untimed(records):
    return [{k: v for k, v in record.items() if k != "examples_per_second"} for record in records]


def _tensors(prefix):
    reader = tf.train.load_checkpoint(prefix)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if name != "_CHECKPOINTABLE_OBJECT_GRAPH"}


def test_kills_inside_a_checkpoint_write_and_a_step_leave_the_uninterrupted_result(tmp_path):
    rng = random.Random(15)
    reference, killed = str(tmp_path / "reference"), str(tmp_path / "killed")
    run(reference, steps=STEPS, checkpoint_every=EVERY)

    _killed_run(tmp_path, killed, "checkpoint", 2, rng.uniform(0, 0.02))  # while saving ckpt-4, mostly
    _killed_run(tmp_path, killed, "step", 2, rng.uniform(0, 0.01))  # the rerun, in its second step
    run(killed, steps=STEPS, checkpoint_every=EVERY)

    assert _untimed(train_records(killed)) == _untimed(train_records(reference))
    found, expected = _tensors(f"{killed}/ckpt-{STEPS}"), _tensors(f"{reference}/ckpt-{STEPS}")
    assert found.keys() == expected.keys()
    for name in expected:
        np.testing.assert_array_equal(found[name], expected[name], err_msg=name)

"""Fault injection: kills a tiny pretraining run with SIGKILL (what `kill -9` sends) at random moments -- inside a
training step, a checkpoint write, an evaluation or the export -- reruns the same command after each kill, and checks
that what the run leaves equals what an uninterrupted run leaves: the final checkpoint (every tensor), metrics.jsonl
(all but the timing field), eval.json, the TensorBoard scalars and the exported model.

    .venv/bin/python bench/fault_injection.py [--kills 20] [--seed 0] [--steps 40] [--work /tmp/kbert-faults]

Prints one line per kill and the figures: kills, kills that landed inside the phase they aimed at, runs that
finished after their reruns, mismatches. The moment of each kill is drawn uniformly within the first 80% of one
occurrence of its phase (the occurrence drawn among those of the uninterrupted run, and timed there). The process
kills itself from a timer thread, so the signal arrives while the phase's code runs; nothing in kbert knows it is
being tested.

`child` runs one command under the timer (tests/test_fault_injection.py uses it):

    .venv/bin/python bench/fault_injection.py child PLAN.json LOG.jsonl SCRIPT [ARGS...]
"""

from __future__ import annotations

import argparse
import collections
import functools
import glob
import json
import os
import random
import runpy
import shutil
import signal
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PHASES = ("step", "checkpoint", "evaluation", "export")
WORDS = ("river stone light garden window paper music winter coffee letter mountain silver engine market morning "
         "orange bridge travel doctor forest number animal office planet yellow").split()
TIMING_FIELDS = ("examples_per_second",)


def child(plan_path: str, log_path: str, script: str, args: list[str]) -> None:
    """Runs `script args` here with every step, checkpoint save, evaluation and export logged to `log_path` (enter
    and exit times); with a plan (`{"phase", "occurrence", "delay"}`), SIGKILLs itself `delay` seconds into that
    occurrence."""
    sys.path.insert(0, ROOT)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import kbert.export
    from kbert.training import checkpoints, loop

    plan = json.load(open(plan_path)) if plan_path != "-" else None
    log = open(log_path, "a", buffering=1)
    counts = collections.Counter()

    def timed(name, function):
        @functools.wraps(function)
        def run(*call_args, **kwargs):
            counts[name] += 1
            number = counts[name]
            log.write(json.dumps({"phase": name, "n": number, "event": "enter", "t": time.monotonic()}) + "\n")
            if plan and plan["phase"] == name and plan["occurrence"] == number:
                threading.Timer(plan["delay"], os.kill, (os.getpid(), signal.SIGKILL)).start()
            result = function(*call_args, **kwargs)
            log.write(json.dumps({"phase": name, "n": number, "event": "exit", "t": time.monotonic()}) + "\n")
            return result

        return run

    make_train_step = loop.make_train_step
    loop.make_train_step = lambda *a, **k: timed("step", make_train_step(*a, **k))
    checkpoints.RunCheckpoints.save = timed("checkpoint", checkpoints.RunCheckpoints.save)
    loop.Evaluator.__call__ = timed("evaluation", loop.Evaluator.__call__)
    kbert.export.export_model = timed("export", kbert.export.export_model)
    sys.argv = [script, *args]
    runpy.run_path(script, run_name="__main__")


def run_child(work: str, script: str, args: list[str], plan: dict | None = None) -> tuple[int, list[dict], str]:
    """Runs `child` in a process of its own; returns its exit status (-9 when killed), phase log and stderr tail."""
    log_path = os.path.join(work, f"phases-{time.monotonic_ns()}.jsonl")
    plan_path = "-"
    if plan:
        plan_path = log_path.replace(".jsonl", "-plan.json")
        with open(plan_path, "w") as file:
            json.dump(plan, file)
    process = subprocess.run([sys.executable, os.path.abspath(__file__), "child", plan_path, log_path, script, *args],
                             cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=1800)
    with open(log_path) as file:
        events = [json.loads(line) for line in file if line.endswith("\n")]
    return process.returncode, events, process.stderr[-2000:]


def durations(events: list[dict]) -> dict[str, list[float]]:
    """Seconds each occurrence of each phase took, by phase, in order."""
    entered, taken = {}, collections.defaultdict(list)
    for event in events:
        key = (event["phase"], event["n"])
        if event["event"] == "enter":
            entered[key] = event["t"]
        elif key in entered:
            taken[event["phase"]].append(event["t"] - entered[key])
    return taken


def landed_inside(events: list[dict], plan: dict) -> bool:
    """Whether the kill came before the planned occurrence had finished."""
    return not any(e["phase"] == plan["phase"] and e["n"] == plan["occurrence"] and e["event"] == "exit"
                   for e in events)


def write_corpus(path: str, documents: int = 400, seed: int = 0) -> None:
    rng = random.Random(seed)
    lines = []
    for _ in range(documents):
        topic = rng.sample(WORDS, 6)
        lines += [" ".join(rng.choice(topic) for _ in range(rng.randint(4, 9))).capitalize() + "." for _ in range(5)]
        lines.append("")
    with open(path, "w") as file:
        file.write("\n".join(lines))


def run_outcome(run_dir: str) -> dict:
    """What a pretraining run left: its newest checkpoint's tensors and step, metrics records (timing fields
    dropped), eval.json, TensorBoard scalars, and leftovers that should not be there."""
    import tensorflow as tf

    from kbert.training.checkpoints import newest_intact_checkpoint

    prefix = newest_intact_checkpoint(run_dir)
    reader = tf.train.load_checkpoint(prefix)
    tensors = {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}
    with open(os.path.join(run_dir, "metrics.jsonl")) as file:
        records = [{k: v for k, v in json.loads(line).items() if k not in TIMING_FIELDS} for line in file]
    with open(os.path.join(run_dir, "eval.json")) as file:
        evaluation = json.load(file)
    leftovers = [os.path.basename(p) for p in glob.glob(os.path.join(run_dir, "*_temp")) +
                 glob.glob(os.path.join(run_dir, "run.lock"))]
    return {"checkpoint": os.path.basename(prefix), "tensors": tensors, "records": records, "eval": evaluation,
            "scalars": scalars(os.path.join(run_dir, "logs")), "leftovers": leftovers}


def scalars(logdir: str) -> list[tuple[str, str, int, float]]:
    """Every (split, tag, step, value) in the TensorBoard event files under `logdir`, sorted; timing tags left out."""
    import tensorflow as tf
    from tensorflow.core.util import event_pb2

    found = []
    for path in glob.glob(os.path.join(logdir, "*", "*tfevents*")):
        split = os.path.basename(os.path.dirname(path))
        for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
            event = event_pb2.Event.FromString(record)
            for value in event.summary.value:
                if value.tag not in TIMING_FIELDS:
                    found.append((split, value.tag, event.step, float(tf.make_ndarray(value.tensor))))
    return sorted(found)


def export_outcome(models_dir: str) -> dict:
    """The newest export's variables, vocabulary, config and metadata (its time of export dropped), and leftover
    staging folders."""
    import tensorflow as tf

    parent = os.path.join(models_dir, "tiny")
    versions = sorted(int(name) for name in os.listdir(parent) if name.isdecimal())
    newest = os.path.join(parent, str(versions[-1]))
    reader = tf.train.load_checkpoint(os.path.join(newest, "variables", "variables"))
    with open(os.path.join(newest, "kbert.json")) as file:
        metadata = {k: v for k, v in json.load(file).items() if k != "exported_at"}
    files = {name: open(os.path.join(newest, name), "rb").read() for name in ("vocab.txt", "bert_config.json")}
    return {"tensors": {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()},
            "metadata": metadata, "files": files, "versions": len(versions),
            "leftovers": [name for name in os.listdir(parent) if name.startswith(".export-")]}


def differences(found: dict, expected: dict, prefix: str = "") -> list[str]:
    """The keys where `found` differs from `expected` (arrays compared exactly)."""
    import numpy as np

    wrong = []
    for key in sorted(set(found) | set(expected)):
        a, b = found.get(key), expected.get(key)
        if isinstance(a, dict) and isinstance(b, dict) and key in ("tensors",):
            wrong += differences(a, b, f"{prefix}{key}/")
        elif isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            if a is None or b is None or a.shape != b.shape or not np.array_equal(a, b):
                wrong.append(prefix + key)
        elif a != b:
            wrong.append(prefix + key)
    return wrong


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--work", default="/tmp/kbert-faults")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    corpus = os.path.join(args.work, "corpus.txt")
    write_corpus(corpus)
    train = os.path.join(ROOT, "train.py")

    def pretrain(run_dir: str) -> list[str]:
        return ["pretrain", corpus, "--data-dir", os.path.join(args.work, "data"), "--output-dir", run_dir,
                "--preset", "tiny", "--seq-length", "32", "--batch-size", "8", "--vocab-size", "200",
                "--max-predictions", "5", "--steps", str(args.steps), "--checkpoint-every", "5", "--eval-every", "10",
                "--keep-checkpoints", "3"]

    def export(run_dir: str, models_dir: str) -> list[str]:
        return ["export", run_dir, "--models-dir", models_dir, "--name", "tiny"]

    began = time.monotonic()
    reference_run, reference_models = os.path.join(args.work, "reference"), os.path.join(args.work, "reference-models")
    status, events, error = run_child(args.work, train, pretrain(reference_run))
    assert status == 0, error
    status, export_events, error = run_child(args.work, train, export(reference_run, reference_models))
    assert status == 0, error
    timing = {**durations(events), **durations(export_events)}
    expected_run, expected_export = run_outcome(reference_run), export_outcome(reference_models)
    print(f"uninterrupted run: {args.steps} steps, {len(timing['checkpoint'])} checkpoints, "
          f"{len(timing['evaluation'])} evaluations, 1 export, {time.monotonic() - began:.0f} s", flush=True)

    killed = inside = finished = 0
    mismatched = []
    for number in range(1, args.kills + 1):
        phase = PHASES[(number - 1) % len(PHASES)]
        occurrence = rng.randint(1, len(timing[phase]))
        # within the first 80% of the occurrence's time in the uninterrupted run: a loaded machine varies
        plan = {"phase": phase, "occurrence": occurrence, "delay": rng.uniform(0, 0.8 * timing[phase][occurrence - 1])}
        trial = os.path.join(args.work, f"kill-{number:02d}")
        run_dir, models_dir = os.path.join(trial, "run"), os.path.join(trial, "models")
        os.makedirs(trial)
        if phase == "export":
            shutil.copytree(reference_run, run_dir)
            command = export(run_dir, models_dir)
        else:
            command = pretrain(run_dir)
        status, events, _ = run_child(trial, train, command, plan)
        was_killed = status == -signal.SIGKILL
        killed += was_killed
        inside += was_killed and landed_inside(events, plan)
        reruns, status = 0, 0 if not was_killed else 1
        while status != 0 and reruns < 3:
            reruns += 1
            status, _, error = run_child(trial, train, command)
        if status != 0:
            mismatched.append(number)
            print(f"kill {number}: {phase} #{occurrence} -- the rerun failed:\n{error}", flush=True)
            continue
        finished += 1
        if phase == "export":
            wrong = differences(export_outcome(models_dir), expected_export)
            wrong = [w for w in wrong if w != "versions"]  # a kill after the rename has published a version
        else:
            wrong = differences(run_outcome(run_dir), expected_run)
        if wrong:
            mismatched.append(number)
        where = ("inside it" if landed_inside(events, plan) else "after it") if was_killed else "not killed"
        print(f"kill {number:2d}: {phase} #{occurrence} +{plan['delay'] * 1000:.1f} ms ({where}), {reruns} rerun(s): "
              f"{'MISMATCH ' + ', '.join(wrong[:8]) if wrong else 'equal to the uninterrupted run'}", flush=True)
    print(f"\nkills: {killed} of {args.kills} planned ({inside} inside the phase aimed at); runs finished after "
          f"reruns: {finished}; mismatches: {len(mismatched)}{' (kills ' + str(mismatched) + ')' if mismatched else ''}"
          f"; {time.monotonic() - began:.0f} s in all")
    return 1 if mismatched or killed < args.kills else 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        child(*sys.argv[2:5], sys.argv[5:])
    else:
        sys.exit(main())

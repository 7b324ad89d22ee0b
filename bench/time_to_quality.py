"""Time to quality: held-out figures of every checkpoint of pretraining runs against minutes of training, with the
character-bigram baseline computed here on the same held-out characters.

    .venv/bin/python bench/time_to_quality.py RUN_DIR [RUN_DIR ...] [--figure bench/time_to_quality.png]

For each run (a `train.py pretrain --output-dir`, with checkpoints) and each of its checkpoints: held-out masked-LM
accuracy over all targets and at the targets whose input shows [MASK], NSP accuracy, and fill-mask top-1 / top-5 on
1,000 held-out Chinese characters (one hidden in each sentence, as the studio would ask). Every run is scored on the
same held-out examples of one embedded corpus (People's Daily by default; sequence length 64, 15% masked, seed 0,
batches of 32),
whatever it trained with, so recipes compare; a run that trained on more text never saw these documents.
Minutes are steps x batch / the run's speed: the 90th percentile of its logged examples/s (evaluations and
checkpoints excluded), or with --measure-speed its training step timed now on random batches of its shape, so that
other work on the machine while it trained does not count against a recipe. Results are cached
per checkpoint in each run's `quality.json`; the table, the PNG and the minutes each run took to pass the bigram's
top-1 and top-5 are printed.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from bench_pretraining_step import random_batch  # noqa: E402

from kbert import precision  # noqa: E402
from kbert.config import BertConfig  # noqa: E402
from kbert.io import write_bytes, write_json  # noqa: E402
from kbert.model_card import CONFIG_FILE  # noqa: E402
from kbert.models import BertBackbone, BertPretrainer  # noqa: E402
from kbert.reports.evaluation import checkpoint_prefixes  # noqa: E402
from kbert.text.bigram import CharacterBigram  # noqa: E402
from kbert.text.corpus import DEFAULT_CORPUS, load_corpus  # noqa: E402
from kbert.text.masked_characters import EVERYDAY_SENTENCES, read_marked_sentences  # noqa: E402
from kbert.training import pretraining  # noqa: E402
from kbert.training.checkpoints import restore_model  # noqa: E402
from kbert.training.fill_mask_quality import (  # noqa: E402
    bigram_guesses,
    heldout_examples,
    hit_rates,
    model_guesses,
)
from kbert.training.history import METRICS_FILE, read_records  # noqa: E402
from kbert.training.loop import Evaluator, LoopOptions, make_train_step  # noqa: E402
from kbert.training.optimization import WarmupLinearDecay, make_optimizer  # noqa: E402
from kbert.training.restoring import run_precision  # noqa: E402
from kbert.training.run_config import PretrainSettings, read_run_settings  # noqa: E402
from kbert.training.tasks import PretrainingTask  # noqa: E402

# The held-out examples every run is scored on; the batch size matters too (masks are drawn per batch, and a last
# partial batch is dropped).
HELDOUT = {"seq_length": 64, "max_predictions": 10, "masked_lm_prob": 0.15, "whole_word_masking": False, "seed": 0,
           "batch_size": 32}
CACHE_FILE = "quality-{corpus}.json"
CACHE_VERSION = 3


def logged_speed(run_dir: str) -> float:
    """The run's speed as logged: the 90th percentile of its windows' examples/s (windows slowed by other work on
    the machine would otherwise count)."""
    rates = [record["examples_per_second"] for record in read_records(os.path.join(run_dir, METRICS_FILE))
             if record.get("split") == "train" and record.get("examples_per_second")]
    return float(np.percentile(rates, 90)) if rates else float("nan")


def measured_speed(run_dir: str, steps: int = 30, warmup: int = 5) -> float:
    """Examples/s of the run's own training step (its config, batch, masking and precision) on random batches,
    the median of `steps` steps: measured now, on a quiet machine, it stands for the run's speed."""
    saved = read_run_settings(run_dir, "pretrain")
    settings = saved["settings"]
    keras.backend.clear_session()  # resets the dtype policy too, so set it after
    precision.set_policy(saved["resolved"]["precision"])
    config = BertConfig.from_json_file(os.path.join(run_dir, CONFIG_FILE))
    model = BertPretrainer(BertBackbone(config))
    model(random_batch(config.vocab_size, 1, settings["seq_length"], settings["max_predictions"]))
    optimizer = make_optimizer(settings["optimizer"], WarmupLinearDecay(1e-4, 10, 10_000), model.trainable_variables)
    options = LoopOptions(total_steps=10_000, global_batch_size=settings["batch_size"],
                          accumulation_steps=settings["accumulation_steps"], clip_norm=settings["clip_norm"] or None,
                          jit_compile=saved["resolved"]["jit_compile"])
    step = make_train_step(PretrainingTask(model), optimizer, tf.distribute.get_strategy(), options)
    batch = random_batch(config.vocab_size, settings["batch_size"], settings["seq_length"], settings["max_predictions"])
    iterator = iter(tf.data.Dataset.from_tensors(batch).repeat())
    times = []
    for index in range(warmup + steps):
        began = time.perf_counter()
        tf.nest.map_structure(np.asarray, step(iterator))
        if index >= warmup:
            times.append(time.perf_counter() - began)
    return settings["batch_size"] / float(np.median(times))


def evaluate_run(run_dir: str, corpus, examples, everyday, speeds: dict[str, float]) -> list[dict]:
    """One row per checkpoint (cached in the run's quality.json): step, minutes and the held-out figures."""
    cache_path = os.path.join(run_dir, CACHE_FILE.format(corpus=corpus.name))
    cache = {}
    if os.path.exists(cache_path):
        with open(cache_path, encoding="utf-8") as file:
            saved = json.load(file)
        if saved.get("version") == CACHE_VERSION and saved.get("heldout") == HELDOUT:
            cache = {row["step"]: row for row in saved["rows"]}
    checkpoints = [(step, prefix) for step, prefix in checkpoint_prefixes(run_dir) if step not in cache]
    if checkpoints:
        with run_precision(run_dir, "pretrain"):
            run = pretraining.restore_run(run_dir)
            model, tokenizer, settings = run.model, run.tokenizer, run.settings
            options = {**vars(settings), **HELDOUT}
            heldout = pretraining.heldout_dataset(corpus, tokenizer, PretrainSettings(**options))
            evaluate = Evaluator(PretrainingTask(model, tokenizer.mask_id), tf.distribute.get_strategy())
            for step, prefix in checkpoints:
                restore_model(model, prefix)
                metrics = evaluate(heldout)
                rates = hit_rates(examples, model_guesses(model, tokenizer, examples, HELDOUT["seq_length"]))
                daily = hit_rates(everyday, model_guesses(model, tokenizer, everyday, HELDOUT["seq_length"]))
                cache[step] = {"step": step, "mlm_accuracy": metrics["mlm_accuracy"],
                               "mlm_mask_accuracy": metrics["mlm_mask_accuracy"],
                               "nsp_accuracy": metrics["nsp_accuracy"], **rates,
                               **{f"everyday_{key}": value for key, value in daily.items()}}
                print(f"  {run_dir} step {step}: {cache[step]}", file=sys.stderr)
        write_json(cache_path, {"version": CACHE_VERSION, "heldout": HELDOUT,
                                "rows": [cache[step] for step in sorted(cache)]})
    batch_size = read_run_settings(run_dir, "pretrain")["settings"]["batch_size"]
    speed = speeds.get(run_dir) or logged_speed(run_dir)
    return [{**cache[step], "minutes": step * batch_size / speed / 60, "examples_per_second": speed}
            for step in sorted(cache)]


def first_crossing(rows: list[dict], key: str, line: float) -> float | None:
    """Minutes at which `key` first reaches `line`, interpolated between checkpoints; None if it never does."""
    before = {"minutes": 0.0, key: 0.0}
    for row in rows:
        if row["minutes"] is not None and row[key] >= line:
            share = (line - before[key]) / max(row[key] - before[key], 1e-9)
            return before["minutes"] + share * (row["minutes"] - before["minutes"])
        if row["minutes"] is not None:
            before = row
    return None


def plot(results: dict[str, list[dict]], bigram: dict[str, float], path: str) -> None:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(13, 8))
    axes = figure.subplots(2, 2).ravel()
    panels = (("top_1", "fill-mask top-1, held-out characters", bigram["top_1"]),
              ("top_5", "fill-mask top-5, held-out characters", bigram["top_5"]),
              ("mlm_mask_accuracy", "held-out MLM accuracy at [MASK] targets", None),
              ("mlm_accuracy", "held-out MLM accuracy, all targets", None))
    for axis, (key, title, line) in zip(axes, panels, strict=True):
        for name, rows in results.items():
            points = [(row["minutes"], row[key]) for row in rows if row["minutes"] is not None]
            axis.plot(*zip(*points, strict=True), "o-", markersize=3, label=name)
        if line is not None:
            axis.axhline(line, color="black", linestyle="--", label=f"character bigram {line:.3f}")
        axis.set_title(title)
        axis.set_xlabel("minutes of training (2 CPU cores)")
        axis.grid(alpha=0.3)
        axis.legend(fontsize="x-small")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    write_bytes(path, buffer.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="pretraining run directories")
    parser.add_argument("--figure", default="bench/time_to_quality.png", help="the PNG (default: %(default)s)")
    parser.add_argument("--json", help="also write every figure to this JSON file")
    parser.add_argument("--heldout-corpus", default=DEFAULT_CORPUS,
                        help="the embedded corpus whose held-out split is scored, whatever the runs trained on "
                             "(default: %(default)s; 'reviews' for everyday text)")
    parser.add_argument("--data-dir", default="data", help="where prepared corpora are cached (default: %(default)s)")
    parser.add_argument("--measure-speed", action="store_true",
                        help="time each run's training step now (on a quiet machine) instead of trusting its log")
    args = parser.parse_args()
    corpus = load_corpus(args.heldout_corpus, args.data_dir)
    bigram_model = CharacterBigram.fit(corpus.texts("train"))
    examples = heldout_examples(corpus, bigram_model)
    everyday = [example for _, example in read_marked_sentences(EVERYDAY_SENTENCES)]
    bigram = hit_rates(examples, bigram_guesses(bigram_model, examples))
    bigram_everyday = hit_rates(everyday, bigram_guesses(bigram_model, everyday))
    speeds = {run: measured_speed(run) for run in args.runs} if args.measure_speed else {}
    results = {os.path.basename(os.path.normpath(run)): evaluate_run(run, corpus, examples, everyday, speeds)
               for run in args.runs}

    print(f"{len(examples)} held-out characters; character bigram: top-1 {bigram['top_1']:.4f}, "
          f"top-5 {bigram['top_5']:.4f}; on the {len(everyday)} everyday sentences (kbert/text/everyday_zh.tsv): "
          f"top-1 {bigram_everyday['top_1']:.4f}, top-5 {bigram_everyday['top_5']:.4f}")
    how = "measured now" if args.measure_speed else "logged (90th percentile of the windows)"
    for name, rows in results.items():
        print(f"{name}: {rows[0]['examples_per_second']:.0f} examples/s, {how}")
    print("| run | step | minutes | MLM acc | MLM acc at [MASK] | NSP acc | top-1 | top-5 | everyday top-1 | top-5 |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, rows in results.items():
        for row in rows:
            minutes = "" if row["minutes"] is None else f"{row['minutes']:.1f}"
            print(f"| {name} | {row['step']} | {minutes} | {row['mlm_accuracy']:.4f} | {row['mlm_mask_accuracy']:.4f} "
                  f"| {row['nsp_accuracy']:.4f} | {row['top_1']:.4f} | {row['top_5']:.4f} "
                  f"| {row['everyday_top_1']:.3f} | {row['everyday_top_5']:.3f} |")
    for name, rows in results.items():
        crossings = {key: first_crossing(rows, key, bigram[key]) for key in ("top_1", "top_5")}
        text = ", ".join(f"{key} {'never' if at is None else f'{at:.1f} min'}" for key, at in crossings.items())
        print(f"{name}: passes the bigram's {text}")
    plot(results, bigram, args.figure)
    if args.json:
        write_json(args.json, {"examples": len(examples), "bigram": bigram, "bigram_everyday": bigram_everyday,
                               "heldout": HELDOUT, "runs": results})
    print(f"wrote {args.figure}")


if __name__ == "__main__":
    main()

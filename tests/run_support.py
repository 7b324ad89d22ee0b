"""Shared by the training tests that need real run directories: a small word corpus and labelled file, and a tiny
pretraining run plus a fine-tuning run from it, made once per test process through `train.main` (copy them before
damaging them)."""

from __future__ import annotations

import functools
import random
import shutil
from pathlib import Path

import train

WORDS = ("river stone light garden window paper music winter coffee letter mountain silver engine market "
         "morning orange bridge travel doctor forest number animal office planet yellow").split()
# The small pretraining settings, on the word corpus (its 25 words need far fewer than 500 tokens).
TINY = ["--preset", "tiny", "--seq-length", "32", "--batch-size", "8", "--vocab-size", "200", "--max-predictions", "5"]


def write_corpus(path: Path, documents: int = 400, seed: int = 0) -> None:
    """Documents of five sentences, each document keeping to a few words, so next-sentence prediction is learnable."""
    rng = random.Random(seed)
    lines = []
    for _ in range(documents):
        topic = rng.sample(WORDS, 6)
        lines += [" ".join(rng.choice(topic) for _ in range(rng.randint(4, 9))).capitalize() + "." for _ in range(5)]
        lines.append("")
    Path(path).write_text("\n".join(lines))


def write_reviews(path: Path, count: int = 60, seed: int = 1) -> None:
    """A CSV of `text,label` rows, negative and positive in turn, told apart by one word."""
    rng = random.Random(seed)
    rows = ["text,label"]
    for i in range(count):
        label = ["negative", "positive"][i % 2]
        word = "silver" if label == "positive" else "winter"
        rows.append(f"{' '.join(rng.sample(WORDS, 3))} {word} {' '.join(rng.sample(WORDS, 2))},{label}")
    Path(path).write_text("\n".join(rows) + "\n")


def pretrain_argv(root: Path, output_dir: Path, *more: str) -> list[str]:
    """`train.py pretrain` on the word corpus under `root` (written by `tiny_runs`) into `output_dir`."""
    return ["pretrain", str(root / "corpus.txt"), "--data-dir", str(root / "data"), "--output-dir", str(output_dir),
            *TINY, *more]


@functools.cache
def tiny_runs(root: Path) -> dict[str, Path]:
    """A 4-step pretraining run (checkpoints at 2 and 4, evaluated at both) and a 2-step fine-tuning run from it,
    under `root`; made once per process and root."""
    root.mkdir(parents=True, exist_ok=True)
    write_corpus(root / "corpus.txt")
    write_reviews(root / "train.csv")
    write_reviews(root / "test.csv", count=20, seed=2)
    runs = {"pretrain": root / "pretrain", "finetune": root / "finetune"}
    assert train.main(pretrain_argv(root, runs["pretrain"], "--steps", "4", "--checkpoint-every", "2",
                                    "--eval-every", "2", "--log-every", "1")) == 0
    assert train.main(["finetune", str(root / "train.csv"), "--eval-file", str(root / "test.csv"), "--output-dir",
                       str(runs["finetune"]), "--init-checkpoint", str(runs["pretrain"]), "--steps", "2",
                       "--batch-size", "8", "--seq-length", "16", "--log-every", "1"]) == 0
    return runs


def copy_run(run: Path, destination: Path) -> Path:
    """A copy of a run directory, to damage without touching the shared one."""
    shutil.copytree(run, destination)
    return destination

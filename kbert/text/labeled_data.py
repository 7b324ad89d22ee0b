"""Fine-tuning examples: labelled texts (or text pairs) from CSV, TSV or JSON-lines files, as `tf.data` batches.

A file has a header row (CSV, TSV) or one JSON object a line (`.jsonl`); the columns holding the text, the optional
second text of a pair and the label are named by the caller. Labels are kept as written and mapped to ids by a
list of label names that travels with the fine-tuned model.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import tensorflow as tf

from kbert.text.tokenizer import BertTokenizer

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl"}


@dataclasses.dataclass(frozen=True)
class LabeledExamples:
    """Texts, optional second texts (sentence pairs) and label names, one per example."""

    texts: list[str]
    labels: list[str]
    pairs: list[str] | None = None

    def __post_init__(self):
        if len(self.texts) != len(self.labels) or (self.pairs is not None and len(self.pairs) != len(self.texts)):
            raise ValueError(f"{len(self.texts)} texts, {len(self.labels)} labels and "
                             f"{len(self.pairs or [])} second texts: every example needs one of each.")

    def __len__(self) -> int:
        return len(self.texts)


def read_labeled_file(path: str | os.PathLike, text_column: str = "text", label_column: str = "label",
                      pair_column: str | None = None) -> LabeledExamples:
    """Reads a `.csv`, `.tsv` or `.jsonl` file; errors name the file, line and column at fault."""
    path = Path(path)
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise ValueError(f"{path}: unknown file type {path.suffix!r}; use .csv, .tsv or .jsonl "
                         "(one JSON object a line).")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file.")
    columns = [text_column, label_column] + ([pair_column] if pair_column else [])
    texts, labels, pairs = [], [], []
    for line, row in _rows(path, kind):
        missing = [column for column in columns if column not in row]
        if missing:
            raise ValueError(f"{path}:{line}: no {', '.join(map(repr, missing))} column (the columns are "
                             f"{', '.join(map(repr, row))}); name the right ones with --text-column, "
                             "--text-pair-column and --label-column.")
        values = [_cell(row[column], path, line, column) for column in columns]
        texts.append(values[0])
        labels.append(values[1])
        if pair_column:
            pairs.append(values[2])
    if not texts:
        raise ValueError(f"{path}: no examples (only a header, or an empty file).")
    return LabeledExamples(texts, labels, pairs if pair_column else None)


def _rows(path: Path, kind: str) -> Iterator[tuple[int, dict]]:
    """(line number, {column: value}) for each example of the file."""
    with open(path, encoding="utf-8-sig", newline="") as file:
        try:
            if kind == "jsonl":
                for number, text in enumerate(file, start=1):
                    if not text.strip():
                        continue
                    try:
                        row = json.loads(text)
                    except json.JSONDecodeError as error:
                        raise ValueError(f"{path}:{number}: not a JSON object ({error.msg}).") from None
                    if not isinstance(row, dict):
                        raise ValueError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}.")
                    yield number, row
            else:
                dialect = {"delimiter": "\t", "quoting": csv.QUOTE_NONE} if kind == "tsv" else {}
                reader = csv.DictReader(file, **dialect)
                for row in reader:
                    if None in row:
                        raise ValueError(f"{path}:{reader.line_num}: more cells than the header has columns.")
                    yield reader.line_num, row
        except UnicodeDecodeError as error:
            raise ValueError(f"{path}: byte {error.start} is not UTF-8; save the file as UTF-8.") from None


def _cell(value: object, path: Path, line: int, column: str) -> str:
    if value is None or isinstance(value, (dict, list)):
        raise ValueError(f"{path}:{line}: column {column!r} must hold text or a number, got {value!r}.")
    text = str(value).strip()
    if not text:
        raise ValueError(f"{path}:{line}: column {column!r} is empty.")
    return text


def label_names(labels: Sequence[str]) -> list[str]:
    """The distinct labels in a fixed order: numerically when all are integers ("0", "1", ...), else sorted."""
    distinct = set(labels)
    if all(label.lstrip("-").isdigit() for label in distinct):
        return sorted(distinct, key=int)
    return sorted(distinct)


def label_ids(labels: Sequence[str], names: Sequence[str], source: str = "the data") -> list[int]:
    """Each label's index in `names`; a label not in `names` is an error naming it."""
    index = {name: i for i, name in enumerate(names)}
    unknown = sorted(set(labels) - set(index))
    if unknown:
        raise ValueError(f"{source} has label(s) {', '.join(map(repr, unknown[:5]))} that the model does not know "
                         f"(its labels: {', '.join(map(repr, names))}).")
    return [index[label] for label in labels]


def classification_dataset(examples: LabeledExamples, names: Sequence[str], tokenizer: BertTokenizer, *,
                           seq_length: int = 128, batch_size: int = 32, repeat: bool = False, seed: int = 0,
                           start_batch: int = 0) -> tf.data.Dataset:
    """Batches of `({"token_ids", "segment_ids", "padding_mask"}, labels)`: int32 `[batch_size, seq_length]` and
    int32 `[batch_size]`.

    repeat=False: one pass in file order, the last batch smaller (for evaluation). repeat=True: an endless stream
    of full batches; epoch e visits the examples in an order drawn from (seed, e), so the stream is fixed by its
    arguments and `start_batch=b` starts it at batch b at no cost (to resume a run).
    """
    ids = label_ids(examples.labels, names)
    columns = {"text": tf.constant(examples.texts), "label": tf.constant(ids, tf.int32)}
    if examples.pairs is not None:
        columns["pair"] = tf.constant(examples.pairs)
    if repeat:
        count = len(examples)

        def gather(batch: tf.Tensor) -> dict[str, tf.Tensor]:
            position = batch * batch_size + tf.range(batch_size, dtype=tf.int64)  # in the endless stream
            epoch = position // count
            seeds = tf.stack([tf.fill([batch_size], tf.cast(seed, tf.int64)), epoch, tf.zeros_like(epoch)], axis=1)
            rows = tf.raw_ops.RandomIndexShuffle(index=position % count, seed=seeds, max_index=tf.constant(count - 1,
                                                                                                          tf.int64))
            return {name: tf.gather(values, rows) for name, values in columns.items()}

        batches = tf.data.Dataset.counter(start_batch).map(gather)
    else:
        batches = tf.data.Dataset.from_tensor_slices(columns).batch(batch_size)

    def encode(batch: dict[str, tf.Tensor]) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
        features = tokenizer(batch["text"], batch.get("pair"), seq_length=seq_length)
        return features, batch["label"]

    return batches.map(encode, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)

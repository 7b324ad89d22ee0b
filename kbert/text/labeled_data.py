"""Fine-tuning examples: labelled texts (or text pairs) from CSV, TSV or JSON-lines files, as `tf.data` batches.

A file has a header row (CSV, TSV) or one JSON object a line (`.jsonl`); the columns holding the text, the optional
second text of a pair and the label are named by the caller. Labels are kept as written and mapped to ids by a
list of label names that travels with the fine-tuned model.
"""

from __future__ import annotations

import codecs
import collections
import csv
import dataclasses
import io
import json
import os
import re
import sys
import unicodedata
from collections.abc import Iterator, Sequence
from pathlib import Path

import tensorflow as tf

from kbert.text.tokenizer import BertTokenizer

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl"}


@dataclasses.dataclass(frozen=True)
class LabeledExamples:
    """Texts, optional second texts (sentence pairs) and label names, one per example; `source` names where they
    came from in messages."""

    texts: list[str]
    labels: list[str]
    pairs: list[str] | None = None
    source: str = "the data"

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
    return LabeledExamples(texts, labels, pairs if pair_column else None, source=str(path))


def _rows(path: Path, kind: str) -> Iterator[tuple[int, dict]]:
    """(line number where the example starts, {column: value}) for each example of the file."""
    file = io.StringIO(_read_utf8(path), newline="")
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
        return
    dialect = {"delimiter": "\t", "quoting": csv.QUOTE_NONE} if kind == "tsv" else {}
    reader = csv.DictReader(file, strict=True, **dialect)
    try:
        if reader.fieldnames is None:  # reading the header first makes line numbers count from the first example
            return
    except csv.Error as error:
        raise ValueError(_csv_message(path, 1, error)) from None
    while True:
        first_line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise ValueError(_csv_message(path, first_line, error)) from None
        if None in row:
            raise ValueError(f"{path}:{reader.line_num}: more cells than the header has columns.")
        yield first_line, row


def _read_utf8(path: Path) -> str:
    """The file's text; a byte that is not UTF-8 is an error naming its line and offset in the file."""
    raw = path.read_bytes()
    start = len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0
    try:
        return raw[start:].decode("utf-8")
    except UnicodeDecodeError as error:
        offset = start + error.start
        line = raw.count(b"\n", 0, offset) + 1
        try:
            raw.decode("gb18030")
            hint = " (the file reads as GB18030/GBK: convert it with `iconv -f GB18030 -t UTF-8`)"
        except UnicodeDecodeError:
            hint = ""
        raise ValueError(f"{path}:{line}: byte {offset:,} (0x{raw[offset]:02x}) is not UTF-8{hint}; save the file "
                         "as UTF-8.") from None


def _csv_message(path: Path, line: int, error: csv.Error) -> str:
    if "unexpected end of data" in str(error):
        return (f"{path}:{line}: a quoted cell opened in the example starting on this line is never closed (the quote "
                'runs to the end of the file); close it, or double a quote that is part of the text ("").')
    return f"{path}:{line}: malformed CSV in the example starting on this line ({error}); check its quotes."


def _cell(value: object, path: Path, line: int, column: str) -> str:
    if value is None or isinstance(value, (dict, list)):
        raise ValueError(f"{path}:{line}: column {column!r} must hold text or a number, got {value!r}.")
    text = str(value).strip()
    if not text:
        raise ValueError(f"{path}:{line}: column {column!r} is empty.")
    return text


def check_training_labels(examples: LabeledExamples) -> None:
    """Refuses training examples that all carry one label (nothing to learn); warns on stderr about labels that look
    like two spellings of one class (case, width, punctuation, number format, an abbreviation, numbers beside
    words), since each spelling would be trained as a class of its own."""
    counts = collections.Counter(examples.labels)
    if len(counts) < 2:
        raise ValueError(f"{examples.source}: every example has the label {next(iter(counts))!r}; a classifier needs "
                         "examples of at least two labels.")
    for message in label_spelling_warnings(counts):
        print(f"warning: {examples.source}: {message}", file=sys.stderr)


def label_spelling_warnings(counts: collections.Counter) -> list[str]:
    """What looks like several spellings of one label among `counts` ({label: examples})."""
    def shown(labels) -> str:
        return ", ".join(f"{label!r} ({counts[label]:,})" for label in sorted(labels))

    groups = collections.defaultdict(set)
    for label in counts:
        groups[_spelling_key(label)].add(label)
    messages = [f"labels {shown(group)} differ only in case or form; write each class one way (they are now "
                "different classes)" for group in groups.values() if len(group) > 1]
    numbers = [label for label in counts if _is_number(label)]
    words = sorted(key for key, group in groups.items() if not group & set(numbers))
    messages += [f"label {shown(groups[short])} looks like an abbreviation of {shown(groups[long])}; write each class "
                 "one way (they are now different classes)"
                 for short in words for long in words if short != long and len(short) >= 3 and long.startswith(short)]
    if numbers and len(numbers) < len(counts):
        words = [label for label in counts if label not in numbers]
        messages.append(f"numeric labels {shown(numbers)} stand beside word labels {shown(words)}; if a number "
                        "means one of the words, write the word")
    return messages


_NUMBER = re.compile(r"[-+]?\d+(\.\d*)?")


def _is_number(label: str) -> bool:
    return bool(_NUMBER.fullmatch(unicodedata.normalize("NFKC", label)))


def _spelling_key(label: str) -> str:
    """`label` with case, character width, spaces, punctuation and number format (1, 1.0, 01) made uniform."""
    text = unicodedata.normalize("NFKC", label).casefold()
    if _is_number(text):
        return repr(float(text))
    return "".join(c for c in text if c.isalnum()) or text


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
    ids = label_ids(examples.labels, names, examples.source)
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

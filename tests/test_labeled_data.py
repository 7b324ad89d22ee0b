"""Labelled fine-tuning files (CSV, TSV, JSONL) read into examples, and the batches made of them."""

import collections
import json
import re

import numpy as np
import pytest

from kbert.text.labeled_data import (
    LabeledExamples,
    check_training_labels,
    classification_dataset,
    label_ids,
    label_names,
    label_spelling_warnings,
    read_labeled_file,
)
from kbert.text.tokenizer import BertTokenizer

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "film", "plot", "a", "the", "是", "好"]


@pytest.fixture(scope="module")
def tokenizer():
    return BertTokenizer(VOCAB)


def test_reads_the_same_examples_from_csv_tsv_and_jsonl(tmp_path):
    rows = [("good film, \"really\"", "a plot", "pos"), ("bad film", "the plot", "neg")]
    (tmp_path / "d.csv").write_text('sentence,second,y\n"good film, ""really""",a plot,pos\nbad film,the plot,neg\n')
    (tmp_path / "d.tsv").write_text("sentence\tsecond\ty\n" + "".join("\t".join(r) + "\n" for r in rows))
    (tmp_path / "d.jsonl").write_text("".join(json.dumps({"sentence": a, "second": b, "y": c}) + "\n"
                                              for a, b, c in rows) + "\n")
    for name in ("d.csv", "d.tsv", "d.jsonl"):
        examples = read_labeled_file(tmp_path / name, "sentence", "y", pair_column="second")
        assert examples.texts == [r[0] for r in rows], name
        assert examples.pairs == [r[1] for r in rows], name
        assert examples.labels == ["pos", "neg"], name


def test_jsonl_numbers_become_label_strings_in_numeric_order(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps({"text": f"t{i}", "label": label}) + "\n" for i, label in enumerate([10, 2, 2])))
    examples = read_labeled_file(path)
    assert examples.labels == ["10", "2", "2"]
    assert label_names(examples.labels) == ["2", "10"]
    assert label_names(["pos", "neg", "pos"]) == ["neg", "pos"]


@pytest.mark.parametrize("content, suffix, message", [
    ("text,y\nhello,1\n", ".csv", "d.csv:2: no 'label' column (the columns are 'text', 'y')"),
    ("text,label\nhello,\n", ".csv", "d.csv:2: column 'label' is empty"),
    ("text,label\nhello,1,extra\n", ".csv", "d.csv:2: more cells than the header has columns"),
    ('{"text": "a", "label": 1}\n{"text": "b", "label": 1\n', ".jsonl", "d.jsonl:2: not a JSON object"),
    ('["a", 1]\n', ".jsonl", "d.jsonl:1: expected a JSON object, got list"),
    ("text,label\n", ".csv", "d.csv: no examples"),
    ("a", ".xlsx", "unknown file type '.xlsx'"),
])
def test_bad_files_are_errors_that_name_the_file_and_line(tmp_path, content, suffix, message):
    path = tmp_path / f"d{suffix}"
    path.write_text(content)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        read_labeled_file(path)


def test_unknown_labels_are_named():
    with pytest.raises(ValueError, match="label\\(s\\) 'maybe'"):
        label_ids(["pos", "maybe"], ["neg", "pos"])


def test_evaluation_batches_keep_file_order_and_pack_pairs(tokenizer):
    examples = LabeledExamples(["good film", "bad", "是好"], ["pos", "neg", "pos"], pairs=["the plot", "a", "film"])
    batches = list(classification_dataset(examples, ["neg", "pos"], tokenizer, seq_length=8, batch_size=2))
    assert [len(labels) for _, labels in batches] == [2, 1]
    features, labels = batches[0]
    np.testing.assert_array_equal(labels, [1, 0])
    np.testing.assert_array_equal(features["token_ids"][0], [2, 5, 7, 3, 10, 8, 3, 0])
    np.testing.assert_array_equal(features["segment_ids"][0], [0, 0, 0, 0, 1, 1, 1, 0])
    np.testing.assert_array_equal(features["padding_mask"][0], [1, 1, 1, 1, 1, 1, 1, 0])


def _stream(tokenizer, examples, start_batch, count, seed=0):
    dataset = classification_dataset(examples, ["neg", "pos"], tokenizer, seq_length=8, batch_size=4, repeat=True,
                                      seed=seed, start_batch=start_batch)
    return [(f["token_ids"], y) for f, y in dataset.take(count).as_numpy_iterator()]


def test_training_stream_visits_every_example_once_per_epoch_and_resumes_exactly(tokenizer):
    words = ["good", "bad", "film", "plot", "the"]
    texts = [f"{first} {second}" for first in words[:2] for second in words]  # 10 different texts
    examples = LabeledExamples(texts, ["pos" if i % 2 else "neg" for i in range(10)])
    stream = _stream(tokenizer, examples, 0, 10)  # 40 examples: 4 epochs of 10
    firsts = [tuple(ids) for batch, _ in stream for ids in batch]
    epochs = [sorted(firsts[e * 10:(e + 1) * 10]) for e in range(4)]
    assert all(epoch == epochs[0] for epoch in epochs) and len(set(epochs[0])) == 10
    assert firsts[:10] != firsts[10:20]  # each epoch in a new order
    resumed = _stream(tokenizer, examples, 6, 4)
    for (ids, labels), (ids_again, labels_again) in zip(stream[6:], resumed, strict=True):
        np.testing.assert_array_equal(ids, ids_again)
        np.testing.assert_array_equal(labels, labels_again)
    assert [tuple(x) for x in _stream(tokenizer, examples, 0, 1, seed=1)[0][0]] != firsts[:4]


def test_a_byte_that_is_not_utf8_late_in_a_file_is_named_by_its_line_and_offset(tmp_path):
    path = tmp_path / "reviews.csv"
    head = "text,label\n" + "".join(f"好的句子{i},pos\n" for i in range(3000))
    path.write_bytes(head.encode("utf-8") + "坏".encode("gbk") + b",neg\n")
    offset = len(head.encode("utf-8"))
    with pytest.raises(ValueError, match=re.escape(f"reviews.csv:3002: byte {offset:,} (0x{'坏'.encode('gbk')[0]:02x}) "
                                                   "is not UTF-8 (the file reads as GB18030/GBK")):
        read_labeled_file(path)


def test_an_unclosed_quote_is_blamed_on_the_line_where_its_example_starts(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text('text,label\ngood one,pos\nfine,pos\n"bad one,neg\nalso fine,neg\nmore,pos\n')
    with pytest.raises(ValueError, match=r"reviews.csv:4: a quoted cell opened in the example starting on this line "
                                         r"is never closed"):
        read_labeled_file(path)


def test_training_data_with_one_label_is_refused():
    with pytest.raises(ValueError, match="train.csv: every example has the label 'pos'; a classifier needs examples "
                                         "of at least two labels"):
        check_training_labels(LabeledExamples(["a", "b"], ["pos", "pos"], source="train.csv"))


def test_labels_spelled_two_ways_are_warned_about(capsys):
    labels = ["pos"] * 5 + ["POS"] * 2 + ["1"] + ["positive"] * 3 + ["neg"] * 4
    check_training_labels(LabeledExamples([f"t{i}" for i in range(len(labels))], labels, source="train.csv"))
    err = capsys.readouterr().err
    assert "warning: train.csv: labels 'POS' (2), 'pos' (5) differ only in case or form" in err
    assert "label 'POS' (2), 'pos' (5) looks like an abbreviation of 'positive' (3)" in err
    assert "numeric labels '1' (1) stand beside word labels" in err
    check_training_labels(LabeledExamples(["a", "b", "c"], ["neg", "pos", "neutral"]))
    check_training_labels(LabeledExamples(["a", "b", "c"], ["0", "1", "2"]))
    assert capsys.readouterr().err == ""  # consistent labels: no warning
    assert label_spelling_warnings(collections.Counter(["1", "1.0", "２"])) == [
        "labels '1' (1), '1.0' (1) differ only in case or form; write each class one way (they are now different "
        "classes)"]


def test_an_unknown_label_in_an_eval_file_names_that_file(tmp_path, tokenizer):
    path = tmp_path / "eval.csv"
    path.write_text("text,label\ngood film,pos\nbad,maybe\n")
    with pytest.raises(ValueError, match=re.escape(f"{path} has label(s) 'maybe' that the model does not know")):
        classification_dataset(read_labeled_file(path), ["neg", "pos"], tokenizer)

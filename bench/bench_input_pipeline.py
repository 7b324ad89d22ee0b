"""How fast the pretraining input pipeline makes batches, on the default corpus (People's Daily).

    .venv/bin/python bench/bench_input_pipeline.py [--batches 2000] [--seq-length 128] [--batch-size 32]

Prints sequences/s and tokens/s (all seq_length positions) for dynamic masking, with and without whole-word
masking, and for writing and reading TFRecords. The `mini` model trains at about 60 sequences of 128 tokens a
second on 2 cores, so the pipeline should make well over 300.
"""

import argparse
import tempfile
import time

import tensorflow as tf

from kbert.text.corpus import load_corpus
from kbert.text.pretraining_data import pretraining_dataset, tfrecord_pretraining_dataset, write_pretraining_tfrecords
from kbert.text.tokenizer import BertTokenizer
from kbert.text.vocab import train_vocabulary


def measure(dataset: tf.data.Dataset, batches: int) -> float:
    """Seconds per batch, after a few warm-up batches."""
    iterator = iter(dataset)
    for _ in range(5):
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return (time.perf_counter() - start) / batches


def report(name: str, seconds_per_batch: float, batch_size: int, seq_length: int) -> None:
    sequences = batch_size / seconds_per_batch
    print(f"{name:<40} {sequences:>10,.0f} sequences/s {sequences * seq_length:>12,.0f} tokens/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=2000)
    parser.add_argument("--seq-length", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--vocab-size", type=int, default=8000)
    parser.add_argument("--data-dir", default="data")
    args = parser.parse_args()
    options = {"seq_length": args.seq_length, "max_predictions_per_seq": 20}
    shape = (args.batch_size, args.seq_length)

    corpus = load_corpus(data_dir=args.data_dir)
    tokenizer = BertTokenizer(train_vocabulary(corpus.texts(), args.vocab_size))
    print(f"corpus {corpus.name}: {corpus.stats()['train']}; vocabulary {tokenizer.vocab_size}; tf {tf.__version__}")

    for whole_word_masking in (False, True):
        start = time.perf_counter()
        dataset = pretraining_dataset(
            corpus.train, tokenizer, batch_size=args.batch_size, whole_word_masking=whole_word_masking, **options
        )
        name = f"dynamic masking{', whole words' if whole_word_masking else ''}"
        print(f"{name}: tokenized and paired in {time.perf_counter() - start:.1f} s (dupe_factor 5)")
        report(name, measure(dataset, args.batches), *shape)

    with tempfile.TemporaryDirectory() as directory:
        start = time.perf_counter()
        write_pretraining_tfrecords(corpus.train, tokenizer, directory, dupe_factor=1, **options)
        written = sum(1 for _ in tf.data.TFRecordDataset(tf.io.gfile.glob(f"{directory}/*.tfrecord")))
        report("TFRecord writing (dupe_factor 1)", (time.perf_counter() - start) / written * args.batch_size, *shape)
        dataset = tfrecord_pretraining_dataset(f"{directory}/*.tfrecord", args.batch_size)
        report("TFRecord reading", measure(dataset, args.batches), *shape)


if __name__ == "__main__":
    main()

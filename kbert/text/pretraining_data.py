"""Pretraining examples (masked LM + next sentence) from documents, as `tf.data` batches.

Sentence pairs are built the way Google's `create_pretraining_data.py` builds them. Two ways to feed them:
- `pretraining_dataset`: dynamic masking. The pairs are built once per "dupe" (a fresh pairing of sentences, up to
  `dupe_factor` of them, cycled over epochs) and held in memory as token ids; every epoch visits them in a new
  order with new masks, drawn in the input pipeline by stateless random ops. For corpora that fit in memory.
- `write_pretraining_tfrecords` once, then `tfrecord_pretraining_dataset`: static masks written `dupe_factor`
  times in Google's TFRecord format, read back streaming. For corpora larger than memory (and Google's own files).
Both give batches in the contract's format: token_ids, segment_ids, padding_mask, mask_positions, mask_ids
(int32), mask_weights (float32), next_sentence_labels (int32 [batch_size]; 0 = B follows A, 1 = B is random).

>>> corpus = load_corpus()                                   # kbert.text.corpus
>>> tokenizer = BertTokenizer(train_vocabulary(corpus.texts(), 8000))
>>> batches = pretraining_dataset(corpus.train, tokenizer, batch_size=32, whole_word_masking=True)
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf

from kbert.io import write_text
from kbert.text.corpus import Document
from kbert.text.masking import mask_tokens
from kbert.text.normalization import CJK_CHARS
from kbert.text.tokenizer import BertTokenizer

_TOKENIZE_CHUNK = 65536  # words per tokenizer call
_WRITE_CHUNK = 1024  # examples masked at once when writing TFRecords
_READ_FILES = 16  # TFRecord files read at once
_METADATA = "pretraining_data.json"
_INDEX_SHUFFLE_KEY = 498247692  # what tf.random.experimental.index_shuffle puts before a [2] seed
_CJK_CHAR = re.compile(f"[{CJK_CHARS}]")


@dataclasses.dataclass(frozen=True)
class PretrainingOptions:
    """How examples are cut and masked; shared by the dynamic pipeline and the TFRecord writer."""

    seq_length: int = 128
    max_predictions_per_seq: int = 20
    masked_lm_prob: float = 0.15
    short_seq_prob: float = 0.1
    whole_word_masking: bool = False

    def __post_init__(self):
        if self.seq_length < 5:
            raise ValueError(f"seq_length={self.seq_length}: a pair needs [CLS] A [SEP] B [SEP]; use at least 5.")
        if not 1 <= self.max_predictions_per_seq <= self.seq_length:
            raise ValueError(
                f"max_predictions_per_seq={self.max_predictions_per_seq} must be between 1 and "
                f"seq_length={self.seq_length}."
            )
        if not 0.0 < self.masked_lm_prob < 1.0:
            raise ValueError(f"masked_lm_prob={self.masked_lm_prob} must be between 0 and 1 (BERT uses 0.15).")
        if not 0.0 <= self.short_seq_prob <= 1.0:
            raise ValueError(f"short_seq_prob={self.short_seq_prob} must be between 0 and 1.")


@dataclasses.dataclass(frozen=True)
class TokenizedDocuments:
    """A corpus tokenized once, flat: sentence i is ids[sentence_splits[i]:sentence_splits[i + 1]], and document
    j is sentences document_splits[j] to document_splits[j + 1] - 1. word_starts marks the first token of a word."""

    ids: np.ndarray  # int32 [tokens]
    word_starts: np.ndarray  # bool [tokens]
    sentence_splits: np.ndarray  # int64 [sentences + 1]
    document_splits: np.ndarray  # int64 [documents + 1]
    cls_id: int
    sep_id: int

    @property
    def num_documents(self) -> int:
        return len(self.document_splits) - 1


@dataclasses.dataclass(frozen=True)
class PretrainingPairs:
    """Sentence pairs, unmasked: `[CLS] A [SEP] B [SEP]` padded with 0."""

    token_ids: np.ndarray  # int32 [examples, seq_length]
    word_starts: np.ndarray  # bool [examples, seq_length]: true where a whole-word-masking unit starts
    first_lengths: np.ndarray  # int32 [examples]: tokens of `[CLS] A [SEP]`
    lengths: np.ndarray  # int32 [examples]: tokens in all
    next_sentence_labels: np.ndarray  # int32 [examples]: 0 = B follows A, 1 = B is random

    def __len__(self) -> int:
        return len(self.next_sentence_labels)


_PAIR_FIELDS = dataclasses.fields(PretrainingPairs)


def tokenize_documents(documents: Sequence[Document], tokenizer: BertTokenizer) -> TokenizedDocuments:
    """Tokenizes word by word, so each token knows whether it starts a word. A word's later tokens continue it
    when they are `##` pieces or CJK characters (a Chinese word from the corpus segmentation); anything else, like
    the comma in "end,", starts a unit of its own. Sentences without tokens and documents without sentences go."""
    words = [word for document in documents for sentence in document for word in sentence]
    word_lengths, ids = [np.zeros([0], np.int64)], [np.zeros([0], np.int32)]
    for start in range(0, len(words), _TOKENIZE_CHUNK):
        ragged = tokenizer.tokenize(tf.constant(words[start : start + _TOKENIZE_CHUNK]))
        word_lengths.append(ragged.row_lengths().numpy())
        ids.append(ragged.flat_values.numpy())
    word_lengths, ids = np.concatenate(word_lengths), np.concatenate(ids)
    word_splits = np.concatenate([[0], np.cumsum(word_lengths)])  # word i is ids[word_splits[i]:word_splits[i + 1]]
    continues = np.array([t.startswith("##") or bool(_CJK_CHAR.fullmatch(t)) for t in tokenizer.vocab])
    word_starts = ~continues[ids]
    word_starts[word_splits[:-1][word_lengths > 0]] = True

    sentence_words = np.array([len(s) for document in documents for s in document], np.int64)
    sentence_lengths = np.diff(word_splits[np.concatenate([[0], np.cumsum(sentence_words)])])
    sentences_per_document = np.array([len(document) for document in documents], np.int64)
    # Drop empty sentences, then empty documents.
    document_of_sentence = np.repeat(np.arange(len(documents)), sentences_per_document)
    kept = sentence_lengths > 0
    kept_per_document = np.bincount(document_of_sentence[kept], minlength=len(documents))
    kept_per_document = kept_per_document[kept_per_document > 0]
    return TokenizedDocuments(
        ids=ids,
        word_starts=word_starts,
        sentence_splits=np.concatenate([[0], np.cumsum(sentence_lengths[kept])]).astype(np.int64),
        document_splits=np.concatenate([[0], np.cumsum(kept_per_document)]).astype(np.int64),
        cls_id=tokenizer.cls_id,
        sep_id=tokenizer.sep_id,
    )


def create_pairs(corpus: TokenizedDocuments, options: PretrainingOptions, rng: random.Random) -> PretrainingPairs:
    """Google's `create_instances_from_document` over every document, shuffled.

    Sentences are gathered into a chunk of about `seq_length - 3` tokens (a random shorter target with
    `short_seq_prob`, drawn per chunk where Google draws once per document); A is a random number of the chunk's
    first sentences, B the rest half of the time and text from a random other document otherwise (the chunk's
    unused sentences are put back). A chunk of one sentence (a long sentence, a document's last one, a
    one-sentence document) is cut at a random word start when B must be its continuation, so NSP labels stay 50/50.
    The pair is truncated to fit, one token at a time from the longer side, at a random end.
    """
    if corpus.num_documents < 2:
        raise ValueError(
            f"the corpus has {corpus.num_documents} document(s) with tokens; next-sentence pairs need at least 2 "
            "(B is drawn from another document half of the time). Add text."
        )
    max_tokens = options.seq_length - 3
    splits, document_splits = corpus.sentence_splits, corpus.document_splits
    pairs = []
    for document in range(corpus.num_documents):
        i, end = int(document_splits[document]), int(document_splits[document + 1])
        chunk_start, chunk_tokens, target = i, 0, _target_length(max_tokens, options.short_seq_prob, rng)
        while i < end:
            chunk_tokens += splits[i + 1] - splits[i]
            if i == end - 1 or chunk_tokens >= target:
                a_end = rng.randint(chunk_start + 1, i) if i > chunk_start else i + 1
                single = a_end == i + 1
                is_random = rng.random() < 0.5
                cut = None if is_random or not single else _random_word_start(corpus, splits[i], splits[i + 1], rng)
                if is_random or cut is None and single:
                    span_a = (splits[chunk_start], splits[a_end])
                    pairs.append((span_a, _random_text(corpus, document, target - (span_a[1] - span_a[0]), rng), 1))
                    i = a_end - 1  # put back the chunk's sentences that B did not use
                elif single:
                    pairs.append(((splits[i], cut), (cut, splits[i + 1]), 0))
                else:
                    pairs.append(((splits[chunk_start], splits[a_end]), (splits[a_end], splits[i + 1]), 0))
                chunk_start, chunk_tokens = i + 1, 0
                target = _target_length(max_tokens, options.short_seq_prob, rng)
            i += 1
    rng.shuffle(pairs)
    return _pack_pairs(corpus, pairs, options.seq_length, rng)


def _target_length(max_tokens: int, short_seq_prob: float, rng: random.Random) -> int:
    return rng.randint(2, max_tokens) if rng.random() < short_seq_prob else max_tokens


def _random_text(corpus: TokenizedDocuments, document: int, target: int, rng: random.Random) -> tuple[int, int]:
    """The token span of consecutive sentences from a random sentence of another document, until `target` tokens."""
    other = rng.randrange(corpus.num_documents - 1)
    other += other >= document
    first, end = int(corpus.document_splits[other]), int(corpus.document_splits[other + 1])
    start = rng.randrange(first, end)
    stop, tokens = start, 0
    while stop < end and (stop == start or tokens < target):
        tokens += corpus.sentence_splits[stop + 1] - corpus.sentence_splits[stop]
        stop += 1
    return corpus.sentence_splits[start], corpus.sentence_splits[stop]


def _random_word_start(corpus: TokenizedDocuments, start: int, end: int, rng: random.Random) -> int | None:
    """A random token index in (start, end) that starts a word, or None for a one-word sentence."""
    cuts = start + 1 + np.flatnonzero(corpus.word_starts[start + 1 : end])
    return int(cuts[rng.randrange(len(cuts))]) if len(cuts) else None


def _pack_pairs(corpus: TokenizedDocuments, pairs: list, seq_length: int, rng: random.Random) -> PretrainingPairs:
    """Truncates each pair like Google's `truncate_seq_pair` and lays it out as `[CLS] A [SEP] B [SEP]`, padded."""
    count, max_tokens = len(pairs), seq_length - 3
    token_ids = np.zeros([count, seq_length], np.int32)
    word_starts = np.zeros([count, seq_length], bool)
    first_lengths = np.zeros([count], np.int32)
    lengths = np.zeros([count], np.int32)
    labels = np.zeros([count], np.int32)
    token_ids[:, 0] = corpus.cls_id
    for row, ((a_start, a_end), (b_start, b_end), label) in enumerate(pairs):
        while (a_end - a_start) + (b_end - b_start) > max_tokens:
            if a_end - a_start > b_end - b_start:
                a_start, a_end = (a_start + 1, a_end) if rng.random() < 0.5 else (a_start, a_end - 1)
            else:
                b_start, b_end = (b_start + 1, b_end) if rng.random() < 0.5 else (b_start, b_end - 1)
        a_length, b_length = a_end - a_start, b_end - b_start
        token_ids[row, 1 : 1 + a_length] = corpus.ids[a_start:a_end]
        token_ids[row, 2 + a_length : 2 + a_length + b_length] = corpus.ids[b_start:b_end]
        word_starts[row, 1 : 1 + a_length] = corpus.word_starts[a_start:a_end]
        word_starts[row, 2 + a_length : 2 + a_length + b_length] = corpus.word_starts[b_start:b_end]
        token_ids[row, [1 + a_length, 2 + a_length + b_length]] = corpus.sep_id
        word_starts[row, [1, 2 + a_length]] = True  # a cut from the front may leave a word's tail
        first_lengths[row], lengths[row], labels[row] = a_length + 2, a_length + b_length + 3, label
    return PretrainingPairs(token_ids, word_starts, first_lengths, lengths, labels)


def pretraining_dataset(
    documents: Sequence[Document],
    tokenizer: BertTokenizer,
    *,
    seq_length: int = 128,
    max_predictions_per_seq: int = 20,
    batch_size: int = 32,
    masked_lm_prob: float = 0.15,
    short_seq_prob: float = 0.1,
    whole_word_masking: bool = False,
    dupe_factor: int = 5,
    seed: int = 0,
    repeat: bool = True,
    start_batch: int = 0,
) -> tf.data.Dataset:
    """Batches of pretraining examples with dynamic masking: fresh masks and a fresh order every epoch.

    Epoch e uses sentence pairing e % dupe_factor, visits its pairs in an order drawn from (seed, e) and masks
    batch b with seed (seed, b); batches run on across epoch ends. So the stream is a function of its arguments,
    and `start_batch=b` starts it at batch b at no cost (resume a run with the same arguments and its batch count).
    repeat=False gives one epoch of pairing 0, without its last partial batch.
    """
    options = PretrainingOptions(
        seq_length, max_predictions_per_seq, masked_lm_prob, short_seq_prob, whole_word_masking
    )
    corpus = tokenize_documents(documents, tokenizer)
    dupes = [create_pairs(corpus, options, random.Random(f"{seed}/{dupe}")) for dupe in range(dupe_factor)]
    if not repeat:
        dupes = dupes[:1]
    sizes = np.array([len(pairs) for pairs in dupes], np.int64)
    if sizes.min() < batch_size:
        raise ValueError(
            f"the corpus makes only {sizes.min()} examples of {seq_length} tokens, fewer than one batch of "
            f"{batch_size}; add text or use a smaller batch_size or seq_length."
        )
    starts = tf.constant(np.concatenate([[0], np.cumsum(sizes)[:-1]]))
    sizes_t = tf.constant(sizes)
    total = int(sizes.sum())
    pairs = {f.name: tf.constant(np.concatenate([getattr(d, f.name) for d in dupes])) for f in _PAIR_FIELDS}
    masker = _masker(tokenizer, options)

    def make_batch(batch: tf.Tensor) -> dict[str, tf.Tensor]:
        example = batch * batch_size + tf.range(batch_size, dtype=tf.int64)  # position in the whole stream
        cycle, offset = example // total, example % total
        dupe = tf.searchsorted(starts, offset, side="right") - 1
        offset -= tf.gather(starts, dupe)
        epoch = cycle * dupe_factor + tf.cast(dupe, tf.int64)
        # = tf.random.experimental.index_shuffle(offset, [seed, epoch], size - 1), whose batched form is broken.
        key = tf.constant([_INDEX_SHUFFLE_KEY, seed], tf.int64)
        shuffle_seeds = tf.concat([tf.tile(key[tf.newaxis], [batch_size, 1]), epoch[:, tf.newaxis]], axis=1)
        rows = tf.gather(starts, dupe) + tf.raw_ops.RandomIndexShuffle(
            index=offset, seed=shuffle_seeds, max_index=tf.gather(sizes_t, dupe) - 1, rounds=4
        )
        chosen = {name: tf.gather(values, rows) for name, values in pairs.items()}
        return masker(chosen, tf.stack([tf.constant(seed, tf.int64), batch]))

    if repeat:
        batches = tf.data.Dataset.counter(start_batch)
    else:
        batches = tf.data.Dataset.range(start_batch, total // batch_size)
    return batches.map(make_batch, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def _masker(tokenizer: BertTokenizer, options: PretrainingOptions) -> Callable[[dict, tf.Tensor], dict]:
    """A function (pairs of PretrainingPairs' fields, [batch_size] rows; stateless seed [2]) -> a masked batch."""

    def mask(pairs: dict[str, tf.Tensor], seed: tf.Tensor) -> dict[str, tf.Tensor]:
        positions = tf.range(options.seq_length)[tf.newaxis, :]
        padding_mask = tf.cast(positions < pairs["lengths"][:, tf.newaxis], tf.int32)
        segment_ids = tf.cast(positions >= pairs["first_lengths"][:, tf.newaxis], tf.int32) * padding_mask
        word_starts = pairs["word_starts"] if options.whole_word_masking else tf.ones_like(pairs["word_starts"])
        masked = mask_tokens(
            pairs["token_ids"],
            padding_mask,
            word_starts,
            seed,
            vocab_size=tokenizer.vocab_size,
            mask_id=tokenizer.mask_id,
            unmaskable_ids=(tokenizer.cls_id, tokenizer.sep_id),
            special_ids=(tokenizer.pad_id, tokenizer.unk_id, tokenizer.cls_id, tokenizer.sep_id, tokenizer.mask_id),
            max_predictions_per_seq=options.max_predictions_per_seq,
            masked_lm_prob=options.masked_lm_prob,
        )
        return {
            "token_ids": masked["token_ids"],
            "segment_ids": segment_ids,
            "padding_mask": padding_mask,
            "mask_positions": masked["mask_positions"],
            "mask_ids": masked["mask_ids"],
            "mask_weights": masked["mask_weights"],
            "next_sentence_labels": pairs["next_sentence_labels"],
        }

    return mask


def write_pretraining_tfrecords(
    documents: Sequence[Document],
    tokenizer: BertTokenizer,
    output_dir: str | os.PathLike,
    *,
    seq_length: int = 128,
    max_predictions_per_seq: int = 20,
    masked_lm_prob: float = 0.15,
    short_seq_prob: float = 0.1,
    whole_word_masking: bool = False,
    dupe_factor: int = 5,
    num_shards: int = 4,
    seed: int = 0,
) -> list[Path]:
    """Writes `dupe_factor` differently paired and masked copies of the corpus as TFRecord shards of
    `tf.train.Example`s with Google's feature names (input_ids, input_mask, segment_ids, masked_lm_positions,
    masked_lm_ids, masked_lm_weights, next_sentence_labels), plus pretraining_data.json; returns the shard paths.

    Each copy is built, shuffled and spread over the shards in turn, so only one copy is in memory. Shards appear
    under their final names only when complete; shards of an earlier run with another shard count are removed.
    """
    options = PretrainingOptions(
        seq_length, max_predictions_per_seq, masked_lm_prob, short_seq_prob, whole_word_masking
    )
    corpus = tokenize_documents(documents, tokenizer)
    masker = tf.function(_masker(tokenizer, options))
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = [output_dir / f"pretraining-{shard:05d}-of-{num_shards:05d}.tfrecord" for shard in range(num_shards)]
    temporary = [path.with_name(path.name + ".tmp") for path in paths]
    writers = [tf.io.TFRecordWriter(str(path)) for path in temporary]
    count = 0
    for dupe in range(dupe_factor):
        pairs = create_pairs(corpus, options, random.Random(f"{seed}/{dupe}"))
        for start in range(0, len(pairs), _WRITE_CHUNK):
            chunk = {f.name: getattr(pairs, f.name)[start : start + _WRITE_CHUNK] for f in _PAIR_FIELDS}
            masked = masker(chunk, tf.constant([seed, (dupe << 32) + start], tf.int64))
            batch = {name: value.numpy() for name, value in masked.items()}
            for row in range(len(batch["next_sentence_labels"])):
                writers[count % num_shards].write(_to_example(batch, row).SerializeToString())
                count += 1
    for writer in writers:
        writer.close()
    for source, path in zip(temporary, paths, strict=True):
        os.replace(source, path)
    for stale in set(output_dir.glob("pretraining-*-of-*.tfrecord")) - set(paths):  # from a run with other shards
        stale.unlink()
    metadata = {"examples": count, **dataclasses.asdict(options), "dupe_factor": dupe_factor, "seed": seed}
    write_text(output_dir / _METADATA, json.dumps(metadata, indent=1))
    return paths


def _to_example(batch: dict[str, np.ndarray], row: int) -> tf.train.Example:
    def ints(name: str) -> tf.train.Feature:
        return tf.train.Feature(int64_list=tf.train.Int64List(value=np.atleast_1d(batch[name][row])))

    return tf.train.Example(
        features=tf.train.Features(
            feature={
                "input_ids": ints("token_ids"),
                "input_mask": ints("padding_mask"),
                "segment_ids": ints("segment_ids"),
                "masked_lm_positions": ints("mask_positions"),
                "masked_lm_ids": ints("mask_ids"),
                "masked_lm_weights": tf.train.Feature(float_list=tf.train.FloatList(value=batch["mask_weights"][row])),
                "next_sentence_labels": ints("next_sentence_labels"),
            }
        )
    )


def tfrecord_pretraining_dataset(
    file_pattern: str,
    batch_size: int = 32,
    *,
    shuffle_buffer: int = 10_000,
    seed: int = 0,
    repeat: bool = True,
    start_batch: int = 0,
) -> tf.data.Dataset:
    """Streams batches from TFRecords in Google's pretraining format (ours or Google's own), in the contract's
    format. Shapes come from the first record. Files are interleaved and examples shuffled in a buffer, both
    deterministically under `seed`; `start_batch=b` skips b batches of records before parsing (it reads them)."""
    files = sorted(tf.io.gfile.glob(file_pattern))
    if not files:
        raise FileNotFoundError(f"no file matches {file_pattern!r}; write some with write_pretraining_tfrecords.")
    seq_length, max_predictions = _record_shape(files)
    features = {
        "input_ids": tf.io.FixedLenFeature([seq_length], tf.int64),
        "input_mask": tf.io.FixedLenFeature([seq_length], tf.int64),
        "segment_ids": tf.io.FixedLenFeature([seq_length], tf.int64),
        "masked_lm_positions": tf.io.FixedLenFeature([max_predictions], tf.int64),
        "masked_lm_ids": tf.io.FixedLenFeature([max_predictions], tf.int64),
        "masked_lm_weights": tf.io.FixedLenFeature([max_predictions], tf.float32),
        "next_sentence_labels": tf.io.FixedLenFeature([1], tf.int64),
    }

    def parse(records: tf.Tensor) -> dict[str, tf.Tensor]:
        example = tf.io.parse_example(records, features)
        return {
            "token_ids": tf.cast(example["input_ids"], tf.int32),
            "segment_ids": tf.cast(example["segment_ids"], tf.int32),
            "padding_mask": tf.cast(example["input_mask"], tf.int32),
            "mask_positions": tf.cast(example["masked_lm_positions"], tf.int32),
            "mask_ids": tf.cast(example["masked_lm_ids"], tf.int32),
            "mask_weights": example["masked_lm_weights"],
            "next_sentence_labels": tf.cast(example["next_sentence_labels"][:, 0], tf.int32),
        }

    dataset = tf.data.Dataset.from_tensor_slices(files)
    if repeat:
        dataset = dataset.repeat()
    dataset = dataset.interleave(
        tf.data.TFRecordDataset,
        cycle_length=min(len(files), _READ_FILES),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    dataset = dataset.shuffle(shuffle_buffer, seed=seed).skip(start_batch * batch_size)
    dataset = dataset.batch(batch_size, drop_remainder=True)
    return dataset.map(parse, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def _record_shape(files: list[str]) -> tuple[int, int]:
    """(seq_length, max_predictions_per_seq) of the first record, with a clear error if it is not ours."""
    for path in files:
        for record in tf.data.TFRecordDataset(path).take(1):
            feature = tf.train.Example.FromString(record.numpy()).features.feature
            missing = [name for name in ("input_ids", "masked_lm_positions") if name not in feature]
            if missing:
                raise ValueError(
                    f"{path}: the first record has no {', '.join(missing)}; not a BERT pretraining TFRecord."
                )
            return len(feature["input_ids"].int64_list.value), len(feature["masked_lm_positions"].int64_list.value)
    raise ValueError(f"the TFRecord files {files[0]} ... hold no records; write them again.")

import random

import numpy as np
import pytest
import tensorflow as tf

from kbert.text.pretraining_data import (
    PretrainingOptions,
    TokenizedDocuments,
    create_pairs,
    pretraining_dataset,
    tfrecord_pretraining_dataset,
    tokenize_documents,
    write_pretraining_tfrecords,
)
from kbert.text.tokenizer import BertTokenizer
from kbert.text.vocab import SPECIAL_TOKENS

# Words of several tokens: Chinese words (one token a character) and a WordPiece word (un ##believ ##able).
WORDS = ["甲乙", "丙丁戊", "己", "庚辛", "壬癸", " unbelievable", " cat", " dog", "，"]
VOCAB = [*SPECIAL_TOKENS, *"甲乙丙丁戊己庚辛壬癸，。", "un", "##believ", "##able", "cat", "dog"]
SEQ, PREDICTIONS, BATCH = 32, 5, 16


@pytest.fixture(scope="module")
def tokenizer():
    return BertTokenizer(VOCAB)


def make_documents(count=60, seed=0):
    rng = random.Random(seed)
    return [
        [[*(rng.choice(WORDS) for _ in range(rng.randint(2, 8))), "。"] for _ in range(rng.randint(1, 6))]
        for _ in range(count)
    ]


def take(dataset, count):
    return [{k: v.numpy() for k, v in batch.items()} for batch in dataset.take(count)]


def originals(batch):
    """The token ids before masking: the masked positions get their mask_ids back."""
    ids = batch["token_ids"].copy()
    rows, slots = np.nonzero(batch["mask_weights"])
    ids[rows, batch["mask_positions"][rows, slots]] = batch["mask_ids"][rows, slots]
    return ids


def chosen(batch):
    """bool [batch_size, seq_length]: the positions picked for prediction."""
    out = np.zeros(batch["token_ids"].shape, bool)
    rows, slots = np.nonzero(batch["mask_weights"])
    out[rows, batch["mask_positions"][rows, slots]] = True
    return out


def epoch_size(documents, tokenizer):
    """How many pairs an epoch has: the distinct examples in a stream of several epochs of one pairing."""
    batches = take(dataset(tokenizer, documents, dupe_factor=1), 30)
    return len({bytes(row) for batch in batches for row in originals(batch)})


def dataset(tokenizer, documents=None, **kwargs):
    kwargs = {"seq_length": SEQ, "max_predictions_per_seq": PREDICTIONS, "batch_size": BATCH, **kwargs}
    return pretraining_dataset(documents or make_documents(), tokenizer, **kwargs)


def test_batches_follow_the_contract(tokenizer):
    batch = take(dataset(tokenizer), 1)[0]
    dtypes = {"mask_weights": np.float32}
    for name in ("token_ids", "segment_ids", "padding_mask"):
        assert batch[name].shape == (BATCH, SEQ) and batch[name].dtype == np.int32
    for name in ("mask_positions", "mask_ids", "mask_weights"):
        assert batch[name].shape == (BATCH, PREDICTIONS) and batch[name].dtype == dtypes.get(name, np.int32)
    assert batch["next_sentence_labels"].shape == (BATCH,) and batch["next_sentence_labels"].dtype == np.int32
    ids = originals(batch)
    for row in range(BATCH):
        length = batch["padding_mask"][row].sum()
        assert (batch["padding_mask"][row, :length] == 1).all() and (ids[row, length:] == 0).all()
        seps = np.flatnonzero(ids[row] == tokenizer.sep_id)
        assert ids[row, 0] == tokenizer.cls_id and len(seps) == 2 and seps[1] == length - 1
        expected_segments = (np.arange(SEQ) > seps[0]) & (np.arange(SEQ) < length)
        np.testing.assert_array_equal(batch["segment_ids"][row], expected_segments.astype(np.int32))
        assert np.isin(ids[row, 1:length], [tokenizer.cls_id, tokenizer.pad_id], invert=True).all()


def test_masks_fifteen_percent_like_google_and_never_specials(tokenizer):
    batches = take(dataset(tokenizer), 30)
    for batch in batches:
        lengths = batch["padding_mask"].sum(1)
        expected = np.minimum(PREDICTIONS, np.maximum(1, np.round(lengths * 0.15)))  # Google's num_to_predict
        np.testing.assert_array_equal(batch["mask_weights"].sum(1), expected)
        used = batch["mask_weights"] > 0
        positions = batch["mask_positions"]
        assert (positions[used] > 0).all() and (positions[~used] == 0).all() and (batch["mask_ids"][~used] == 0).all()
        assert (positions[used] < lengths[:, None].repeat(PREDICTIONS, 1)[used]).all()
        assert np.isin(batch["mask_ids"][used], [tokenizer.cls_id, tokenizer.sep_id, tokenizer.pad_id]).sum() == 0
        assert (np.diff(np.where(used, positions, SEQ + np.arange(PREDICTIONS)), axis=1) > 0).all()  # ascending


def test_corrupts_eighty_ten_ten(tokenizer):
    masked, kept, replaced = 0, 0, 0
    specials = [VOCAB.index(token) for token in SPECIAL_TOKENS]
    for batch in take(dataset(tokenizer, documents=make_documents(200)), 60):
        used = batch["mask_weights"] > 0
        inputs = np.take_along_axis(batch["token_ids"], batch["mask_positions"], axis=1)[used]
        targets = batch["mask_ids"][used]
        masked += (inputs == tokenizer.mask_id).sum()
        kept += (inputs == targets).sum()
        replaced += ((inputs != tokenizer.mask_id) & (inputs != targets)).sum()
        assert not np.isin(inputs[inputs != tokenizer.mask_id], specials).any()
        unchosen = ~chosen(batch) & (batch["padding_mask"] > 0)
        assert (batch["token_ids"][unchosen] != tokenizer.mask_id).all()
    total = masked + kept + replaced
    # A random id equals the original 1 time in 17 here, so "kept" is 0.1 + 0.1 / 17.
    assert abs(masked / total - 0.8) < 0.02
    assert abs(kept / total - (0.1 + 0.1 / (len(VOCAB) - 5))) < 0.015
    assert abs(replaced / total - 0.1 * (1 - 1 / (len(VOCAB) - 5))) < 0.015


def test_next_sentence_pairs_are_half_random_and_labelled_right():
    # Token id = 1000 * document + sentence, so each token says where it came from.
    documents, splits, doc_splits = [], [0], [0]
    rng = random.Random(1)
    for document in range(300):
        sentences = rng.randint(1, 7)
        for sentence in range(sentences):
            documents.extend([1000 * document + sentence] * rng.randint(1, 12))
            splits.append(len(documents))
        doc_splits.append(len(splits) - 1)
    corpus = TokenizedDocuments(
        ids=np.array(documents, np.int32),
        word_starts=np.ones(len(documents), bool),
        sentence_splits=np.array(splits),
        document_splits=np.array(doc_splits),
        cls_id=-1,
        sep_id=-2,
    )
    pairs = create_pairs(corpus, PretrainingOptions(seq_length=32, max_predictions_per_seq=5), random.Random(0))
    assert abs(pairs.next_sentence_labels.mean() - 0.5) < 0.03
    for row in range(len(pairs)):
        first, length = pairs.first_lengths[row], pairs.lengths[row]
        a, b = pairs.token_ids[row, 1 : first - 1], pairs.token_ids[row, first : length - 1]
        assert len(a) and len(b) and length <= 32 and pairs.token_ids[row, first - 1] == -2
        if pairs.next_sentence_labels[row] == 0:
            assert a[0] // 1000 == b[0] // 1000 and a.max() <= b.min(), "B must continue A"
        else:
            assert a[0] // 1000 != b[0] // 1000, "random B must come from another document"


def test_short_seq_prob_makes_shorter_pairs(tokenizer):
    corpus = tokenize_documents(make_documents(200), tokenizer)
    full = {}
    for prob in (0.0, 1.0):
        options = PretrainingOptions(seq_length=SEQ, max_predictions_per_seq=5, short_seq_prob=prob)
        full[prob] = (create_pairs(corpus, options, random.Random(0)).lengths == SEQ).mean()
    assert full[1.0] < 0.5 * full[0.0]


def test_tokenizes_word_by_word_and_marks_word_starts(tokenizer):
    corpus = tokenize_documents([[["甲乙", " unbelievable", "己", "，", " cat"]], [["丙丁戊"]]], tokenizer)
    tokens = [VOCAB[i] for i in corpus.ids]
    assert tokens == ["甲", "乙", "un", "##believ", "##able", "己", "，", "cat", "丙", "丁", "戊"]
    assert corpus.word_starts.tolist() == [1, 0, 1, 0, 0, 1, 1, 1, 1, 0, 0]
    assert corpus.sentence_splits.tolist() == [0, 8, 11] and corpus.document_splits.tolist() == [0, 1, 2]


@pytest.mark.parametrize("whole_word_masking", [True, False])
def test_whole_word_masking_keeps_words_together(tokenizer, whole_word_masking):
    split_words = 0
    for batch in take(dataset(tokenizer, whole_word_masking=whole_word_masking, max_predictions_per_seq=8), 20):
        ids, picked = originals(batch), chosen(batch)
        for word in (["甲", "乙"], ["丙", "丁", "戊"], ["un", "##believ", "##able"]):
            pattern = [VOCAB.index(token) for token in word]
            for row, start in zip(*np.nonzero(ids[:, : SEQ - len(word) + 1] == pattern[0]), strict=True):
                if ids[row, start : start + len(word)].tolist() == pattern:
                    split_words += len(set(picked[row, start : start + len(word)])) > 1
        if whole_word_masking:
            assert abs(batch["mask_weights"].sum() / batch["padding_mask"].sum() - 0.15) < 0.03
    assert (split_words == 0) == whole_word_masking


def test_is_deterministic_under_a_seed(tokenizer):
    documents = make_documents()
    first, again, other = (take(dataset(tokenizer, documents, seed=seed), 3) for seed in (7, 7, 8))
    for a, b in zip(first, again, strict=True):
        for name in a:
            np.testing.assert_array_equal(a[name], b[name])
    assert any((a["token_ids"] != c["token_ids"]).any() for a, c in zip(first, other, strict=True))


def test_each_epoch_visits_the_same_pairs_with_new_order_and_masks(tokenizer):
    documents = make_documents(30)
    epoch = epoch_size(documents, tokenizer)
    batches = take(dataset(tokenizer, documents, dupe_factor=1), 2 * epoch // BATCH + 1)
    ids = np.concatenate([originals(b) for b in batches])
    picked = np.concatenate([chosen(b) for b in batches])
    first, second = ids[:epoch], ids[epoch : 2 * epoch]
    assert sorted(map(bytes, first)) == sorted(map(bytes, second)), "the same pairs every epoch"
    assert (first != second).any(axis=1).mean() > 0.9, "in a new order"
    where = {bytes(row): index for index, row in enumerate(second)}
    same_masks = [(picked[i] == picked[epoch + where[bytes(row)]]).all() for i, row in enumerate(first)]
    assert np.mean(same_masks) < 0.2, "with new masks"


def test_start_batch_resumes_the_stream(tokenizer):
    documents = make_documents(30)
    full = take(dataset(tokenizer, documents, dupe_factor=2), 12)
    resumed = take(dataset(tokenizer, documents, dupe_factor=2, start_batch=7), 5)
    for a, b in zip(full[7:], resumed, strict=True):
        for name in a:
            np.testing.assert_array_equal(a[name], b[name])


def test_one_epoch_without_repeat(tokenizer):
    documents = make_documents(30)
    epoch = epoch_size(documents, tokenizer)
    batches = take(dataset(tokenizer, documents, repeat=False), 10**6)
    assert len(batches) == epoch // BATCH
    assert len({bytes(row) for b in batches for row in originals(b)}) > 0.9 * len(batches) * BATCH


def test_tfrecords_round_trip(tokenizer, tmp_path):
    paths = write_pretraining_tfrecords(
        make_documents(),
        tokenizer,
        tmp_path,
        seq_length=SEQ,
        max_predictions_per_seq=PREDICTIONS,
        dupe_factor=2,
        num_shards=3,
        seed=3,
    )
    assert [p.name for p in paths] == [f"pretraining-0000{i}-of-00003.tfrecord" for i in range(3)]
    assert not list(tmp_path.glob("*.tmp"))
    # Read the records independently, as Google's run_pretraining.py would.
    raw = [tf.train.Example.FromString(r.numpy()) for p in paths for r in tf.data.TFRecordDataset(str(p))]
    expected = {bytes(np.array(e.features.feature["input_ids"].int64_list.value, np.int32)): e for e in raw}
    batches = take(tfrecord_pretraining_dataset(str(tmp_path / "*.tfrecord"), BATCH, repeat=False), 10**6)
    assert len(batches) == len(raw) // BATCH
    for batch in batches:
        for row in range(BATCH):
            feature = expected[bytes(batch["token_ids"][row])].features.feature
            for ours, google in (
                ("segment_ids", "segment_ids"),
                ("padding_mask", "input_mask"),
                ("mask_positions", "masked_lm_positions"),
                ("mask_ids", "masked_lm_ids"),
            ):
                assert batch[ours][row].tolist() == list(feature[google].int64_list.value)
            assert batch["mask_weights"][row].tolist() == list(feature["masked_lm_weights"].float_list.value)
            assert batch["next_sentence_labels"][row] == feature["next_sentence_labels"].int64_list.value[0]
        assert batch["token_ids"].dtype == np.int32 and batch["mask_weights"].dtype == np.float32
    labels = [e.features.feature["next_sentence_labels"].int64_list.value[0] for e in raw]
    assert abs(np.mean(labels) - 0.5) < 0.1
    pattern = str(tmp_path / "*.tfrecord")
    stream = take(tfrecord_pretraining_dataset(pattern, BATCH), 3)
    resumed = take(tfrecord_pretraining_dataset(pattern, BATCH, start_batch=2), 1)[0]
    np.testing.assert_array_equal(resumed["token_ids"], stream[2]["token_ids"])


def test_tfrecords_are_deterministic(tokenizer, tmp_path):
    for name in ("a", "b"):
        write_pretraining_tfrecords(
            make_documents(),
            tokenizer,
            tmp_path / name,
            seq_length=SEQ,
            max_predictions_per_seq=PREDICTIONS,
            dupe_factor=1,
            num_shards=1,
        )
    name = "pretraining-00000-of-00001.tfrecord"
    assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    write_pretraining_tfrecords(make_documents(), tokenizer, tmp_path / "a", seq_length=SEQ, num_shards=2)
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [
        "pretraining-00000-of-00002.tfrecord",
        "pretraining-00001-of-00002.tfrecord",
        "pretraining_data.json",
    ]


def test_clear_errors_for_bad_input(tokenizer, tmp_path):
    with pytest.raises(ValueError, match="at least 2"):
        dataset(tokenizer, documents=[[["甲乙", "。"], ["丙丁戊"]]])
    with pytest.raises(ValueError, match="fewer than one batch of 16"):
        dataset(tokenizer, documents=make_documents(3))
    with pytest.raises(ValueError, match="max_predictions_per_seq=40"):
        dataset(tokenizer, max_predictions_per_seq=40)
    with pytest.raises(FileNotFoundError, match="no file matches"):
        tfrecord_pretraining_dataset(str(tmp_path / "*.tfrecord"))
    with tf.io.TFRecordWriter(str(tmp_path / "other.tfrecord")) as writer:
        writer.write(tf.train.Example().SerializeToString())
    with pytest.raises(ValueError, match="not a BERT pretraining TFRecord"):
        tfrecord_pretraining_dataset(str(tmp_path / "*.tfrecord"))

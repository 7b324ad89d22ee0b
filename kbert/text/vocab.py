"""WordPiece vocabularies: the special tokens, learning one from a corpus, reading and writing vocab.txt."""

import collections
import itertools
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import tensorflow as tf
import tensorflow_text as tft
from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib as learner

from kbert.io import write_text
from kbert.text.normalization import CJK_CHARS, normalize

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")

_CJK_CHAR = re.compile(f"[{CJK_CHARS}]")
# BERT's word splitting, as the tokenizer does it: at Unicode whitespace (RE2's \s alone is ASCII-only), and around
# each punctuation character (ASCII symbols count) and each CJK character, which are words of their own.
_SINGLES = r"[!-/:-@\[-`{-~\p{P}" + CJK_CHARS + "]"
_BREAKS = r"[\s\p{Zs}\x{2028}\x{2029}]+|" + _SINGLES
_COUNT_BATCH = 1024


def is_bracketed(token: str) -> bool:
    """A special token or placeholder such as `[SEP]` or `[unused7]`, never a fill-mask answer (a lone bracket is
    an ordinary token)."""
    return len(token) > 2 and token.startswith("[") and token.endswith("]")


def train_vocabulary(texts: Iterable[str], vocab_size: int, lowercase: bool = True,
                     fold_full_width: bool = False) -> list[str]:
    """Learns a WordPiece vocabulary of at most `vocab_size` tokens: the special tokens first ([PAD] is id 0),
    then every CJK character seen in `texts`, then pieces learned by tensorflow-text's WordPiece learner.

    Words are split the way `BertTokenizer(vocab, lowercase, fold_full_width)` splits them, so use the same
    normalisation there.
    """
    counts = _count_words(texts, lowercase, fold_full_width)
    cjk = sorted(word for word in counts if _CJK_CHAR.fullmatch(word))
    budget = vocab_size - len(SPECIAL_TOKENS) - len(cjk)
    if budget < 0:
        raise ValueError(
            f"vocab_size={vocab_size} is too small: the corpus has {len(cjk)} distinct CJK characters, each needs "
            f"its own token, plus {len(SPECIAL_TOKENS)} special tokens; use vocab_size >= "
            f"{len(SPECIAL_TOKENS) + len(cjk)}."
        )
    for word in cjk:
        del counts[word]
    learned = learner.learn(counts, budget, reserved_tokens=[], lower_thresh=1) if counts and budget else []
    vocab = list(dict.fromkeys([*SPECIAL_TOKENS, *cjk, *learned]))
    return vocab[:vocab_size]


def _count_words(texts: Iterable[str], lowercase: bool, fold_full_width: bool) -> collections.Counter:
    """Counts the words BERT's normalisation and basic splitting make of `texts` (CJK characters one word each)."""

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def split(batch: tf.Tensor) -> tf.Tensor:
        return tft.regex_split(normalize(batch, lowercase, fold_full_width), _BREAKS, _SINGLES).flat_values

    counts = collections.Counter()
    iterator = iter(texts)
    while batch := list(itertools.islice(iterator, _COUNT_BATCH)):
        counts.update(split(tf.constant(batch)).numpy())
    return collections.Counter({word.decode("utf-8"): count for word, count in counts.items()})


def load_vocabulary(path: str | os.PathLike) -> list[str]:
    """Reads a vocab.txt (Google's or Hugging Face's format: one token a line, line N is id N-1) unchanged."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"vocabulary file {path} not found; pass the path of a vocab.txt (one token a line).")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: byte {error.start} is not UTF-8; a vocab.txt must be UTF-8 text.") from error
    tokens = text.split("\n")
    if tokens[-1] == "":
        tokens.pop()
    tokens = [token.removesuffix("\r") for token in tokens]
    for line, token in enumerate(tokens, start=1):
        if not token:
            raise ValueError(f"{path}:{line}: empty line; a vocab.txt holds exactly one token on every line.")
    return tokens


def save_vocabulary(vocab: Sequence[str], path: str | os.PathLike) -> None:
    """Writes `vocab` as a vocab.txt, one token a line, atomically (a reader never sees a half-written file)."""
    path = Path(path)
    for index, token in enumerate(vocab):
        if token.splitlines() != [token]:
            raise ValueError(f"token {index} ({token!r}) cannot be saved: a token must be one non-empty line.")
    write_text(path, "".join(token + "\n" for token in vocab))

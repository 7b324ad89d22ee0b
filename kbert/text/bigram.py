"""A character-bigram fill-in model: the count table a masked LM must beat before it has learned anything beyond
its neighbours. It scores a character c between `left` and `right` as P(c | left) · P(right | c).

>>> model = CharacterBigram.fit(["北京是中国的首都。", "上海是中国的城市。"])
>>> model.top_k("国", "都", k=1)
['的']
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Sequence

import numpy as np

BOUNDARY = "\n"  # stands for the start and the end of a sentence


class CharacterBigram:
    """Character bigram counts of a set of sentences, with add-`smoothing` estimates of both conditionals."""

    def __init__(self, characters: Sequence[str], pairs: collections.Counter, smoothing: float = 0.01):
        self.characters = list(characters)  # the candidates: every character seen, the boundary excluded
        self.index = {char: i for i, char in enumerate(self.characters)}
        self.smoothing = smoothing
        size = len(self.characters)
        follows: dict[str, dict[int, int]] = collections.defaultdict(dict)  # left -> {candidate: count}
        precedes: dict[str, dict[int, int]] = collections.defaultdict(dict)  # right -> {candidate: count}
        self._as_left = np.zeros(size)  # n(c, anything): c followed by something, boundary included
        for (left, right), count in pairs.items():
            if right in self.index:
                follows[left][self.index[right]] = count
            if left in self.index:
                precedes[right][self.index[left]] = count
                self._as_left[self.index[left]] += count
        self._follows = {key: _sparse(value) for key, value in follows.items()}
        self._precedes = {key: _sparse(value) for key, value in precedes.items()}

    @classmethod
    def fit(cls, sentences: Iterable[str], smoothing: float = 0.01) -> CharacterBigram:
        """Counts every adjacent pair of characters in `sentences`, sentence boundaries included."""
        pairs: collections.Counter = collections.Counter()
        for sentence in sentences:
            text = BOUNDARY + sentence + BOUNDARY
            pairs.update(zip(text[:-1], text[1:], strict=True))
        characters = sorted({char for pair in pairs for char in pair} - {BOUNDARY})
        if not characters:
            raise ValueError("a bigram model needs at least one sentence with a character")
        return cls(characters, pairs, smoothing)

    def log_scores(self, left: str, right: str) -> np.ndarray:
        """log P(c | left) + log P(right | c) for every candidate c, `[len(characters)]`; `left` or `right` is
        `BOUNDARY` at a sentence's edge."""
        size, alpha = len(self.characters), self.smoothing
        forward = np.full(size, alpha)
        indices, counts = self._follows.get(left, _EMPTY)
        forward[indices] += counts
        backward = np.full(size, alpha)
        indices, counts = self._precedes.get(right, _EMPTY)
        backward[indices] += counts
        # P(c | left) shares one denominator over c, so it drops out of the ranking; P(right | c) does not.
        return np.log(forward) + np.log(backward) - np.log(self._as_left + alpha * (size + 1))

    def top_k(self, left: str, right: str, k: int = 5) -> list[str]:
        """The `k` likeliest characters between `left` and `right`, best first."""
        scores = self.log_scores(left, right)
        best = np.argpartition(-scores, min(k, len(scores) - 1))[:k]
        return [self.characters[i] for i in best[np.argsort(-scores[best], kind="stable")]]


_EMPTY = (np.zeros(0, np.int64), np.zeros(0))


def _sparse(counts: dict[int, int]) -> tuple[np.ndarray, np.ndarray]:
    return np.fromiter(counts.keys(), np.int64, len(counts)), np.fromiter(counts.values(), float, len(counts))

"""Held-out characters to fill in: sentences of held-out text with one Chinese character hidden, the common ground
on which a masked LM and the character-bigram baseline are compared (kbert.training.fill_mask_quality)."""

from __future__ import annotations

import dataclasses
import os
import random
import re
from collections.abc import Collection, Sequence
from pathlib import Path

from kbert.text.corpus import Document
from kbert.text.normalization import CJK_CHARS

_CJK_CHAR = re.compile(f"[{CJK_CHARS}]")
MIN_CHARS, MAX_CHARS = 12, 60  # the length of the sentences fill-mask is tried on
# Everyday sentences written for kbert's evaluation (greetings, shopping, weather, school, work), for
# read_marked_sentences; the embedded everyday corpus leaves out what overlaps them.
EVERYDAY_SENTENCES = Path(__file__).with_name("everyday_zh.tsv")


@dataclasses.dataclass(frozen=True)
class MaskedCharacter:
    """A held-out sentence (`document`: its index in the held-out split) whose character `position` is hidden."""

    sentence: str
    position: int
    document: int

    @property
    def answer(self) -> str:
        return self.sentence[self.position]

    def masked(self, mask_token: str = "[MASK]") -> str:
        """The sentence with the character replaced by `mask_token`."""
        return self.sentence[:self.position] + mask_token + self.sentence[self.position + 1:]


def masked_characters(documents: Sequence[Document], vocab: Collection[str], count: int, seed: int = 0,
                      exclude: Collection[str] = (), min_chars: int = MIN_CHARS, max_chars: int = MAX_CHARS
                      ) -> list[MaskedCharacter]:
    """Up to `count` characters to predict: CJK characters that are tokens of `vocab`, in sentences of `min_chars`
    to `max_chars` characters that are not in `exclude` (the training sentences). Seeded; one character per sentence
    until every sentence has one, so the first ones come from different sentences."""
    rng = random.Random(seed)
    vocab = set(vocab)
    sentences: dict[str, tuple[int, list[int]]] = {}
    for index, document in enumerate(documents):
        for words in document:
            text = "".join(words)
            positions = [i for i, char in enumerate(text) if char in vocab and _CJK_CHAR.fullmatch(char)]
            if min_chars <= len(text) <= max_chars and positions and text not in exclude:
                sentences.setdefault(text, (index, positions))
    order = list(sentences.items())
    rng.shuffle(order)
    for _, (_, positions) in order:
        rng.shuffle(positions)
    chosen = []
    for depth in range(max((len(positions) for _, (_, positions) in order), default=0)):
        for text, (index, positions) in order:
            if depth < len(positions) and len(chosen) < count:
                chosen.append(MaskedCharacter(text, positions[depth], index))
    return chosen


def read_marked_sentences(path: str | os.PathLike) -> list[tuple[str, MaskedCharacter]]:
    """(topic, example) from a file of `topic<TAB>sentence` lines whose character to fill in is written 【x】;
    blank lines and `#` comments are skipped. An error names the file and line."""
    examples = []
    with open(path, encoding="utf-8") as file:
        for number, line in enumerate(file, start=1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            topic, _, sentence = line.partition("\t")
            marked = re.fullmatch(r"(.*)【(.)】(.*)", sentence)
            if not marked or "【" in marked[1] + marked[3]:
                raise ValueError(f"{path}:{number}: expected 'topic<TAB>sentence' with one character written "
                                 f"【x】, got {line!r}")
            examples.append((topic, MaskedCharacter(marked[1] + marked[2] + marked[3], len(marked[1]), number)))
    return examples

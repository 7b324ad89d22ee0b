"""What each tab does, as plain functions of the page's inputs: the app wires them to widgets, tests call them.

Problems the person can fix raise `PageError` with a message for the page; everything else is a bug.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import dataclass, field

import numpy as np

from ui.store import ModelStore, PageError

MAX_CHARS = 10_000  # longer input is cut here, before tokenization; the model's window is far shorter anyway
MAX_TOP_K = 10  # the candidates an export keeps per [MASK] (a model may keep fewer; the handler clamps)
MASK = "[MASK]"

# Units a person can click to mask: a literal [MASK], a run of spaces, a run of word characters, any other character.
_UNITS = re.compile(r"\[MASK\]|\s+|\w+|.", re.DOTALL)
_ANY_MASK = re.compile(r"\[mask\]", re.IGNORECASE)


@dataclass
class FillMaskResult:
    """The predictions for each [MASK] (candidates best first), the text with the best guesses filled in, the
    model's tokens of the text (with [CLS]/[SEP]), and notes the person should read (truncation, [UNK])."""

    text: str
    masks: list[list[tuple[str, float]]]
    segments: list[tuple[str, bool]]  # the completed text in pieces: (piece, whether it is a model's guess)
    tokens: list[str]
    notes: list[str] = field(default_factory=list)

    @property
    def completed(self) -> str:
        return "".join(piece for piece, _ in self.segments)


@dataclass
class PairResult:
    """P(B follows A) and, swapped, P(A follows B); a pair classifier's label probabilities when one was picked."""

    is_next: float
    is_next_swapped: float
    labels: dict[str, float] | None
    notes: list[str] = field(default_factory=list)


@dataclass
class ClassifyResult:
    """A classifier's label probabilities, its tokens, each token's attribution ([n]), attention maps
    ([layers, heads, n, n], n = len(tokens)) and notes."""

    scores: dict[str, float]
    tokens: list[str]
    attributions: np.ndarray
    attentions: np.ndarray
    notes: list[str] = field(default_factory=list)


def clean_text(text: str | None, what: str = "text") -> tuple[str, list[str]]:
    """Cuts `text` to MAX_CHARS and drops control characters (keeping tabs and newlines); says what it changed.
    Raises PageError if nothing readable is left."""
    text = text or ""
    notes = []
    if len(text) > MAX_CHARS:
        notes.append(f"The {what} was {len(text):,} characters; only the first {MAX_CHARS:,} were kept.")
        text = text[:MAX_CHARS]
    kept = "".join(c for c in text if c in "\t\n" or unicodedata.category(c) != "Cc")
    if len(kept) < len(text):
        notes.append(f"Removed {len(text) - len(kept)} control character(s) from the {what}.")
    if not kept.strip():
        raise PageError(f"The {what} is empty: type a sentence (or pick an example below).")
    return kept, notes


def words(text: str | None) -> list[tuple[str, int]]:
    """The clickable units of `text` as (unit, index into `_units(text)`): every unit except runs of space.

    A unit is a literal [MASK], a run of letters or digits, or one character; wide characters (Chinese, Japanese,
    Korean, emoji) are units of their own, so clicking masks one character of a Chinese sentence.
    """
    return [(unit, index) for index, unit in enumerate(_units(text or "")) if not unit.isspace()]


def mask_word(text: str | None, index: int) -> str:
    """`text` with its unit number `index` (as `words` numbers them) replaced by [MASK]; spaces stay as they are."""
    units = _units(text or "")
    if 0 <= index < len(units) and not units[index].isspace():
        units[index] = MASK
    return "".join(units)


def _units(text: str) -> list[str]:
    units = []
    for match in _UNITS.finditer(text):
        piece = match.group()
        if piece == MASK or len(piece) == 1 or piece.isspace():
            units.append(piece)
            continue
        for wide, run in itertools.groupby(piece, key=lambda c: unicodedata.east_asian_width(c) in "WF"):
            if wide:
                units.extend(run)
            else:
                units.append("".join(run))
    return units


def fill_mask(store: ModelStore, model_path: str | None, text: str | None, top_k: int = 5) -> FillMaskResult:
    """Predicts every [MASK] in `text` with the masked-LM head of the model at `model_path`; [MASK]s beyond the
    model's window are left unpredicted, with a note."""
    text, notes = clean_text(_ANY_MASK.sub(MASK, text or ""))
    if MASK not in text:
        raise PageError(f"The text has no {MASK}: type {MASK} where a word should be guessed, or click a word in "
                        "the row below the box to mask it.")
    fill = store.get("fill-mask", model_path)
    written, most = text.count(MASK), fill.metadata["max_masks"]
    if written > most:
        raise PageError(f"The text has {written} {MASK}s; this model answers at most {most} per text: remove some.")
    tokens = fill.inspect(text)["tokens"]
    notes += _tokenization_notes(fill, text, tokens)
    seen = tokens.count(MASK)
    if seen == 0:
        raise PageError(f"Every {MASK} lies beyond the model's {fill.seq_length}-token window: put one nearer the "
                        "start of the text.")
    if seen < written:
        notes.append(f"Only the first {seen} of the {written} {MASK}s fit in the model's window; the others were "
                     "not predicted.")
        text = MASK.join(text.split(MASK)[:seen + 1])  # the text up to the first [MASK] beyond the window
    top_k = min(max(int(top_k or 5), 1), fill.metadata["top_k"])
    masks = [[(c["token"], c["score"]) for c in candidates] for candidates in fill(text, top_k=top_k)]
    return FillMaskResult(text, masks, _fill_in(text, masks), tokens, notes)


def _fill_in(text: str, masks: list[list[tuple[str, float]]]) -> list[tuple[str, bool]]:
    """`text` in pieces, each predicted [MASK] replaced by its best candidate ("##" dropped) and marked a guess."""
    pieces = text.split(MASK)
    segments = [(pieces[0], False)]
    for number, piece in enumerate(pieces[1:]):
        guess = masks[number][0][0].removeprefix("##") if number < len(masks) else None
        segments += [(MASK, False) if guess is None else (guess, True), (piece, False)]
    return [segment for segment in segments if segment[0]]


def _tokenization_notes(pipe, text: str, tokens: list[str], text_pair: str | None = None) -> list[str]:
    notes = []
    if pipe.truncated(text, text_pair):
        notes.append(f"The input is longer than the model's window of {pipe.seq_length} tokens; only the first "
                     f"{len(tokens)} tokens (with [CLS] and [SEP]) were read.")
    unknown = tokens.count("[UNK]")
    if unknown:
        notes.append(f"{unknown} piece(s) became [UNK]: the vocabulary has no token for them (emoji, rare "
                     "characters, or a script the model was not trained on), so the model cannot see what they were.")
    return notes


def sentence_pair(store: ModelStore, nsp_path: str | None, classifier_path: str | None,
                  first: str | None, second: str | None) -> PairResult:
    """P(B follows A) from the next-sentence head, both ways round; and a pair classifier's labels if one is picked."""
    first, notes = clean_text(first, "first sentence (A)")
    second, more = clean_text(second, "second sentence (B)")
    notes += more
    nsp = store.get("next-sentence", nsp_path)
    forward, backward = nsp([first, second], [second, first])
    tokens = nsp.inspect(first, second)["tokens"]
    notes += _tokenization_notes(nsp, first, tokens, second)
    labels = None
    if classifier_path:
        labels = {label: float(p) for label, p in store.get("classify", classifier_path)([first], [second])[0]
                  ["scores"].items()}
    return PairResult(float(forward["is_next"]), float(backward["is_next"]), labels, notes)


def classify(store: ModelStore, model_path: str | None, text: str | None) -> ClassifyResult:
    """A classifier's label probabilities for `text`, with the attention maps and token attributions behind them."""
    text, notes = clean_text(text)
    classifier = store.get("classify", model_path)
    seen = classifier.inspect(text)
    tokens = list(seen["tokens"])
    notes += _tokenization_notes(classifier, text, tokens)
    scores = {label: float(p) for label, p in seen["scores"].items()}
    return ClassifyResult(scores, tokens, np.asarray(seen["attributions"], "float32"),
                          np.asarray(seen["attentions"], "float32"), notes)


def model_info(store: ModelStore, model_path: str | None) -> dict:
    """What the model's export says about itself (config, vocabulary, training data, metrics, card)."""
    tasks = {entry.path: entry.tasks for entry in store.entries}.get(str(model_path))
    if not tasks:
        raise PageError(store.empty_message() if not store.entries else "Pick a model first.")
    return dict(store.get(tasks[0], model_path).info)

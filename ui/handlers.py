"""What each tab computes, as plain functions of the page's inputs: the app wires them to widgets, tests call them.

Problems the person can fix raise `PageError` with a `Text` for the page; everything else is a bug.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kbert.pipeline import MissingSignatureError
from ui.store import ModelStore, PageError
from ui.texts import Text

MAX_CHARS = 10_000  # longer input is cut here, before tokenization; the model's window is far shorter anyway
BEAM_WIDTH = 5  # fillings the joint filling of several [MASK]s keeps at each step
SPECIAL = ("[CLS]", "[SEP]", "[PAD]")  # BERT's tokens that stand for no text
UNKNOWN = "[UNK]"
PAGE_MASK = "[MASK]"  # BERT's mask token, for a page with no fill-mask model to read one from


@dataclass
class FillMaskResult:
    """The candidates for each [MASK] (best first), the model's tokens of the text (with [CLS]/[SEP]), how the model
    rated each clicked-away original (`Pipeline.score`'s dict, with `pieces`; None where no click), the joint filling
    when there are several [MASK]s, and notes the person should read."""

    text: str
    mask: str
    masks: list[list[tuple[str, float]]]
    tokens: list[str]
    originals: list[dict[str, Any] | None] = field(default_factory=list)
    joint: dict[str, Any] | None = None
    notes: list[Text] = field(default_factory=list)

    def filled(self, choice: dict[int, str] | None = None) -> list[tuple[str, bool]]:
        """The text in pieces, each predicted [MASK] replaced by `choice[i]` or else its first candidate ("##"
        dropped): (piece, whether it is a guess). [MASK]s beyond the window stay."""
        choice = choice or {}
        pieces = self.text.split(self.mask)
        segments = [(pieces[0], False)]
        for number, piece in enumerate(pieces[1:]):
            guess = choice.get(number, self.masks[number][0][0]) if number < len(self.masks) else None
            segments += [(self.mask, False) if guess is None else (guess.removeprefix("##"), True), (piece, False)]
        return [segment for segment in segments if segment[0]]

    @property
    def completed(self) -> str:
        return "".join(piece for piece, _ in self.filled())


@dataclass
class PairResult:
    """P(B follows A) and, swapped, P(A follows B); the tokens the model read and their segment ids; a pair
    classifier's label probabilities when one was picked."""

    is_next: float
    is_next_swapped: float
    tokens: list[str]
    segments: list[int]
    labels: dict[str, float] | None
    notes: list[Text] = field(default_factory=list)


@dataclass
class ClassifyResult:
    """A classifier's label probabilities, its tokens and their segments, gradient x input per token (`[n]`), the
    integrated-gradients answer of `ClassifyPipeline.integrated_gradients` (None for an export without it), notes."""

    scores: dict[str, float]
    label: str
    tokens: list[str]
    segments: list[int]
    attributions: np.ndarray
    integrated: dict[str, Any] | None
    ig_steps: int | None
    notes: list[Text] = field(default_factory=list)


@dataclass
class AttentionResult:
    """The tokens (with [CLS]/[SEP]), their segment ids and every attention map `[layers, heads, n, n]`."""

    tokens: list[str]
    segments: list[int]
    attentions: np.ndarray
    notes: list[Text] = field(default_factory=list)


@dataclass
class EmbeddingResult:
    """The parts of each token's input vector (`Pipeline.embedding_parts`), the tokens, their segments and how the
    model makes position embeddings (`learned` or `sinusoidal`)."""

    tokens: list[str]
    segments: list[int]
    parts: dict[str, np.ndarray]
    position_type: str
    notes: list[Text] = field(default_factory=list)


def clean_text(text: str | None, what: Text, mask: str | None = None) -> tuple[str, list[Text]]:
    """Cuts `text` to MAX_CHARS and drops control characters (keeping tabs and newlines); says what it changed (what
    was cut, and how many `mask`s with it). Raises PageError if nothing readable is left."""
    text = text or ""
    notes = []
    if len(text) > MAX_CHARS:
        kept, cut = text[:MAX_CHARS], text[MAX_CHARS:]
        notes.append(Text("note.cut", what=what, length=len(text), kept=MAX_CHARS, cut=len(cut),
                          start=_plain(cut[:12])))
        if mask and text.count(mask) > kept.count(mask):
            notes.append(Text("note.cut_masks", count=text.count(mask) - kept.count(mask), mask=mask))
        text = kept
    kept = "".join(c for c in text if c in "\t\n" or unicodedata.category(c) != "Cc")
    if len(kept) < len(text):
        notes.append(Text("note.control", what=what, count=len(text) - len(kept)))
    whole = "".join(c for c in kept if unicodedata.category(c) != "Cs")  # a lone surrogate cannot reach the model
    if len(whole) < len(kept):
        notes.append(Text("note.surrogates", what=what, count=len(kept) - len(whole)))
        kept = whole
    if not kept.strip():
        raise PageError(Text("error.empty", what=what))
    return kept, notes


def _plain(text: str) -> str:
    """`text` safe to quote inside Markdown: whitespace runs as one space, Markdown's punctuation escaped."""
    return re.sub(r"([\\`*_\[\]<>#|~])", r"\\\1", " ".join(text.split()))


def page_mask(store: ModelStore, model_path: str | None = None) -> str:
    """The mask token of the fill-mask model at `model_path` (or of the one preselected), from its kbert.json."""
    entry = store.best("fill-mask") if not model_path else None
    path = model_path or (entry.path if entry else None)
    return store.get("fill-mask", path).metadata["mask_token"] if path else PAGE_MASK


def fill_limits(store: ModelStore, model_path: str | None) -> dict[str, int]:
    """What the model at `model_path` answers (from its kbert.json): `top_k` candidates per [MASK], at most
    `max_masks` [MASK]s, a `window` of tokens."""
    fill = store.get("fill-mask", model_path)
    return {"top_k": fill.metadata["top_k"], "max_masks": fill.metadata["max_masks"], "window": fill.seq_length}


def words(text: str | None, mask: str) -> list[tuple[str, int]]:
    """The clickable units of `text` as (unit, index into `_units(text)`): every unit except runs of space.

    A unit is a literal `mask`, a run of letters or digits, or one character; wide characters (Chinese, Japanese,
    Korean, emoji) are units of their own, so clicking masks one character of a Chinese sentence.
    """
    return [(unit, index) for index, unit in enumerate(_units(text or "", mask)) if not unit.isspace()]


def mask_word(text: str | None, index: int, mask: str, originals: dict[int, str] | None = None
              ) -> tuple[str, dict[int, str]]:
    """`text` with its unit number `index` (as `words` numbers them) replaced by `mask`, and `originals` (what the
    i-th mask of the text stood for) updated to the new text. Spaces and masks stay as they are."""
    units, originals = _units(text or "", mask), dict(originals or {})
    if not 0 <= index < len(units) or units[index].isspace() or units[index] == mask:
        return "".join(units), originals
    ordinal = units[:index].count(mask)
    shifted = {number + (number >= ordinal): original for number, original in originals.items()}
    original, units[index] = units[index], mask
    return "".join(units), {**shifted, ordinal: original}


@functools.cache
def _unit_pattern(mask: str) -> re.Pattern:
    return re.compile(rf"{re.escape(mask)}|\s+|\w+|.", re.DOTALL)


def _units(text: str, mask: str) -> list[str]:
    units = []
    for match in _unit_pattern(mask).finditer(text):
        piece = match.group()
        if piece == mask or len(piece) == 1 or piece.isspace():
            units.append(piece)
            continue
        for wide, run in itertools.groupby(piece, key=lambda c: unicodedata.east_asian_width(c) in "WF"):
            if wide:
                units.extend(run)
            else:
                units.append("".join(run))
    return units


def fill_mask(store: ModelStore, model_path: str | None, text: str | None, top_k: int = 5,
              originals: dict[int, str] | None = None) -> FillMaskResult:
    """Predicts every [MASK] in `text` with the masked-LM head of the model at `model_path`; [MASK]s beyond the
    model's window are left unpredicted, with a note. `originals` (mask number -> the word a click replaced) are
    ranked among the candidates; with several [MASK]s, the joint filling is found too."""
    fill = store.get("fill-mask", model_path)
    mask, most = fill.metadata["mask_token"], fill.metadata["max_masks"]
    text, notes = clean_text(re.sub(re.escape(mask), mask, text or "", flags=re.IGNORECASE), Text("what.text"), mask)
    written = text.count(mask)
    if not written:
        raise PageError(Text("error.no_mask", mask=mask))
    if written > most:
        raise PageError(Text("error.too_many_masks", count=written, mask=mask, most=most))
    tokens = fill.inspect(text)["tokens"]
    notes += _tokenization_notes(fill, text, tokens)
    seen = tokens.count(mask)
    if seen == 0:
        raise PageError(Text("error.masks_beyond_window", mask=mask, window=fill.seq_length))
    if seen < written:
        notes.append(Text("note.masks_beyond_window", written=written, seen=seen, mask=mask))
        text = mask.join(text.split(mask)[:seen + 1])  # the text up to the first [MASK] beyond the window
    top_k = min(max(int(top_k or 5), 1), fill.metadata["top_k"])
    masks = [[(c["token"], c["score"]) for c in candidates] for candidates in fill(text, top_k=top_k)]
    result = FillMaskResult(text, mask, masks, tokens, notes=notes)
    result.originals, more = _rank_originals(fill, text, seen, originals or {})
    result.notes += more
    if seen > 1:
        result.joint = fill.fill_jointly(text, beam_width=BEAM_WIDTH)
    return result


def _rank_originals(fill, text: str, seen: int, originals: dict[int, str]) -> tuple[list, list[Text]]:
    """Per predicted [MASK], how the model rates the word a click replaced there (None where there was none)."""
    wanted = {number: original for number, original in originals.items() if number < seen}
    if not wanted:
        return [None] * seen, []
    try:
        scores = fill.score(text, [wanted.get(number, "") for number in range(seen)])
        pieces = dict(zip(wanted, fill.tokenize(list(wanted.values())), strict=True))
    except MissingSignatureError:
        return [None] * seen, [Text("error.missing_signature", signature="fill_mask_scores", path=str(fill.path))]
    return [{**score, "pieces": pieces[number]} if number in wanted else None
            for number, score in enumerate(scores)], []


def _tokenization_notes(pipe, text: str, tokens: list[str], text_pair: str | None = None) -> list[Text]:
    notes = []
    if pipe.truncated(text, text_pair):
        notes.append(Text("note.window", window=pipe.seq_length, kept=len(tokens)))
    if UNKNOWN in tokens:
        notes += _unknown_notes(pipe, [text, text_pair or ""], tokens.count(UNKNOWN))
    return notes


def _unknown_notes(pipe, texts: list[str], count: int) -> list[Text]:
    """Which words of `texts` became [UNK], and the full-width forms (１ for 1, ！ for !) the vocabulary has."""
    if not pipe.supports("tokenize"):
        return [Text("note.unknown_count", count=count)]
    mask = pipe.metadata["mask_token"]
    units = list(dict.fromkeys(unit for text in texts for unit, _ in words(text, mask)[:pipe.seq_length]))
    unknown = [unit for unit, pieces in zip(units, pipe.tokenize(units), strict=True) if UNKNOWN in pieces]
    if not unknown:
        return [Text("note.unknown_count", count=count)]
    notes = [Text("note.unknown", pieces="".join(f"「{_plain(unit)}」" for unit in unknown[:20]))]
    wide = {unit: "".join(chr(ord(c) + 0xFEE0) for c in unit) for unit in unknown
            if all("!" <= c <= "~" for c in unit)}
    if wide:
        known = [(unit, form) for (unit, form), pieces in zip(wide.items(), pipe.tokenize(list(wide.values())),
                                                              strict=True) if UNKNOWN not in pieces]
        if known:
            notes.append(Text("note.full_width", forms=", ".join(f"{_plain(u)} → {f}" for u, f in known[:20])))
    return notes


def segment_ids(tokens: list[str]) -> list[int]:
    """0 up to and including the first [SEP] (sentence A, with [CLS]), 1 after it (sentence B)."""
    first_sep = tokens.index("[SEP]") if "[SEP]" in tokens else len(tokens)
    return [int(i > first_sep) for i in range(len(tokens))]


def _optional_pair(text_pair: str | None) -> tuple[str | None, list[Text]]:
    if not (text_pair or "").strip():
        return None, []
    return clean_text(text_pair, Text("what.second"))


def sentence_pair(store: ModelStore, nsp_path: str | None, classifier_path: str | None,
                  first: str | None, second: str | None) -> PairResult:
    """P(B follows A) from the next-sentence head, both ways round; and a pair classifier's labels if one is picked."""
    first, notes = clean_text(first, Text("what.first"))
    second, more = clean_text(second, Text("what.second"))
    notes += more
    nsp = store.get("next-sentence", nsp_path)
    forward, backward = nsp([first, second], [second, first])
    tokens = nsp.inspect(first, second)["tokens"]
    notes += _tokenization_notes(nsp, first, tokens, second)
    labels = None
    if classifier_path:
        labels = {label: float(p) for label, p in store.get("classify", classifier_path)([first], [second])[0]
                  ["scores"].items()}
    return PairResult(float(forward["is_next"]), float(backward["is_next"]), tokens, segment_ids(tokens), labels,
                      notes)


def classify(store: ModelStore, model_path: str | None, text: str | None, text_pair: str | None = None
             ) -> ClassifyResult:
    """A classifier's label probabilities for `text` (or the pair), with two attributions per token: gradient x
    input and integrated gradients (when the export has them)."""
    text, notes = clean_text(text, Text("what.text"))
    pair, more = _optional_pair(text_pair)
    notes += more
    classifier = store.get("classify", model_path)
    seen = classifier.inspect(text, pair)
    tokens = list(seen["tokens"])
    notes += _tokenization_notes(classifier, text, tokens, pair)
    try:
        integrated = classifier.integrated_gradients(text, pair)
    except MissingSignatureError:
        integrated = None
        notes.append(Text("error.missing_signature", signature="integrated_gradients", path=str(classifier.path)))
    return ClassifyResult({label: float(p) for label, p in seen["scores"].items()}, seen["label"], tokens,
                          segment_ids(tokens), np.asarray(seen["attributions"], "float32"), integrated,
                          classifier.metadata.get("ig_steps"), notes)


def attention(store: ModelStore, model_path: str | None, first: str | None, second: str | None = None
              ) -> AttentionResult:
    """Every attention map of the model at `model_path` (any kind of model) for a text or a pair."""
    first, notes = clean_text(first, Text("what.first"))
    pair, more = _optional_pair(second)
    pipe = _any_pipeline(store, model_path)
    seen = pipe.inspect(first, pair)
    tokens = list(seen["tokens"])
    notes += more + _tokenization_notes(pipe, first, tokens, pair)
    return AttentionResult(tokens, segment_ids(tokens), np.asarray(seen["attentions"], "float32"), notes)


def embeddings(store: ModelStore, model_path: str | None, first: str | None, second: str | None = None
               ) -> EmbeddingResult:
    """The token, segment and position embeddings of each token of a text or a pair, their sum and its LayerNorm."""
    first, notes = clean_text(first, Text("what.first"))
    pair, more = _optional_pair(second)
    pipe = _any_pipeline(store, model_path)
    try:
        parts = pipe.embedding_parts(first, pair)
    except MissingSignatureError:
        raise PageError(Text("error.missing_signature", signature="embedding_parts", path=str(pipe.path))) from None
    tokens = parts.pop("tokens")
    segments = [int(s) for s in parts.pop("segment_ids")]
    notes += more + _tokenization_notes(pipe, first, tokens, pair)
    return EmbeddingResult(tokens, segments, parts, pipe.info["config"].get("position_embedding_type", "learned"),
                           notes)


def _any_pipeline(store: ModelStore, model_path: str | None):
    """A pipeline on the model at `model_path`, for what every export can do (inspect, embeddings, its card)."""
    return store.get(store.check(model_path).tasks[0], model_path)


def model_info(store: ModelStore, model_path: str | None) -> dict:
    """What the model's export says about itself (config, vocabulary, training data, metrics, card)."""
    return dict(_any_pipeline(store, model_path).info)

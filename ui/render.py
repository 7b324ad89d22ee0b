"""How results look in the page, in its language: HTML for candidates and tokens, Markdown for notes, summaries and
model details, values for Gradio's widgets. (Charts are in `ui.views`.)"""

from __future__ import annotations

import unicodedata
from html import escape
from typing import Any

import numpy as np

from ui.handlers import BEAM_WIDTH, SPECIAL, UNKNOWN, ClassifyResult, FillMaskResult, PairResult
from ui.texts import Text, say, t
from ui.views import SEGMENT_COLORS

CSS = f"""
.kb-completed {{ font-size: 1.25rem; margin: 0.25rem 0 0.75rem; }}
.kb-completed mark, .kb-sentence mark {{ background: #bbf7d0; border-radius: 4px; padding: 0 2px; }}
.kb-masks {{ display: flex; flex-wrap: wrap; gap: 1.5rem; }}
.kb-mask {{ min-width: 18rem; max-width: 40rem; flex: 1; }}
.kb-mask-title {{ font-weight: 600; margin-bottom: 0.25rem; }}
.kb-cand {{ display: grid; grid-template-columns: 5rem 8rem 4rem 1fr; align-items: center; gap: 0.5rem;
            margin: 2px 0; }}
.kb-tok {{ font-family: var(--font-mono, monospace); overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }}
.kb-bar {{ background: #e5e7eb; border-radius: 4px; height: 0.9rem; overflow: hidden; }}
.kb-bar > span {{ display: block; height: 100%; background: #f97316; }}
.kb-p {{ text-align: right; font-variant-numeric: tabular-nums; }}
.kb-sentence {{ color: #4b5563; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }}
.kb-original {{ margin-top: 0.35rem; padding: 0.25rem 0.5rem; background: #fef3c7; border-radius: 4px; }}
.kb-joint {{ margin-top: 1rem; padding: 0.5rem 0.75rem; border-left: 4px solid #16a34a; background: #f0fdf4; }}
.kb-tokens {{ display: flex; flex-wrap: wrap; gap: 3px; }}
.kb-chip {{ border: 1px solid #d1d5db; border-radius: 4px; padding: 0 4px; font-family: var(--font-mono, monospace);
           display: inline-flex; flex-direction: column; align-items: center; }}
.kb-chip small {{ font-size: 0.7rem; color: #6b7280; }}
.kb-chip.kb-special {{ background: #dbeafe; }}
.kb-chip.kb-mask-token {{ background: #bbf7d0; }}
.kb-chip.kb-unk {{ background: #fecaca; border-color: #ef4444; }}
.kb-chip.kb-seg-0 {{ border-bottom: 3px solid {SEGMENT_COLORS[0]}; }}
.kb-chip.kb-seg-1 {{ border-bottom: 3px solid {SEGMENT_COLORS[1]}; }}
#details table td:first-child, #details table th:first-child {{ white-space: nowrap; word-break: keep-all; }}
#details table td {{ overflow-wrap: anywhere; }}
"""


def fill_mask_html(result: FillMaskResult, lang: str) -> str:
    """The sentence with each [MASK]'s first candidate, one block per [MASK] (each candidate with its bar and the
    whole sentence it makes; the clicked-away original's rank), then the joint filling of several [MASK]s."""
    mask = result.mask
    blocks = []
    for number, candidates in enumerate(result.masks):
        rows = "".join(
            f'<div class="kb-cand" data-token="{escape(token)}" data-score="{score:.6f}">'
            f'<span class="kb-tok" title="{escape(token)}">{escape(token)}</span>'
            f'<span class="kb-bar"><span style="width:{100 * score:.1f}%"></span></span>'
            f'<span class="kb-p">{_percent(score)}</span>'
            f'<span class="kb-sentence">{_marked(result.filled({number: token}), only=number)}</span></div>'
            for token, score in candidates)
        original = result.originals[number] if number < len(result.originals) else None
        title = escape(t("fill.mask_title", lang, number=number + 1, mask=mask))
        blocks.append(f'<div class="kb-mask" data-mask="{number + 1}"><div class="kb-mask-title">{title}</div>'
                      f"{rows}{_original_html(original, mask, lang)}</div>")
    html = (f'<div class="kb-completed kb-best"><span>{escape(t("fill.best", lang, mask=mask))}</span> '
            f"{_marked(result.filled())}</div>"
            f'<div class="kb-masks">{"".join(blocks)}</div>')
    if result.joint is not None:
        html += _joint_html(result, lang)
    return html


def _marked(segments: list[tuple[str, bool]], only: int | None = None) -> str:
    """The pieces as HTML, guesses in <mark> (only the guess at mask number `only`, when given)."""
    html, guess_number = [], 0
    for piece, guess in segments:
        if guess and (only is None or guess_number == only):
            html.append(f"<mark>{escape(piece)}</mark>")
        else:
            html.append(escape(piece))
        guess_number += guess
    return f'<span class="kb-text">{"".join(html)}</span>'


def _original_html(original: dict[str, Any] | None, mask: str, lang: str) -> str:
    if original is None:
        return ""
    word = original["candidate"]
    if original["rank"]:
        message = Text("fill.original", original=word, rank=original["rank"],
                       probability=_percent(original["probability"]))
    elif original["num_pieces"] > 1:
        message = Text("fill.original_pieces", original=word, count=original["num_pieces"], mask=mask,
                       pieces=" ".join(original["pieces"]))
    else:
        message = Text("fill.original_unknown", original=word)
    return (f'<div class="kb-original" data-rank="{original["rank"]}" '
            f'data-probability="{original["probability"]:.6f}">{escape(say(message, lang))}</div>')


def _joint_html(result: FillMaskResult, lang: str) -> str:
    joint, mask = result.joint, result.mask
    choice = dict(enumerate(joint["tokens"]))
    order = " → ".join(f"{step['mask'] + 1}:{step['token']}" for step in joint["steps"])
    return (f'<div class="kb-joint" data-probability="{joint["probability"]:.8f}">'
            f'<p>{escape(t("fill.independent", lang, mask=mask))}</p>'
            f'<p>{_bold(escape(t("fill.joint", lang, mask=mask, beam=BEAM_WIDTH)))}</p>'
            f'<div class="kb-completed">{_marked(result.filled(choice))}</div>'
            f'<p>{escape(t("fill.joint_probability", lang, probability=_percent(joint["probability"]), order=order))}'
            "</p></div>")


def _bold(html: str) -> str:
    """`**x**` in an already escaped string -> <b>x</b> (the catalogue marks emphasis the Markdown way)."""
    parts = html.split("**")
    return "".join(f"<b>{part}</b>" if index % 2 else part for index, part in enumerate(parts))


def _percent(p: float) -> str:
    """A probability for people: 1 decimal in percent, more digits when it is small."""
    return f"{p:.1%}" if p >= 0.001 else f"{p:.2g}"


def tokens_html(tokens: list[str], mask: str, segments: list[int] | None = None) -> str:
    """The model's tokens as chips: special tokens, the mask and [UNK] coloured; with `segments`, each chip is
    underlined in its segment's colour with its segment id below."""
    chips = []
    for index, token in enumerate(tokens):
        kind = ("kb-special" if token in SPECIAL else "kb-mask-token" if token == mask
                else "kb-unk" if token == UNKNOWN else "")
        if segments is None:
            chips.append(f'<span class="kb-chip {kind}">{escape(token)}</span>')
        else:
            chips.append(f'<span class="kb-chip {kind} kb-seg-{segments[index]}" data-segment="{segments[index]}">'
                         f"{escape(token)}<small>{segments[index]}</small></span>")
    return f'<div class="kb-tokens" title="{len(tokens)}">{"".join(chips)}</div>'


def teaching_markdown(keys: list[str], lang: str, mask: str = "") -> str:
    """The explanations `keys` (of `teach.*`), one paragraph each."""
    return "\n\n".join(t(key, lang, mask=mask) if key == "teach.mask" else t(key, lang) for key in keys)


def pair_label(result: PairResult, lang: str) -> dict[str, float]:
    """The next-sentence probabilities for a gr.Label."""
    return {t("pair.follows", lang): result.is_next, t("pair.not_follows", lang): 1.0 - result.is_next}


def pair_summary(result: PairResult, lang: str) -> str:
    """Both directions side by side, so the asymmetry of the next-sentence head is plain."""
    return t("pair.summary", lang, forward=result.is_next, backward=result.is_next_swapped)


def attribution_spans(tokens: list[str], attributions: np.ndarray) -> list[tuple[str, float | None]]:
    """(token, attribution scaled to [-1, 1]) for gr.HighlightedText, without [CLS]/[SEP]/[PAD] (a pair's two
    sentences apart by " | "): positive pushed towards the predicted label, negative against it. Word pieces are
    glued back to their word; CJK characters sit without spaces."""
    keep = [i for i, token in enumerate(tokens) if token not in SPECIAL]
    values = np.asarray(attributions, "float64")[keep] if keep else np.zeros(0)
    scale = float(np.max(np.abs(values))) if values.size else 0.0
    spans: list[tuple[str, float | None]] = []
    for position, index in enumerate(keep):
        token = tokens[index]
        if position and tokens[index - 1] == "[SEP]":
            spans.append((" | ", None))
        if token.startswith("##"):
            shown = token[2:]
        elif position == 0 or _is_wide(token) or tokens[index - 1] == "[SEP]":
            shown = token
        else:
            shown = " " + token
        spans.append((shown, round(float(values[position]) / scale, 3) if scale else 0.0))
    return spans


def _is_wide(token: str) -> bool:
    return all(unicodedata.east_asian_width(c) in "WF" for c in token)


def classify_summary(result: ClassifyResult, lang: str) -> str:
    """The prediction, and whether the integrated-gradients attributions add up as the method promises."""
    lines = [t("clf.predicted", lang, label=result.label, probability=result.scores[result.label])]
    if result.integrated is not None:
        total = float(np.sum(result.integrated["attributions"]))
        difference = result.integrated["logit_difference"]
        lines.append(t("clf.ig_check", lang, total=total, label=result.label, difference=difference,
                       steps=result.ig_steps, gap=abs(total - difference)))
    return "\n\n".join(lines)


def notes_markdown(notes: list[Text | str], lang: str) -> str:
    """Notes for the status line, one a line; empty when there is nothing to say."""
    return "\n\n".join(t("common.note", lang, note=say(note, lang)) for note in notes)


def problem_markdown(message: Text | str, lang: str) -> str:
    return t("common.problem", lang, message=say(message, lang))


def details_markdown(info: dict, lang: str) -> str:
    """A model's facts at a glance (from `Pipeline.info`), each metric on its own row, then its model card with the
    headings moved down two levels so they sit under the page's own."""
    vocabulary = t("det.vocabulary_size", lang, size=info.get("vocab_size") or 0) + (
        t("det.lowercase", lang) if info.get("lowercase") else "")
    rows = [("det.path", f"`{info.get('path')}`"), ("det.type", info.get("model_type")),
            ("det.answers", ", ".join(info.get("tasks") or [])), ("det.vocabulary", vocabulary),
            ("det.window", t("det.window_size", lang, size=info.get("seq_length"))),
            ("det.labels", ", ".join(info.get("label_names") or [])), ("det.exported", info.get("exported_at"))]
    table = [f"| {t('det.property', lang)} | {t('det.value', lang)} |", "|---|---|"]
    table += [f"| {t(key, lang)} | {_cell(value)} |" for key, value in rows if value]
    table += [f"| {t('det.metric', lang, name=name)} | {_number(value)} |"
              for name, value in _flat(info.get("metrics") or {})]
    return "\n".join([*table, "", *_demoted(info.get("card") or "")])


def _flat(metrics: dict, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested metrics as (dotted name, value) rows."""
    rows = []
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        rows += _flat(value, name + ".") if isinstance(value, dict) else [(name, value)]
    return rows


def _demoted(markdown: str) -> list[str]:
    """The lines of `markdown` with every heading two levels lower; `#` lines inside code blocks stay."""
    lines, in_code = [], False
    for line in markdown.splitlines():
        in_code ^= line.startswith("```")
        lines.append("##" + line if line.startswith("#") and not in_code else line)
    return lines


def _number(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else _cell(value)


def _cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")

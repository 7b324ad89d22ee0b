"""How results look in the page: HTML for candidate bars, tokens and attention maps; values for Gradio widgets."""

from __future__ import annotations

import unicodedata
from html import escape

import numpy as np

from ui.handlers import FillMaskResult, PairResult

MAX_HEATMAP_TOKENS = 64  # a bigger table is unreadable and slow to draw; longer inputs show their first tokens

CSS = """
.kb-completed { font-size: 1.25rem; margin: 0.25rem 0 0.75rem; }
.kb-completed mark { background: #bbf7d0; border-radius: 4px; padding: 0 2px; }
.kb-masks { display: flex; flex-wrap: wrap; gap: 1.5rem; }
.kb-mask { min-width: 16rem; max-width: 36rem; flex: 1; }
.kb-mask-title { font-weight: 600; margin-bottom: 0.25rem; }
.kb-cand { display: grid; grid-template-columns: 6rem 1fr 4rem; align-items: center; gap: 0.5rem; margin: 2px 0; }
.kb-tok { font-family: var(--font-mono, monospace); overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.kb-bar { background: #e5e7eb; border-radius: 4px; height: 0.9rem; overflow: hidden; }
.kb-bar > span { display: block; height: 100%; background: #f97316; }
.kb-p { text-align: right; font-variant-numeric: tabular-nums; }
.kb-tokens { display: flex; flex-wrap: wrap; gap: 3px; }
.kb-chip { border: 1px solid #d1d5db; border-radius: 4px; padding: 0 4px; font-family: var(--font-mono, monospace); }
.kb-chip.kb-special { background: #dbeafe; }
.kb-chip.kb-mask-token { background: #bbf7d0; }
.kb-chip.kb-unk { background: #fecaca; border-color: #ef4444; }
.kb-heatmap { border-collapse: collapse; font-size: 0.75rem; }
.kb-heatmap caption { text-align: left; font-weight: 600; padding-bottom: 0.25rem; }
.kb-heatmap td { width: 1.1rem; height: 1.1rem; padding: 0; border: 1px solid #f3f4f6; }
.kb-heatmap th { font-weight: normal; padding: 0 3px; white-space: nowrap; }
.kb-heatmap thead th { writing-mode: vertical-rl; vertical-align: bottom; }
.kb-heatmap tbody th { text-align: right; }
"""


def fill_mask_html(result: FillMaskResult) -> str:
    """The completed sentence (guesses highlighted), then one block of candidate bars per [MASK]."""
    completed = "".join(f"<mark>{escape(piece)}</mark>" if guess else escape(piece)
                        for piece, guess in result.segments)
    blocks = []
    for number, candidates in enumerate(result.masks, start=1):
        rows = "".join(
            f'<div class="kb-cand" data-token="{escape(token)}" data-score="{score:.6f}">'
            f'<span class="kb-tok" title="{escape(token)}">{escape(token)}</span>'
            f'<span class="kb-bar"><span style="width:{100 * score:.1f}%"></span></span>'
            f'<span class="kb-p">{score:.1%}</span></div>'
            for token, score in candidates)
        blocks.append(f'<div class="kb-mask" data-mask="{number}"><div class="kb-mask-title">[MASK] {number}</div>'
                      f"{rows}</div>")
    return f'<div class="kb-completed">{completed}</div><div class="kb-masks">{"".join(blocks)}</div>'


def tokens_html(tokens: list[str]) -> str:
    """The model's tokens as chips: special tokens, [MASK] and [UNK] coloured, so a person sees the tokenization."""
    classes = {"[CLS]": "kb-special", "[SEP]": "kb-special", "[PAD]": "kb-special", "[MASK]": "kb-mask-token",
               "[UNK]": "kb-unk"}
    chips = "".join(f'<span class="kb-chip {classes.get(token, "")}">{escape(token)}</span>' for token in tokens)
    return f'<div class="kb-tokens" title="{len(tokens)} tokens">{chips}</div>'


def pair_label(result: PairResult) -> dict[str, float]:
    """The next-sentence probabilities for a gr.Label."""
    return {"B follows A": result.is_next, "B does not follow A": 1.0 - result.is_next}


def pair_summary(result: PairResult) -> str:
    """Both directions side by side, so the asymmetry of the next-sentence head is plain."""
    return (f"P(B follows A) = **{result.is_next:.1%}** · swapped, P(A follows B) = **{result.is_next_swapped:.1%}**")


def attribution_spans(tokens: list[str], attributions: np.ndarray) -> list[tuple[str, float]]:
    """(token, attribution scaled to [-1, 1]) for gr.HighlightedText, without [CLS]/[SEP]/[PAD]: positive pushed
    towards the predicted label, negative against it. Word pieces are glued back to their word; CJK characters sit
    without spaces."""
    keep = [i for i, token in enumerate(tokens) if token not in ("[CLS]", "[SEP]", "[PAD]")]
    values = np.asarray(attributions, "float64")[keep] if keep else np.zeros(0)
    scale = float(np.max(np.abs(values))) if values.size else 0.0
    spans = []
    for position, index in enumerate(keep):
        token = tokens[index]
        if token.startswith("##"):
            shown = token[2:]
        elif position == 0 or _is_wide(token):
            shown = token
        else:
            shown = " " + token
        spans.append((shown, round(float(values[position]) / scale, 3) if scale else 0.0))
    return spans


def _is_wide(token: str) -> bool:
    return all(unicodedata.east_asian_width(c) in "WF" for c in token)


def attention_html(tokens: list[str], attention: np.ndarray, title: str) -> str:
    """A heatmap table of one attention map [n, n], captioned `title`: row i is what token i attends to. The colour's
    opacity is the square root of the weight, so weights near 0 stay visible and uniform attention looks pale."""
    n = min(len(tokens), MAX_HEATMAP_TOKENS)
    weights = np.asarray(attention, "float64")[:n, :n]
    head = "".join(f"<th>{escape(token)}</th>" for token in tokens[:n])
    rows = []
    for i in range(n):
        cells = "".join(
            f'<td style="background:rgba(37,99,235,{np.sqrt(max(weights[i, j], 0.0)):.3f})" '
            f'title="{escape(tokens[i])} → {escape(tokens[j])}: {weights[i, j]:.3f}"></td>'
            for j in range(n))
        rows.append(f"<tr><th>{escape(tokens[i])}</th>{cells}</tr>")
    note = (f"<p>Showing the first {n} of {len(tokens)} tokens.</p>" if len(tokens) > n else "")
    return (f'{note}<table class="kb-heatmap"><caption>{escape(title)}</caption><thead><tr><th></th>{head}</tr>'
            f'</thead><tbody>{"".join(rows)}</tbody></table>')


def notes_markdown(notes: list[str]) -> str:
    """Notes for the status line, one a line; empty when there is nothing to say."""
    return "\n\n".join(f"**Note:** {note}" for note in notes)


def details_markdown(info: dict) -> str:
    """A model's facts at a glance (from `Pipeline.info`), then its model card with the headings moved down two
    levels so they sit under the page's own."""
    metrics = ", ".join(f"{key} {_number(value)}" for key, value in (info.get("metrics") or {}).items())
    rows = [("path", f"`{info.get('path')}`"), ("type", info.get("model_type")),
            ("answers", ", ".join(info.get("tasks") or [])),
            ("vocabulary", f"{info.get('vocab_size')} tokens" + (", lower-cased" if info.get("lowercase") else "")),
            ("window", f"{info.get('seq_length')} tokens"), ("labels", ", ".join(info.get("label_names") or [])),
            ("metrics", metrics), ("exported", info.get("exported_at"))]
    table = ["| property | value |", "|---|---|"] + [f"| {key} | {_cell(value)} |" for key, value in rows if value]
    return "\n".join([*table, "", *_demoted(info.get("card") or "")])


def _demoted(markdown: str) -> list[str]:
    """The lines of `markdown` with every heading two levels lower; `#` lines inside code blocks stay."""
    lines, in_code = [], False
    for line in markdown.splitlines():
        in_code ^= line.startswith("```")
        lines.append("##" + line if line.startswith("#") and not in_code else line)
    return lines


def _number(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")

"""The page's charts, drawn by Altair (Vega-Lite) in the browser: bertviz's attention head view and model view, and
BERT's embedding sum token by token. Hovering and clicking are Vega-Lite selections, so no script of ours runs."""

from __future__ import annotations

import json
from collections.abc import Sequence

import altair as alt
import numpy as np

# SVG rather than canvas: every token, line and cell is an element that a screen reader (and a test) can read.
_EMBED = {"embedOptions": {"renderer": "svg", "actions": False}}
SEGMENT_COLORS = ["#1d4ed8", "#c2410c"]  # segment A blue, B orange, wherever segments are shown
_WEIGHTS = alt.Scale(scheme="blues", domain=[0, 1], type="sqrt")  # sqrt: small weights stay visible
MAX_MODEL_VIEW_CELLS = 40_000  # layers x heads x tokens^2 the model view sends to the browser
_ROW = 22  # pixels per token in the head view


def model_view_tokens(num_tokens: int, layers: int, heads: int) -> int:
    """How many tokens the model view can show without sending more than MAX_MODEL_VIEW_CELLS weights."""
    return min(num_tokens, max(2, int(np.sqrt(MAX_MODEL_VIEW_CELLS / (layers * heads)))))


def head_view(tokens: Sequence[str], weights: np.ndarray, segments: Sequence[int], words: dict[str, str]
              ) -> alt.LayerChart:
    """bertviz's head view of one map `weights` `[n, n]`: the tokens twice, attending on the left, attended to on
    the right, a line from i to j as opaque as weight i -> j. Hovering a token keeps only its lines. `words`:
    `title`, `attending`, `attended`, `segment` and `segment_a` / `segment_b`, in the page's language."""
    n = len(tokens)
    lines = [{"i": i, "j": j, "w": round(float(weights[i, j]), 4), "src": tokens[i], "dst": tokens[j]}
             for i in range(n) for j in range(n)]
    labels = [{"pos": i, "tok": token, "seg": words["segment_b"] if segments[i] else words["segment_a"]}
              for i, token in enumerate(tokens)]
    # A selection hears pointer events on every mark of the chart; each listens only to its own side's tokens.
    source = alt.selection_point(name="source", fields=["i"], on="pointerover[item().mark.name === 'left_marks']",
                                 clear="pointerout", empty=True)
    target = alt.selection_point(name="target", fields=["j"], on="pointerover[item().mark.name === 'right_marks']",
                                 clear="pointerout", empty=True)
    rows = alt.Scale(domain=list(range(n)))
    width, left, right = 360, 110, 250
    rules = alt.Chart(alt.Data(values=lines)).mark_rule(strokeWidth=2, color="#2563eb").encode(
        x=alt.value(left), x2=alt.value(right), y=alt.Y("i:O", scale=rows, axis=None), y2="j:O",
        opacity=alt.condition(source & target, alt.Opacity("w:Q", scale=alt.Scale(domain=[0, 1], range=[0, 1]),
                                                             legend=None), alt.value(0)),
        tooltip=[alt.Tooltip("src:N", title=words["attending"]), alt.Tooltip("dst:N", title=words["attended"]),
                 alt.Tooltip("w:Q", title=words["weight"], format=".3f")])
    present = sorted(set(segments))
    segment_color = alt.Color("seg:N", title=words["segment"], scale=alt.Scale(
        domain=[[words["segment_a"], words["segment_b"]][s] for s in present],
        range=[SEGMENT_COLORS[s] for s in present]))

    def side(name: str, field: str, x: int, align: str, selection) -> alt.Chart:
        data = [{**label, field: label["pos"]} for label in labels]
        return alt.Chart(alt.Data(values=data), name=name).mark_text(align=align, fontSize=13).encode(
            x=alt.value(x), y=alt.Y(f"{field}:O", scale=rows, axis=None), text="tok:N", color=segment_color
        ).add_params(selection)

    return alt.layer(
        rules, side("left", "i", left - 6, "right", source), side("right", "j", right + 6, "left", target),
    ).properties(width=width, height=_ROW * n, title=words["title"], usermeta=_EMBED)


def model_view(tokens: Sequence[str], attentions: np.ndarray, picked: tuple[int, int], words: dict[str, str]
               ) -> alt.HConcatChart:
    """bertviz's model view: every layer x head map `attentions` `[layers, heads, n, n]` small, in a grid; clicking
    one opens it large beside the grid (`picked`, 0-based (layer, head), is open at first). `words`: `layer`, `head`,
    `attending`, `attended`, `weight`, `open_title` (with {layer} and {head})."""
    layers, heads, n, _ = attentions.shape
    cells = [{"layer": layer + 1, "head": head + 1, "i": i, "j": j, "w": round(float(attentions[layer, head, i, j]), 3)}
             for layer in range(layers) for head in range(heads) for i in range(n) for j in range(n)]
    data = alt.Data(values=cells)
    pick = alt.selection_point(name="pick", fields=["layer", "head"], on="click", empty=False,
                               value=[{"layer": picked[0] + 1, "head": picked[1] + 1}])
    color = alt.Color("w:Q", scale=_WEIGHTS, title=words["weight"])
    size = max(36, min(90, 560 // max(heads, layers)))
    grid = alt.Chart(data).mark_rect().encode(
        x=alt.X("j:O", axis=None), y=alt.Y("i:O", axis=None), color=color,
        opacity=alt.condition(pick, alt.value(1.0), alt.value(0.55)),
    ).properties(width=size, height=size).add_params(pick).facet(
        row=alt.Row("layer:O", title=words["layer"]), column=alt.Column("head:O", title=words["head"]),
        spacing=4)
    labels = _label_expression(tokens)
    big = alt.Chart(data).transform_filter(pick).mark_rect().encode(
        x=alt.X("j:O", title=words["attended"], axis=alt.Axis(labelExpr=labels, labelAngle=0)),
        y=alt.Y("i:O", title=words["attending"], axis=alt.Axis(labelExpr=labels)), color=color,
        tooltip=[alt.Tooltip("layer:O", title=words["layer"]), alt.Tooltip("head:O", title=words["head"]),
                 alt.Tooltip("i:O"), alt.Tooltip("j:O"), alt.Tooltip("w:Q", title=words["weight"], format=".3f")])
    before, middle, after = _split_template(words["open_title"])
    caption = alt.Chart(data).transform_filter(pick).transform_aggregate(
        layer="min(layer)", head="min(head)").transform_calculate(
        caption=f"{json.dumps(before)} + datum.layer + {json.dumps(middle)} + datum.head + {json.dumps(after)}"
    ).mark_text(align="left", fontSize=14, fontWeight="bold", dy=-12).encode(
        x=alt.value(0), y=alt.value(0), text="caption:N")
    side = max(220, min(520, 26 * n))
    return alt.hconcat(grid, alt.layer(big, caption).properties(width=side, height=side)).properties(usermeta=_EMBED)


def embedding_view(tokens: Sequence[str], parts: dict[str, np.ndarray], words: dict[str, str],
                   dimensions: int = 64) -> alt.VConcatChart:
    """The embedding sum, token by token: heatmaps (column: token, row: one of the first `dimensions` dimensions) of
    the token, segment and position embeddings and their sum on one colour scale, then the sum after LayerNorm on
    its own; below, each part's length per token. `parts`: the arrays `[n, hidden_size]` of
    `Pipeline.embedding_parts` by name; `words`: a title per part name and `token`, `dimension`, `value`, `norm`."""
    summed = ("token_embeddings", "segment_embeddings", "position_embeddings", "embedding_sum")
    shown = min(dimensions, parts["embedding_sum"].shape[1])
    labels = _label_expression(tokens)
    x = alt.X("pos:O", title=words["token"], axis=alt.Axis(labelExpr=labels, labelAngle=0))

    def heatmap(names: Sequence[str]) -> alt.FacetChart:
        cells = [{"part": words[name], "pos": i, "dim": d, "value": round(float(parts[name][i, d]), 4)}
                 for name in names for i in range(len(tokens)) for d in range(shown)]
        limit = max(max(abs(cell["value"]) for cell in cells), 1e-6)
        return alt.Chart(alt.Data(values=cells)).mark_rect().encode(
            x=x, y=alt.Y("dim:O", title=words["dimension"], axis=alt.Axis(values=list(range(0, shown, 8)))),
            color=alt.Color("value:Q", title=words["value"],
                            scale=alt.Scale(scheme="redblue", domain=[-limit, limit], reverse=True)),
            tooltip=[alt.Tooltip("part:N"), alt.Tooltip("pos:O"), alt.Tooltip("dim:O"),
                     alt.Tooltip("value:Q", format=".4f")],
        ).properties(width=max(160, 24 * len(tokens)), height=3 * shown).facet(
            row=alt.Row("part:N", title=None, sort=[words[name] for name in names], header=alt.Header(
                labelAngle=0, labelAlign="left", labelFontSize=13, labelFontWeight="bold", labelOrient="top")))

    norms = [{"part": words[name], "pos": i, "norm": round(float(np.linalg.norm(parts[name][i])), 4)}
             for name in summed for i in range(len(tokens))]
    bars = alt.Chart(alt.Data(values=norms)).mark_bar().encode(
        x=x, xOffset=alt.XOffset("part:N", sort=[words[name] for name in summed]),
        y=alt.Y("norm:Q", title=words["norm"]),
        color=alt.Color("part:N", title=None, sort=[words[name] for name in summed]),
        tooltip=[alt.Tooltip("part:N"), alt.Tooltip("norm:Q", format=".3f")],
    ).properties(width=max(160, 24 * len(tokens)), height=160)
    return alt.vconcat(heatmap(summed), heatmap(["embedding_output"]), bars).resolve_scale(
        color="independent").properties(usermeta=_EMBED)


def _label_expression(tokens: Sequence[str]) -> str:
    """A Vega expression that turns an axis position into its token (tokens repeat, so the axes count positions)."""
    return f"{json.dumps(list(tokens), ensure_ascii=False)}[datum.value]"


def _split_template(template: str) -> tuple[str, str, str]:
    """'Layer {layer} · head {head}' -> ('Layer ', ' · head ', '')."""
    before, rest = template.split("{layer}")
    middle, after = rest.split("{head}")
    return before, middle, after

"""Input embeddings: the talk's second slide for a real input, token, segment and position embeddings per token,
their sum and its LayerNorm, read from the exported model."""

from __future__ import annotations

import gradio as gr

from ui import handlers, render, views
from ui.handlers import EmbeddingResult
from ui.store import ModelStore
from ui.texts import t
from ui.widgets import MODEL_QUEUE, Page, caption, examples, guarded, picker, teaching

EXAMPLES = [["北京是中国的首都。", "它有三千多年的建城史。"], ["今天天气很好。", ""]]
DIMENSIONS = 64  # the heatmaps draw this many of the hidden dimensions; the bars use all of them
PARTS = ("token_embeddings", "segment_embeddings", "position_embeddings", "embedding_sum", "embedding_output")


def build(page: Page, store: ModelStore, lang: gr.Radio) -> None:
    model = picker(page, store, None, "common.model", "emb-model", preselect="fill-mask")
    first = page.add(gr.Textbox(label=page.text("common.first"), info=page.text("common.enter"), lines=1,
                                max_lines=4, elem_id="emb-first"), label="common.first", info="common.enter")
    second = page.add(gr.Textbox(label=page.text("common.second_optional"), lines=1, max_lines=4,
                                 elem_id="emb-second"), label="common.second_optional")
    run = page.add(gr.Button(page.text("emb.run"), variant="primary", elem_id="emb-run"), value="emb.run")
    status = gr.Markdown(elem_id="emb-status")
    teaching(page, ["teach.embedding_sum", "teach.segments"], "emb-teach")
    tokens = gr.HTML(elem_id="emb-tokens")
    shown = gr.Markdown(elem_id="emb-shown")
    caption(page, "emb.plot", "emb-caption")
    chart = gr.Plot(show_label=False, elem_id="emb-plot")
    seen = gr.State()
    found = examples(page, EXAMPLES, [first, second], ["common.first", "common.second_optional"])

    @guarded(blank=("", "", None, None))
    def show(model_path: str, a: str, b: str, lang: str) -> tuple:
        result = handlers.embeddings(store, model_path, a, b)
        return *draw(lang, result), result, render.notes_markdown(result.notes, lang)

    def draw(lang: str, result: EmbeddingResult | None) -> tuple:
        if result is None:
            return "", "", None
        hidden = result.parts["embedding_sum"].shape[1]
        words = {**{part: t(f"emb.{part}", lang) for part in PARTS},
                 **{word: t(f"emb.{word}", lang) for word in ("token", "dimension", "value", "norm")}}
        kind = t("emb.sinusoidal" if result.position_type == "sinusoidal" else "emb.learned", lang)
        return (render.tokens_html(result.tokens, page.values["mask"], result.segments),
                t("emb.shown", lang, shown=min(DIMENSIONS, hidden), hidden=hidden, kind=kind),
                views.embedding_view(result.tokens, result.parts, words, DIMENSIONS))

    inputs, outputs = [model, first, second, lang], [tokens, shown, chart, seen, status]
    run.click(show, inputs, outputs, api_visibility="private", **MODEL_QUEUE)
    for box in (first, second):
        box.submit(show, inputs, outputs, api_visibility="private", **MODEL_QUEUE)
    found.load_input_event.then(show, inputs, outputs, api_visibility="private", **MODEL_QUEUE)
    page.redraw(draw, seen, [tokens, shown, chart], status)

"""Classify and explain: a classifier's label probabilities for a text or a pair, and two attributions per token,
gradient x input and integrated gradients, each with a line saying what it means."""

from __future__ import annotations

import gradio as gr

from ui import handlers, render
from ui.handlers import ClassifyResult
from ui.store import ModelStore
from ui.widgets import MODEL_QUEUE, Page, examples, guarded, picker, teaching

EXAMPLES = [["这本书写得非常好，值得一读。"], ["质量太差了，非常失望。"], ["物流很快，包装也很好，满意！"],
            ["服务态度很差，再也不来了。"]]


def build(page: Page, store: ModelStore, lang: gr.Radio) -> None:
    model = picker(page, store, "classify", "clf.model", "clf-model")
    text = page.add(gr.Textbox(label=page.text("clf.text"), info=page.text("common.enter"), lines=1, max_lines=6,
                               elem_id="clf-text"), label="clf.text", info="common.enter")
    pair = page.add(gr.Textbox(label=page.text("common.second_optional"), lines=1, max_lines=4, elem_id="clf-pair"),
                    label="common.second_optional")
    run = page.add(gr.Button(page.text("clf.run"), variant="primary", elem_id="clf-run"), value="clf.run")
    status = gr.Markdown(elem_id="clf-status")
    scores = page.add(gr.Label(label=page.text("clf.scores"), elem_id="clf-scores"), label="clf.scores")
    summary = gr.Markdown(elem_id="clf-summary")
    gradient = page.add(gr.HighlightedText(label=page.text("clf.gxi"), elem_id="clf-attributions", show_legend=True,
                                           interactive=False), label="clf.gxi")
    teaching(page, ["teach.gxi"], "clf-gxi-teach")
    integrated = page.add(gr.HighlightedText(label=page.text("clf.ig"), elem_id="clf-integrated", show_legend=True,
                                             interactive=False), label="clf.ig")
    teaching(page, ["teach.ig"], "clf-ig-teach")
    seen = gr.State()
    found = examples(page, EXAMPLES, [text], ["clf.text"])

    @guarded(blank=(None, "", None, None, None))
    def predict(model_path: str, sentence: str, second: str, lang: str) -> tuple:
        result = handlers.classify(store, model_path, sentence, second)
        return *draw(lang, result), result, render.notes_markdown(result.notes, lang)

    def draw(lang: str, result: ClassifyResult | None) -> tuple:
        if result is None:
            return None, "", None, None
        ig = (render.attribution_spans(result.integrated["tokens"], result.integrated["attributions"])
              if result.integrated else None)
        return (result.scores, render.classify_summary(result, lang),
                render.attribution_spans(result.tokens, result.attributions), ig)

    inputs, outputs = [model, text, pair, lang], [scores, summary, gradient, integrated, seen, status]
    run.click(predict, inputs, outputs, api_name="classify", **MODEL_QUEUE)
    for box in (text, pair):
        box.submit(predict, inputs, outputs, api_visibility="private", **MODEL_QUEUE)
    found.load_input_event.then(predict, inputs, outputs, api_visibility="private", **MODEL_QUEUE)
    page.redraw(draw, seen, [scores, summary, gradient, integrated], status)

"""Sentence pair: the next-sentence head both ways round, what the model reads (segments marked), and a pair
classifier's labels."""

from __future__ import annotations

import gradio as gr

from ui import handlers, render
from ui.handlers import PairResult
from ui.store import ModelStore
from ui.widgets import MODEL_QUEUE, QUICK, Page, examples, guarded, picker, teaching

EXAMPLES = [["北京是中国的首都。", "它有三千多年的建城史。"],
            ["我今天去超市买了很多水果。", "苹果和香蕉都很新鲜。"],
            ["我今天去超市买了很多水果。", "股市昨天大幅下跌。"]]


def build(page: Page, store: ModelStore, lang: gr.Radio) -> None:
    with gr.Row():
        nsp_model = picker(page, store, "next-sentence", "pair.nsp_model", "pair-model")
        classifier = picker(page, store, "classify", "pair.classifier", "pair-classifier", optional=True)
    first = page.add(gr.Textbox(label=page.text("pair.first"), info=page.text("common.enter"), lines=1, max_lines=4,
                                elem_id="pair-first"), label="pair.first", info="common.enter")
    second = page.add(gr.Textbox(label=page.text("pair.second"), lines=1, max_lines=4, elem_id="pair-second"),
                      label="pair.second")
    with gr.Row():
        run = page.add(gr.Button(page.text("pair.run"), variant="primary", elem_id="pair-run"), value="pair.run")
        swap = page.add(gr.Button(page.text("pair.swap"), elem_id="pair-swap"), value="pair.swap")
    status = gr.Markdown(elem_id="pair-status")
    with gr.Row():
        nsp = page.add(gr.Label(label=page.text("pair.nsp"), elem_id="pair-nsp"), label="pair.nsp")
        labels = page.add(gr.Label(label=page.text("pair.labels"), elem_id="pair-labels"), label="pair.labels")
    summary = gr.Markdown(elem_id="pair-summary")
    page.add(gr.Markdown(page.text("pair.tokens")), value="pair.tokens")
    tokens = gr.HTML(elem_id="pair-tokens")
    teaching(page, ["teach.nsp", "teach.segments", "teach.cls", "teach.sep"], "pair-teach")
    seen = gr.State()
    found = examples(page, EXAMPLES, [first, second], ["pair.first", "pair.second"])

    @guarded(blank=(None, None, "", "", None))
    def predict(nsp_path: str, classifier_path: str, a: str, b: str, lang: str) -> tuple:
        result = handlers.sentence_pair(store, nsp_path, classifier_path or None, a, b)
        return *draw(lang, result), result, render.notes_markdown(result.notes, lang)

    def draw(lang: str, result: PairResult | None) -> tuple:
        if result is None:
            return None, None, "", ""
        return (render.pair_label(result, lang), result.labels, render.pair_summary(result, lang),
                render.tokens_html(result.tokens, page.values["mask"], result.segments))

    inputs, outputs = [nsp_model, classifier, first, second, lang], [nsp, labels, summary, tokens, seen, status]
    run.click(predict, inputs, outputs, api_name="sentence_pair", **MODEL_QUEUE)
    for box in (first, second):
        box.submit(predict, inputs, outputs, api_visibility="private", **MODEL_QUEUE)
    swap.click(lambda a, b: (b, a), [first, second], [first, second], **QUICK).then(
        predict, inputs, outputs, api_visibility="private", **MODEL_QUEUE)
    found.load_input_event.then(predict, inputs, outputs, api_visibility="private", **MODEL_QUEUE)
    page.redraw(draw, seen, [nsp, labels, summary, tokens], status)

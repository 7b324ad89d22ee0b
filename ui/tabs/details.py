"""Model details: what an export says about itself (kbert.json, its config and model card), at a glance."""

from __future__ import annotations

import gradio as gr

from ui import handlers, render
from ui.store import ModelStore
from ui.widgets import MODEL_QUEUE, Page, guarded, picker


def build(page: Page, store: ModelStore, lang: gr.Radio, app: gr.Blocks) -> None:
    model = picker(page, store, None, "common.model", "details-model")
    details = gr.Markdown(elem_id="details")

    @guarded(blank=())
    def describe(model_path: str, lang: str) -> str:
        return render.details_markdown(handlers.model_info(store, model_path), lang)

    model.change(describe, [model, lang], details, api_visibility="private", **MODEL_QUEUE)
    app.load(describe, [model, lang], details, api_visibility="private", **MODEL_QUEUE)
    page.redraw_with(lambda lang, model_path: describe(model_path, lang), [model], [details])

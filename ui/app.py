"""The Gradio app: six tabs (fill the mask, sentence pair, classify and explain, attention, input embeddings, model
details) under a language switch (Chinese by default, `?lang=en` for English), served through Gradio's queue on the
loopback interface."""

from __future__ import annotations

import logging

import gradio as gr

from ui import handlers, render
from ui.store import ModelStore, PageError
from ui.tabs import attention, classify, details, embeddings, fill_mask, sentence_pair
from ui.texts import DEFAULT_LANGUAGE, LANGUAGES, say
from ui.widgets import QUICK, Page, language_picker

QUEUE_SIZE = 64  # requests waiting beyond this are refused with a message instead of piling up
TABS = (("fill", "tab.fill", fill_mask), ("pair", "tab.pair", sentence_pair), ("classify", "tab.classify", classify),
        ("attention", "tab.attention", attention), ("embeddings", "tab.embeddings", embeddings))

log = logging.getLogger(__name__)


def build_app(store: ModelStore) -> gr.Blocks:
    """The page for the models in `store`; each tab offers the models that can do its job."""
    page = Page(mask=handlers.page_mask(store))
    with gr.Blocks(title="kbert", analytics_enabled=False) as app:
        with gr.Row(equal_height=True):
            page.add(gr.Markdown(page.text("app.intro"), elem_id="intro"), value="app.intro")
            lang = language_picker()
        if not store.entries:
            page.add_custom(gr.Markdown(f"**{say(store.empty_message(), DEFAULT_LANGUAGE)}**", elem_id="no-models"),
                            lambda code: {"value": f"**{say(store.empty_message(), code)}**"})
        for tab_id, label, module in TABS:
            with page.add(gr.Tab(page.text(label), id=tab_id), label=label):
                module.build(page, store, lang)
        with page.add(gr.Tab(page.text("tab.details"), id="details"), label="tab.details"):
            details.build(page, store, lang, app)
        lang.change(page.relabel, lang, page.relabelled, **QUICK)
        for function, inputs, outputs in page.redraws:
            lang.change(function, [lang, *inputs], outputs, **QUICK)
        app.load(_language_from_address, None, lang, **QUICK)
    return app


def _language_from_address(request: gr.Request) -> str:
    """The page's language from its address (`?lang=en`), Chinese when it names none."""
    asked = request.query_params.get("lang", DEFAULT_LANGUAGE) if request else DEFAULT_LANGUAGE
    return asked if asked in LANGUAGES else DEFAULT_LANGUAGE


def serve(app: gr.Blocks, host: str = "127.0.0.1", port: int = 7860, share: bool = False,
          open_browser: bool = False, block: bool = True) -> str:
    """Starts the app behind Gradio's queue; returns its local URL (at once when `block` is False)."""
    app.queue(max_size=QUEUE_SIZE)
    _, url, _ = app.launch(server_name=host, server_port=port, share=share, inbrowser=open_browser,
                           prevent_thread_lock=not block, show_error=False, css=render.CSS, quiet=not block)
    return url


def warm_up(store: ModelStore) -> None:
    """Answers one example with each tab's preselected model, so the first person waits neither for the loading nor
    for TensorFlow's first-call tracing; a model that fails is left for a request to report in the page."""
    examples = {
        "fill-mask": lambda path: handlers.fill_mask(store, path, fill_mask.EXAMPLES[0].format(
            mask=handlers.page_mask(store, path))),
        "next-sentence": lambda path: handlers.sentence_pair(store, path, None, *sentence_pair.EXAMPLES[0]),
        "classify": lambda path: handlers.classify(store, path, classify.EXAMPLES[0][0]),
    }
    for task, answer in examples.items():
        entry = store.best(task)
        if entry is not None:
            try:
                answer(entry.path)
            except PageError as error:
                log.warning("%s", error)

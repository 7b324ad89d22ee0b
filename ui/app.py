"""The Gradio app: four tabs (fill the mask, sentence pair, classify and inspect, model details) wired to the
handlers, served through Gradio's queue on the loopback interface."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

import gradio as gr

from ui import handlers, render
from ui.handlers import MAX_CHARS, MAX_TOP_K, ClassifyResult
from ui.store import ModelStore, PageError

CONCURRENCY = 2  # model requests computed at once, all tabs together; more would only share the same 2 cores
QUEUE_SIZE = 64  # requests waiting beyond this are refused with a message instead of piling up

FILL_EXAMPLES = ["今天天气很[MASK]。", "北京是中国的[MASK]都。", "我们明天去[MASK][MASK]看电影吧。",
                 "这本书写得非常好，值得一读。"]
PAIR_EXAMPLES = [["北京是中国的首都。", "它有三千多年的建城史。"],
                 ["我今天去超市买了很多水果。", "苹果和香蕉都很新鲜。"],
                 ["我今天去超市买了很多水果。", "股市昨天大幅下跌。"]]
CLASSIFY_EXAMPLES = ["这本书写得非常好，值得一读。", "质量太差了，用了两天就坏了。", "物流很快，包装也很好，满意！",
                     "服务态度很差，再也不来了。"]
WORD_COLORS = {"word": "#e0e7ff", "mask": "#bbf7d0"}
# Every event that runs a model shares one queue slot group, so at most CONCURRENCY run at once across the tabs.
_MODEL_QUEUE = {"concurrency_id": "model", "concurrency_limit": CONCURRENCY}

log = logging.getLogger(__name__)


def build_app(store: ModelStore) -> gr.Blocks:
    """The page for the models in `store`; each tab offers the models that can do its job."""
    with gr.Blocks(title="kbert", analytics_enabled=False) as app:
        gr.Markdown("# kbert\nExplore a BERT model: guess masked words, judge sentence pairs, classify and look "
                    "inside.")
        if not store.entries:
            gr.Markdown(f"**{store.empty_message()}**", elem_id="no-models")
        with gr.Tab("Fill the mask", id="fill"):
            _fill_mask_tab(store)
        with gr.Tab("Sentence pair", id="pair"):
            _pair_tab(store)
        with gr.Tab("Classify and inspect", id="classify"):
            _classify_tab(store)
        with gr.Tab("Model details", id="details"):
            _details_tab(store, app)
    return app


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
    examples = {"fill-mask": lambda path: handlers.fill_mask(store, path, FILL_EXAMPLES[0]),
                "next-sentence": lambda path: handlers.sentence_pair(store, path, None, *PAIR_EXAMPLES[0]),
                "classify": lambda path: handlers.classify(store, path, CLASSIFY_EXAMPLES[0])}
    for task, answer in examples.items():
        entry = store.best(task)
        if entry is not None:
            try:
                answer(entry.path)
            except PageError as error:
                log.warning("%s", error)


def _guarded(blank: tuple) -> Callable:
    """Turns a failure of an event handler into a warning toast and a status message (outputs `blank`, then the
    status), never a stack trace in the page; bugs are logged with their traceback on the server."""

    def decorate(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def run(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except PageError as error:
                message = str(error)
            except Exception:
                log.exception("handler %s failed", fn.__name__)
                message = "Something went wrong inside the app; the server log has the details. Try another input."
            gr.Warning(message)
            status = f"**Problem:** {message}"
            return (*blank, status) if blank else status

        return run

    return decorate


def _picker(store: ModelStore, task: str | None, label: str, elem_id: str, optional: bool = False) -> gr.Dropdown:
    """A model dropdown offering the models that answer `task`, the best preselected (none, when `optional`)."""
    choices = [(entry.label, entry.path) for entry in store.models(task)]
    best = store.best(task)
    if optional:
        choices = [("(none)", "")] + choices
    value = "" if optional else (best.path if best else None)
    return gr.Dropdown(choices=choices, value=value, label=label, elem_id=elem_id, interactive=True)


def _fill_mask_tab(store: ModelStore) -> None:
    model = _picker(store, "fill-mask", "Model", "fill-model")
    text = gr.Textbox(label="Sentence with [MASK]", lines=2, max_length=MAX_CHARS, elem_id="fill-text",
                      placeholder="今天天气很[MASK]。 — or type a sentence and click a word below to mask it")
    clickable = gr.HighlightedText(label="Click a word (in Chinese, a character) to mask it", elem_id="fill-words",
                                   color_map=WORD_COLORS, show_legend=False, show_inline_category=False,
                                   interactive=False)
    with gr.Row():
        top_k = gr.Slider(1, MAX_TOP_K, value=5, step=1, label="Candidates per [MASK]", elem_id="fill-top-k")
        run = gr.Button("Predict", variant="primary", elem_id="fill-run")
    status = gr.Markdown(elem_id="fill-status")
    predictions = gr.HTML(elem_id="fill-predictions")
    gr.Markdown("**The model's tokens** — [UNK] marks what its vocabulary cannot spell.")
    tokens = gr.HTML(elem_id="fill-tokens")
    examples = gr.Examples(FILL_EXAMPLES, inputs=[text], label="Examples (click one)")

    @_guarded(blank=("", ""))
    def predict(model_path: str, sentence: str, k: float) -> tuple[str, str, str]:
        result = handlers.fill_mask(store, model_path, sentence, int(k))
        return render.fill_mask_html(result), render.tokens_html(result.tokens), render.notes_markdown(result.notes)

    def show_words(sentence: str) -> list[tuple[str, str]]:
        return [(unit, "mask" if unit == handlers.MASK else "word") for unit, _ in handlers.words(sentence)[:500]]

    def mask_clicked(sentence: str, event: gr.SelectData) -> str:
        units = handlers.words(sentence)
        return handlers.mask_word(sentence, units[event.index][1]) if event.index < len(units) else sentence

    outputs = [predictions, tokens, status]
    text.change(show_words, text, clickable, queue=False, show_progress="hidden")
    run.click(predict, [model, text, top_k], outputs, api_name="fill_mask", **_MODEL_QUEUE)
    text.submit(predict, [model, text, top_k], outputs, api_visibility="private", **_MODEL_QUEUE)
    clickable.select(mask_clicked, text, text, queue=False).then(predict, [model, text, top_k], outputs,
                                                                  api_visibility="private", **_MODEL_QUEUE)
    examples.load_input_event.then(predict, [model, text, top_k], outputs, api_visibility="private", **_MODEL_QUEUE)


def _pair_tab(store: ModelStore) -> None:
    with gr.Row():
        nsp_model = _picker(store, "next-sentence", "Next-sentence model", "pair-model")
        classifier = _picker(store, "classify", "Pair classifier (optional)", "pair-classifier",
                             optional=True)
    first = gr.Textbox(label="Sentence A", max_length=MAX_CHARS, elem_id="pair-first")
    second = gr.Textbox(label="Sentence B", max_length=MAX_CHARS, elem_id="pair-second")
    with gr.Row():
        run = gr.Button("Does B follow A?", variant="primary", elem_id="pair-run")
        swap = gr.Button("⇄ Swap A and B", elem_id="pair-swap")
    status = gr.Markdown(elem_id="pair-status")
    with gr.Row():
        nsp = gr.Label(label="Next-sentence head", elem_id="pair-nsp")
        labels = gr.Label(label="Pair classifier", elem_id="pair-labels")
    summary = gr.Markdown(elem_id="pair-summary")
    examples = gr.Examples(PAIR_EXAMPLES, inputs=[first, second], label="Examples (click one)")

    @_guarded(blank=(None, None, ""))
    def predict(nsp_path: str, classifier_path: str, a: str, b: str) -> tuple:
        result = handlers.sentence_pair(store, nsp_path, classifier_path or None, a, b)
        return (render.pair_label(result), result.labels, render.pair_summary(result),
                render.notes_markdown(result.notes))

    inputs, outputs = [nsp_model, classifier, first, second], [nsp, labels, summary, status]
    run.click(predict, inputs, outputs, api_name="sentence_pair", **_MODEL_QUEUE)
    swap.click(lambda a, b: (b, a), [first, second], [first, second], queue=False, api_visibility="private").then(
        predict, inputs, outputs, api_visibility="private", **_MODEL_QUEUE)
    examples.load_input_event.then(predict, inputs, outputs, api_visibility="private", **_MODEL_QUEUE)


def _classify_tab(store: ModelStore) -> None:
    model = _picker(store, "classify", "Classifier", "clf-model")
    text = gr.Textbox(label="Text", lines=2, max_length=MAX_CHARS, elem_id="clf-text")
    run = gr.Button("Classify", variant="primary", elem_id="clf-run")
    status = gr.Markdown(elem_id="clf-status")
    scores = gr.Label(label="Label probabilities", elem_id="clf-scores")
    spans = gr.HighlightedText(label="Which tokens pushed the decision (gradient × input: red towards the predicted "
                                     "label, purple against it)", elem_id="clf-attributions", show_legend=True,
                               interactive=False)
    with gr.Row():
        layer = gr.Dropdown(label="Layer", choices=[], elem_id="clf-layer", interactive=True)
        head = gr.Dropdown(label="Head", choices=[], elem_id="clf-head", interactive=True)
    gr.Markdown("**Attention** — row: the token attending; column: the token attended to.")
    heatmap = gr.HTML(elem_id="clf-attention")
    seen = gr.State()
    examples = gr.Examples(CLASSIFY_EXAMPLES, inputs=[text], label="Examples (click one)")

    @_guarded(blank=(None, None, gr.skip(), gr.skip(), "", None))
    def predict(model_path: str, sentence: str, chosen_layer: int | None, chosen_head: int | None) -> tuple:
        result = handlers.classify(store, model_path, sentence)
        layers, heads = result.attentions.shape[:2]
        chosen_layer = chosen_layer if chosen_layer is not None and chosen_layer < layers else layers - 1
        chosen_head = chosen_head if chosen_head is not None and chosen_head < heads else -1
        layer_menu = gr.Dropdown(choices=[(f"Layer {i + 1}", i) for i in range(layers)], value=chosen_layer)
        head_menu = gr.Dropdown(choices=[("Mean over heads", -1)] + [(f"Head {h + 1}", h) for h in range(heads)],
                                value=chosen_head)
        return (result.scores, render.attribution_spans(result.tokens, result.attributions), layer_menu, head_menu,
                _heatmap(result, chosen_layer, chosen_head), result, render.notes_markdown(result.notes))

    def redraw(result: ClassifyResult | None, chosen_layer: int | None, chosen_head: int | None) -> str:
        return "" if result is None or chosen_layer is None else _heatmap(result, chosen_layer, chosen_head)

    inputs, outputs = [model, text, layer, head], [scores, spans, layer, head, heatmap, seen, status]
    run.click(predict, inputs, outputs, api_name="classify", **_MODEL_QUEUE)
    text.submit(predict, inputs, outputs, api_visibility="private", **_MODEL_QUEUE)
    examples.load_input_event.then(predict, inputs, outputs, api_visibility="private", **_MODEL_QUEUE)
    for menu in (layer, head):
        menu.input(redraw, [seen, layer, head], heatmap, queue=False, api_visibility="private")


def _heatmap(result: ClassifyResult, layer: int, head: int | None) -> str:
    """The attention map of one layer: one head's, or the mean over heads when `head` is -1 (or unset)."""
    maps = result.attentions[int(layer)]  # [heads, n, n]
    if head is None or head < 0:
        return render.attention_html(result.tokens, maps.mean(axis=0), f"Layer {int(layer) + 1} · mean over heads")
    return render.attention_html(result.tokens, maps[int(head)], f"Layer {int(layer) + 1} · head {int(head) + 1}")


def _details_tab(store: ModelStore, app: gr.Blocks) -> None:
    model = _picker(store, None, "Model", "details-model")
    details = gr.Markdown(elem_id="details")

    @_guarded(blank=())
    def describe(model_path: str) -> str:
        return render.details_markdown(handlers.model_info(store, model_path))

    model.change(describe, model, details, api_visibility="private", **_MODEL_QUEUE)
    app.load(describe, model, details, api_visibility="private", **_MODEL_QUEUE)

"""Fill the mask: the masked-LM head's candidates for each [MASK], each as the whole sentence it makes, the rank of
a word a click hid, and the joint filling of several [MASK]s."""

from __future__ import annotations

import gradio as gr

from ui import handlers, render
from ui.handlers import FillMaskResult
from ui.store import ModelStore
from ui.texts import t
from ui.widgets import MODEL_QUEUE, QUICK, Page, examples, guarded, picker, teaching

EXAMPLES = ["今天天气很{mask}。", "北京是中国的{mask}都。", "我们明天去{mask}{mask}看电影吧。",
            "这本书写得非常{mask}，值得一读。"]
WORD_COLORS = {"word": "#e0e7ff", "mask": "#bbf7d0"}
DEFAULT_TOP_K = 5


def build(page: Page, store: ModelStore, lang: gr.Radio) -> None:
    mask = page.values["mask"]
    best = store.best("fill-mask")
    most = handlers.fill_limits(store, best.path)["top_k"] if best else DEFAULT_TOP_K
    model = picker(page, store, "fill-mask", "common.model", "fill-model")
    text = page.add(gr.Textbox(label=page.text("fill.text"), placeholder=page.text("fill.placeholder"),
                               info=page.text("common.enter"), lines=1, max_lines=6, elem_id="fill-text"),
                    label="fill.text", placeholder="fill.placeholder", info="common.enter")
    clickable = page.add(gr.HighlightedText(label=page.text("fill.words"), elem_id="fill-words",
                                            color_map=WORD_COLORS, show_legend=False, show_inline_category=False,
                                            interactive=False), label="fill.words")
    words_note = gr.Markdown(elem_id="fill-words-note")
    with gr.Row():
        top_k = page.add(gr.Slider(1, most, value=min(DEFAULT_TOP_K, most), step=1, label=page.text("fill.top_k"),
                                   elem_id="fill-top-k"), label="fill.top_k")
        run = page.add(gr.Button(page.text("fill.run"), variant="primary", elem_id="fill-run"), value="fill.run")
    status = gr.Markdown(elem_id="fill-status")
    predictions = gr.HTML(elem_id="fill-predictions")
    tokens = gr.HTML(elem_id="fill-tokens")
    teaching(page, ["teach.tokens", "teach.cls", "teach.sep", "teach.mask", "teach.unk"], "fill-teach")
    clicked = gr.State({"text": "", "originals": {}})  # what each [MASK] a click made stood for, in which text
    seen = gr.State()
    found = examples(page, [[example.format(mask=mask)] for example in EXAMPLES], [text], ["fill.text"])

    @guarded(blank=("", "", None))
    def predict(model_path: str, sentence: str, k: float, clicks: dict | None, lang: str) -> tuple:
        originals = clicks["originals"] if clicks and clicks["text"] == sentence else None
        result = handlers.fill_mask(store, model_path, sentence, int(k), originals)
        return *draw(lang, result), result, render.notes_markdown(result.notes, lang)

    def draw(lang: str, result: FillMaskResult | None) -> tuple[str, str]:
        if result is None:
            return "", ""
        return render.fill_mask_html(result, lang), render.tokens_html(result.tokens, result.mask)

    def show_words(model_path: str, sentence: str, lang: str) -> tuple[list[tuple[str, str]], str]:
        units = handlers.words(sentence, mask)
        window = handlers.fill_limits(store, model_path)["window"] if model_path else len(units) + 2
        shown = units[:window - 2]  # room for [CLS] and [SEP]; every unit is at least one token
        note = "" if len(shown) == len(units) else t("fill.words_cut", lang, shown=len(shown), total=len(units),
                                                     window=window)
        return [(unit, "mask" if unit == mask else "word") for unit, _ in shown], note

    def mask_clicked(sentence: str, clicks: dict, event: gr.SelectData) -> tuple[str, dict]:
        units = handlers.words(sentence, mask)
        if event.index >= len(units):
            return sentence, clicks
        known = clicks["originals"] if clicks["text"] == sentence else {}
        masked, originals = handlers.mask_word(sentence, units[event.index][1], mask, known)
        return masked, {"text": masked, "originals": originals}

    def limits(model_path: str) -> dict:
        return gr.update(maximum=handlers.fill_limits(store, model_path)["top_k"]) if model_path else gr.update()

    inputs, outputs = [model, text, top_k, clicked, lang], [predictions, tokens, seen, status]
    text.change(show_words, [model, text, lang], [clickable, words_note], **QUICK)
    model.change(limits, model, top_k, **QUICK)
    run.click(predict, inputs, outputs, api_name="fill_mask", **MODEL_QUEUE)
    text.submit(predict, inputs, outputs, api_visibility="private", **MODEL_QUEUE)
    clickable.select(mask_clicked, [text, clicked], [text, clicked], **QUICK).then(
        predict, inputs, outputs, api_visibility="private", **MODEL_QUEUE)
    found.load_input_event.then(predict, inputs, outputs, api_visibility="private", **MODEL_QUEUE)
    page.redraw(draw, seen, [predictions, tokens], status)

"""Attention: bertviz's head view and model view of any model's attention for a text or a pair, with a colour
scale, segments marked, and [CLS] / [SEP] hidden on request."""

from __future__ import annotations

import gradio as gr

from ui import handlers, render, views
from ui.handlers import AttentionResult
from ui.store import ModelStore
from ui.texts import Text, t
from ui.widgets import MODEL_QUEUE, QUICK, Page, caption, examples, guarded, picker, teaching

EXAMPLES = [["北京是中国的首都。", ""], ["北京是中国的首都。", "它有三千多年的建城史。"],
            ["The cat sat on the mat.", "It was happy."]]
MAX_HEAD_VIEW_TOKENS = 64  # more lines than 64 x 64 make the head view unreadable
MEAN = -1  # the head menu's "mean over heads"
HIDDEN = ("[CLS]", "[SEP]")


def build(page: Page, store: ModelStore, lang: gr.Radio) -> None:
    model = picker(page, store, None, "common.model", "att-model", preselect="fill-mask")
    first = page.add(gr.Textbox(label=page.text("common.first"), info=page.text("common.enter"), lines=1,
                                max_lines=4, elem_id="att-first"), label="common.first", info="common.enter")
    second = page.add(gr.Textbox(label=page.text("common.second_optional"), lines=1, max_lines=4,
                                 elem_id="att-second"), label="common.second_optional")
    run = page.add(gr.Button(page.text("att.run"), variant="primary", elem_id="att-run"), value="att.run")
    status = gr.Markdown(elem_id="att-status")
    with gr.Row():
        layer = page.add_custom(gr.Dropdown(label=page.text("att.layer"), choices=[], elem_id="att-layer",
                                            interactive=True), lambda lang: {"label": t("att.layer", lang)})
        head = page.add_custom(gr.Dropdown(label=page.text("att.head"), choices=[], elem_id="att-head",
                                           interactive=True), lambda lang: {"label": t("att.head", lang)})
        hide = page.add(gr.Checkbox(label=page.text("att.hide"), value=False, elem_id="att-hide"), label="att.hide")
    shown = gr.Markdown(elem_id="att-shown")
    caption(page, "att.head_view", "att-head-caption")
    head_view = gr.Plot(show_label=False, elem_id="att-head-view")
    caption(page, "att.model_view", "att-model-caption")
    model_view = gr.Plot(show_label=False, elem_id="att-model-view")
    teaching(page, ["teach.attention_shows", "teach.attention_not", "teach.cls", "teach.sep"], "att-teach")
    seen = gr.State()
    found = examples(page, EXAMPLES, [first, second], ["common.first", "common.second_optional"])

    @guarded(blank=(gr.skip(), gr.skip(), None, None, "", None))
    def inspect(model_path: str, a: str, b: str, chosen_layer: int | None, chosen_head: int | None, hidden: bool,
                lang: str) -> tuple:
        result = handlers.attention(store, model_path, a, b)
        layers, heads = result.attentions.shape[:2]
        chosen_layer = chosen_layer if chosen_layer is not None and chosen_layer < layers else layers - 1
        chosen_head = chosen_head if chosen_head is not None and chosen_head < heads else MEAN
        return (*menus(lang, result, chosen_layer, chosen_head), *draw(lang, result, chosen_layer, chosen_head, hidden),
                result, render.notes_markdown(result.notes, lang))

    def menus(lang: str, result: AttentionResult | None, chosen_layer: int | None, chosen_head: int | None) -> tuple:
        if result is None:
            return gr.update(), gr.update()
        layers, heads = result.attentions.shape[:2]
        return (gr.update(choices=[(t("att.layer_n", lang, n=i + 1), i) for i in range(layers)], value=chosen_layer),
                gr.update(choices=[(t("att.mean", lang), MEAN)] + [(t("att.head_n", lang, n=h + 1), h)
                                                                   for h in range(heads)], value=chosen_head))

    def draw(lang: str, result: AttentionResult | None, chosen_layer: int | None, chosen_head: int | None,
             hidden: bool) -> tuple:
        if result is None or chosen_layer is None:
            return None, None, ""
        chosen_head = MEAN if chosen_head is None else int(chosen_head)
        keep = [i for i, token in enumerate(result.tokens) if not (hidden and token in HIDDEN)]
        tokens = [result.tokens[i] for i in keep]
        segments = [result.segments[i] for i in keep]
        maps = result.attentions[:, :, keep][:, :, :, keep]
        layers, heads = maps.shape[:2]
        weights = maps[chosen_layer].mean(axis=0) if chosen_head == MEAN else maps[chosen_layer, chosen_head]
        in_head, in_grid = min(len(tokens), MAX_HEAD_VIEW_TOKENS), views.model_view_tokens(len(tokens), layers, heads)
        head_name = t("att.mean", lang) if chosen_head == MEAN else t("att.head_n", lang, n=chosen_head + 1)
        words = chart_words(lang)
        figure = views.head_view(tokens[:in_head], weights[:in_head, :in_head], segments[:in_head],
                                 {**words, "title": t("att.title", lang, layer=chosen_layer + 1, head=head_name)})
        grid = views.model_view(tokens[:in_grid], maps[:, :, :in_grid, :in_grid],
                                (chosen_layer, max(chosen_head, 0)), words)
        notes = [Text("att.hidden")] if hidden else []
        notes += [Text("att.shown", total=len(tokens), shown=count, view=Text(view))
                  for count, view in ((in_head, "att.head_view_name"), (in_grid, "att.model_view_name"))
                  if count < len(tokens)]
        return figure, grid, "\n\n".join(t("common.note", lang, note=note(lang)) for note in notes)

    inputs = [model, first, second, layer, head, hide, lang]
    outputs = [layer, head, head_view, model_view, shown, seen, status]
    run.click(inspect, inputs, outputs, api_visibility="private", **MODEL_QUEUE)
    for box in (first, second):
        box.submit(inspect, inputs, outputs, api_visibility="private", **MODEL_QUEUE)
    found.load_input_event.then(inspect, inputs, outputs, api_visibility="private", **MODEL_QUEUE)
    def choose(result: AttentionResult | None, chosen_layer: int | None, chosen_head: int | None, hidden: bool,
               lang: str) -> tuple:
        return draw(lang, result, chosen_layer, chosen_head, hidden)

    def relabel(lang: str, result: AttentionResult | None, chosen_layer: int | None, chosen_head: int | None,
                hidden: bool) -> tuple:
        notes = render.notes_markdown(result.notes, lang) if result else ""
        return (*menus(lang, result, chosen_layer, chosen_head), *draw(lang, result, chosen_layer, chosen_head, hidden),
                notes)

    chosen = [seen, layer, head, hide]
    for control in (layer, head, hide):
        control.input(choose, [*chosen, lang], [head_view, model_view, shown], **QUICK)
    page.redraw_with(relabel, chosen, [layer, head, head_view, model_view, shown, status])


def chart_words(lang: str) -> dict[str, str]:
    """The words the attention charts show, in `lang`."""
    keys = {"attending": "att.attending", "attended": "att.attended", "weight": "att.weight",
            "segment": "common.segment", "segment_a": "common.segment_a", "segment_b": "common.segment_b",
            "layer": "att.layer_axis", "head": "att.head_axis", "open_title": "att.open_title"}
    return {name: t(key, lang) if name != "open_title" else t(key, lang, layer="{layer}", head="{head}")
            for name, key in keys.items()}

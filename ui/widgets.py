"""What every tab builds on: the registry of widgets whose words follow the page's language, model pickers, the
guard that turns a handler's failure into a message, and the queue all model requests share."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import gradio as gr

from ui import render
from ui.store import ModelStore, PageError
from ui.texts import DEFAULT_LANGUAGE, LANGUAGES, Text, say, t

CONCURRENCY = 2  # model requests computed at once, all tabs together; more would only share the same 2 cores
# Every event that runs a model shares one queue slot group, so at most CONCURRENCY run at once across the tabs.
MODEL_QUEUE = {"concurrency_id": "model", "concurrency_limit": CONCURRENCY}
QUICK = {"queue": False, "api_visibility": "private", "show_progress": "hidden"}  # page-only events, no model run

log = logging.getLogger(__name__)


class Page:
    """The page's widgets whose words depend on its language, each with a function from the language to its update
    (new label, placeholder, value ...), and the results each tab draws again when the language changes. `values`
    fill the texts' braces page-wide (the mask token)."""

    def __init__(self, **values: Any):
        self.values = values
        self._relabels: list[tuple[Any, Callable[[str], dict]]] = []
        self.redraws: list[tuple[Callable, list, list]] = []

    def text(self, key: str, lang: str = DEFAULT_LANGUAGE) -> str:
        return t(key, lang, **self.values)

    def add(self, component: Any, **keys: str) -> Any:
        """Registers `component` whose properties (label=..., value=...) are the texts `keys`; returns it."""
        return self.add_custom(component, lambda lang: {name: self.text(key, lang) for name, key in keys.items()})

    def add_custom(self, component: Any, update: Callable[[str], dict]) -> Any:
        """Registers `component` with `update(lang)` -> its changed properties; returns it."""
        self._relabels.append((component, update))
        return component

    def redraw(self, draw: Callable, state: Any, outputs: list, status: Any) -> None:
        """On a language change, `draw(lang, result)` draws `outputs` again from the result kept in `state`, and
        `status` shows the result's notes again."""
        def again(lang: str, result: Any) -> tuple:
            return *draw(lang, result), render.notes_markdown(result.notes, lang) if result is not None else ""

        self.redraw_with(again, [state], [*outputs, status])

    def redraw_with(self, function: Callable, inputs: list, outputs: list) -> None:
        """On a language change, `function(lang, *inputs)` gives `outputs` again."""
        self.redraws.append((function, inputs, outputs))

    @property
    def relabelled(self) -> list:
        return [component for component, _ in self._relabels]

    def relabel(self, lang: str) -> list:
        return [gr.update(**update(lang)) for _, update in self._relabels]


def language_picker() -> gr.Radio:
    return gr.Radio([(name, code) for code, name in LANGUAGES.items()], value=DEFAULT_LANGUAGE,
                    label=t("app.language", DEFAULT_LANGUAGE), elem_id="lang", container=False)


def guarded(blank: tuple) -> Callable:
    """Turns a failure of a handler whose last argument is the page's language into a warning toast and a status
    message in that language (outputs `blank`, then the status), never a stack trace in the page; bugs are logged
    with their traceback on the server."""

    def decorate(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def run(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except PageError as error:
                message = error.args[0] if error.args else ""
            except Exception:
                log.exception("handler %s failed", fn.__name__)
                message = Text("common.bug")
            lang = args[-1] if args and args[-1] in LANGUAGES else DEFAULT_LANGUAGE
            gr.Warning(say(message, lang))
            status = render.problem_markdown(message, lang)
            return (*blank, status) if blank else status

        return run

    return decorate


def picker(page: Page, store: ModelStore, task: str | None, label: str, elem_id: str,
           optional: bool = False, preselect: str | None = None) -> gr.Dropdown:
    """A model dropdown offering the models that answer `task` (all when None), the best preselected (the best for
    the task `preselect` when given; none, when `optional`); `label` is a text key."""

    def choices(lang: str) -> list[tuple[str, str]]:
        found = [(entry.label, entry.path) for entry in store.models(task)]
        return [(t("common.none", lang), "")] + found if optional else found

    best = (store.best(preselect) if preselect else None) or store.best(task)
    value = "" if optional else (best.path if best else None)
    # Custom values pass: ModelStore checks its own allow-list, and Gradio's refusal would list every server path.
    menu = gr.Dropdown(choices=choices(DEFAULT_LANGUAGE), value=value, label=page.text(label), elem_id=elem_id,
                       interactive=True, allow_custom_value=True)
    return page.add_custom(menu, lambda lang: {"label": page.text(label, lang), "choices": choices(lang)})


def teaching(page: Page, keys: list[str], elem_id: str) -> gr.Markdown:
    """A block of explanations (`teach.*` keys) that follows the page's language."""
    markdown = gr.Markdown(render.teaching_markdown(keys, DEFAULT_LANGUAGE, page.values.get("mask", "")),
                           elem_id=elem_id, elem_classes=["kb-teach"])
    return page.add_custom(markdown, lambda lang: {"value": render.teaching_markdown(keys, lang,
                                                                                      page.values.get("mask", ""))})


def examples(page: Page, rows: list, inputs: list, headers: list[str]) -> gr.Examples:
    """Clickable examples for `inputs`, the columns headed by the texts `headers`."""
    found = gr.Examples(rows, inputs=inputs, label=page.text("common.examples"))
    page.add_custom(found.dataset, lambda lang: {"label": page.text("common.examples", lang),
                                                 "headers": [page.text(key, lang) for key in headers]})
    return found


def caption(page: Page, key: str, elem_id: str) -> gr.Markdown:
    """A line above a chart saying how to read it (a chart's own label would sit over its title)."""
    return page.add(gr.Markdown(page.text(key), elem_id=elem_id, elem_classes=["kb-caption"]), value=key)

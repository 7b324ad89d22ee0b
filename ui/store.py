"""The exported models the app can serve: found under one directory, each pipeline loaded once and shared."""

from __future__ import annotations

import dataclasses
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kbert.pipeline import ModelLoadError, list_models, pipeline
from ui.texts import Text

TRAIN_COMMAND = ".venv/bin/python train.py"


class PageError(Exception):
    """A problem the person can act on (bad input, a broken model directory); the page shows the message (a `Text`,
    in the page's language)."""


@dataclass(frozen=True)
class ModelEntry:
    """One exported model version, as `kbert.pipeline.list_models` describes it; `problem` says why it cannot be
    used (its kbert.json, or loading it, failed), None for a usable one."""

    name: str
    version: int
    path: str
    kind: str  # the model type: pretrainer or classifier ("unusable" for a damaged export)
    tasks: tuple[str, ...]  # the pipeline tasks it answers
    metrics: dict[str, Any]
    problem: str | None = None

    @property
    def label(self) -> str:
        if self.problem:
            return f"{self.name} v{self.version} (unusable: {self.reason})"
        return f"{self.name} v{self.version} ({self.kind})"

    @property
    def where(self) -> str:
        """`name/version`, the model's place under the models directory (the page never shows server paths)."""
        return f"{self.name}/{self.version}"

    @property
    def reason(self) -> str:
        """Why the model cannot be used, its version directory's path left out."""
        return (self.problem or "").replace(self.path + os.sep, "").replace(self.path, self.where)


class ModelStore:
    """The models under `root` and a cache of loaded pipelines, one per (task, model path), safe to share across
    request threads: a model is read from disk the first time a request needs it, never again.

    `entries` are the usable models; `unusable` those whose export is damaged or failed to load, listed with the
    reason and never served: one bad model hides nothing else."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self._pipelines: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        self.problem: Text | None = None  # why the models under root could not be listed, if they could not
        self.entries: list[ModelEntry] = []
        self.unusable: list[ModelEntry] = []
        try:
            for found in list_models(self.root):
                entry = ModelEntry(found["name"], found["version"], found["path"], found["kind"] or "unusable",
                                   tuple(found["tasks"]), dict(found["metrics"]), found["problem"])
                (self.unusable if entry.problem else self.entries).append(entry)
        except (ModelLoadError, OSError) as error:
            self.problem = Text("store.cannot_list", root=str(self.root), error=str(error))

    def models(self, task: str | None = None) -> list[ModelEntry]:
        """The usable models that answer the pipeline `task` (fill-mask, next-sentence, classify, encode); when None,
        every model listed, the unusable ones too (they say why), by name and version."""
        if task is None:
            return sorted([*self.entries, *self.unusable], key=lambda e: (e.name, e.version))
        return [entry for entry in self.entries if task in entry.tasks]

    def best(self, task: str | None = None) -> ModelEntry | None:
        """The model to preselect for `task`: an evaluated one (its export carries metrics) before one without, then
        the newest export (by directory time, then version); loaded to be sure, so one that fails is never
        preselected (it joins `unusable`, and the next is tried)."""
        ranked = sorted(self.entries if task is None else self.models(task),
                        key=lambda e: (bool(e.metrics), _mtime(e.path), e.version), reverse=True)
        for entry in ranked:
            try:
                self.get(task or entry.tasks[0], entry.path)
            except PageError:
                continue
            return entry
        return None

    def empty_message(self) -> Text:
        """What the page says when there is nothing to serve."""
        if self.problem:
            return self.problem
        if self.unusable:
            return Text("store.none_usable", root=str(self.root), count=len(self.unusable), command=TRAIN_COMMAND)
        return Text("store.empty", root=str(self.root), command=TRAIN_COMMAND)

    def check(self, path: str | None) -> ModelEntry:
        """The usable model listed at `path`; PageError when there is none to serve, when `path` is not one of the
        models listed (this store's own allow-list, whatever the page sent) or when that model is unusable."""
        if not self.entries:
            raise PageError(self.empty_message())
        listed = {entry.path: entry for entry in (*self.entries, *self.unusable)}.get(str(path or ""))
        if listed is None:
            raise PageError(Text("store.pick"))
        if listed.problem:
            raise PageError(Text("store.cannot_use", path=listed.where, error=listed.reason))
        return listed

    def get(self, task: str, path: str | None) -> Any:
        """The `kbert.pipeline` for `task` on the model at `path` (which `check` must accept), loaded on first use;
        PageError if it cannot be (a model that fails to load joins `unusable`)."""
        entry = self.check(path)
        key = (task, entry.path)
        with self._lock:
            if key not in self._pipelines:
                try:
                    self._pipelines[key] = pipeline(task, entry.path)
                except (ModelLoadError, ValueError) as error:  # ValueError: the model does not answer `task`
                    failed = dataclasses.replace(entry, problem=str(error))
                    if isinstance(error, ModelLoadError):
                        self._set_unusable(entry, failed)
                    raise PageError(Text("store.cannot_use", path=entry.where, error=failed.reason)) from error
            return self._pipelines[key]

    def _set_unusable(self, entry: ModelEntry, failed: ModelEntry) -> None:
        if entry in self.entries:
            self.entries.remove(entry)
            self.unusable.append(failed)


def _mtime(path: str) -> float:
    try:
        return os.path.getmtime(path)
    except OSError:
        return 0.0

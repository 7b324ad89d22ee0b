"""The exported models the app can serve: found under one directory, each pipeline loaded once and shared."""

from __future__ import annotations

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
    """One exported model version, as `kbert.pipeline.list_models` describes it."""

    name: str
    version: int
    path: str
    kind: str  # the model type: pretrainer or classifier
    tasks: tuple[str, ...]  # the pipeline tasks it answers
    metrics: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version} ({self.kind})"


class ModelStore:
    """The models under `root` and a cache of loaded pipelines, one per (task, model path), safe to share across
    request threads: a model is read from disk the first time a request needs it, never again."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self._pipelines: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        self.problem: Text | None = None  # why the models under root could not be listed, if they could not
        try:
            self.entries = [
                ModelEntry(found["name"], found["version"], found["path"], found["task"], tuple(found["tasks"]),
                           dict(found["metrics"]))
                for found in list_models(self.root)
            ]
        except ModelLoadError as error:
            self.entries, self.problem = [], Text("store.cannot_list", root=str(self.root), error=str(error))

    def models(self, task: str | None = None) -> list[ModelEntry]:
        """The models that answer the pipeline `task` (fill-mask, next-sentence, classify, encode); all when None."""
        return [entry for entry in self.entries if task is None or task in entry.tasks]

    def best(self, task: str | None = None) -> ModelEntry | None:
        """The model to preselect for `task`: an evaluated one (its export carries metrics) before one without,
        then the newest export (by directory time, then version)."""
        return max(self.models(task), key=lambda e: (bool(e.metrics), _mtime(e.path), e.version), default=None)

    def empty_message(self) -> Text:
        """What the page says when there is nothing to serve."""
        return self.problem or Text("store.empty", root=str(self.root), command=TRAIN_COMMAND)

    def get(self, task: str, path: str | None) -> Any:
        """The `kbert.pipeline` for `task` on the model at `path`, loaded on first use; PageError if it cannot be."""
        if not path:
            raise PageError(self.empty_message() if not self.entries else Text("store.pick"))
        key = (task, str(path))
        with self._lock:
            if key not in self._pipelines:
                try:
                    self._pipelines[key] = pipeline(task, path)
                except (ModelLoadError, ValueError) as error:  # ValueError: the model does not answer `task`
                    raise PageError(Text("store.cannot_use", path=str(path), error=str(error))) from error
            return self._pipelines[key]


def _mtime(path: str) -> float:
    try:
        return os.path.getmtime(path)
    except OSError:
        return 0.0

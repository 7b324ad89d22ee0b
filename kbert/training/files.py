"""Atomic writes for the small files a run leaves (settings, metrics, labels, plots): a crash never leaves half a
file."""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Writes `data` to a temporary file beside `path`, then renames it over `path`, readable by all (0644) like
    the prepared corpora: the temporary file alone would be owner-only."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with tempfile.NamedTemporaryFile("wb", dir=directory, delete=False, suffix=".tmp") as file:
        file.write(data)
    os.chmod(file.name, 0o644)
    os.replace(file.name, path)


def write_text(path: str | os.PathLike, text: str) -> None:
    """`text` as UTF-8, written atomically (`write_bytes`)."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, value: Any) -> None:
    """`value` as indented JSON, written atomically."""
    write_text(path, json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """Parses a JSON file; a syntax error names the file, line and column."""
    with open(path, encoding="utf-8") as file:
        try:
            return json.load(file)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not valid JSON (line {error.lineno}, column {error.colno}): {error.msg}") \
                from None

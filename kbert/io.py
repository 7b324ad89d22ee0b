"""Files written whole or not at all, and JSON read with errors that say where. No TensorFlow here, so the pipeline
and the app import it cheaply.

>>> write_json("/tmp/kbert-demo/settings.json", {"task": "pretrain"})  # a crash leaves the old file or the new
>>> read_json("/tmp/kbert-demo/settings.json")
{'task': 'pretrain'}
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def replacing(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside `path` for the caller to write; when the block ends without error the file is flushed
    to disk, made readable by all (0644) and renamed over `path` in one step, and on an error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=".kbert-", suffix=".tmp")  # not named like `path`
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        with open(temporary, "rb") as file:
            os.fsync(file.fileno())
        temporary.chmod(0o644)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Writes `data` to `path` atomically (`replacing`)."""
    with replacing(path) as temporary:
        temporary.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    """`text` as UTF-8, written atomically."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, value: Any) -> None:
    """`value` as indented JSON (non-ASCII characters as they are), written atomically."""
    write_text(path, json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """A JSON file's content; a syntax error names the file, the line and the column."""
    with open(path, encoding="utf-8") as file:
        try:
            return json.load(file)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not valid JSON (line {error.lineno}, column {error.colno}): {error.msg}") \
                from None

"""The folder an export is written into before it is published: `.export-*` beside the versions (not a number, so
readers never pick it up), held by a lock file while its process lives. An export killed mid-write leaves its folder
behind with a free lock, and the next export into the same model directory removes it; running exports are left
alone."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kbert.file_lock import FileLock, LockHeld

PREFIX = ".export-"
_LOCK = ".lock"


@contextmanager
def staging_dir(parent: Path) -> Iterator[Path]:
    """A new, empty staging folder in `parent`, locked while the block runs (stale ones are removed first). The
    block publishes it by renaming it; whatever is still there when the block ends (it failed) is removed."""
    remove_stale_staging(parent)
    handle, lock_path = tempfile.mkstemp(prefix=PREFIX, suffix=_LOCK, dir=parent)
    os.close(handle)
    lock = FileLock(lock_path).acquire()
    staging = Path(lock_path.removesuffix(_LOCK))
    try:
        staging.mkdir()
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        lock.release()


def remove_stale_staging(parent: Path) -> list[Path]:
    """Removes the staging folders in `parent` whose export is no longer running (their lock is free, or they have
    none), and lock files left without a folder; returns the folders removed."""
    removed = []
    for path in sorted(parent.glob(PREFIX + "*")):
        is_lock = path.name.endswith(_LOCK)
        if is_lock and path.with_name(path.name.removesuffix(_LOCK)).exists():
            continue  # its folder's turn decides
        try:
            with FileLock(path if is_lock else f"{path}{_LOCK}"):
                if not is_lock:
                    shutil.rmtree(path, ignore_errors=True)
                    removed.append(path)
        except LockHeld:
            continue
    for path in removed:
        print(f"note: removed {path}, left by an export that was stopped mid-write", file=sys.stderr)
    return removed

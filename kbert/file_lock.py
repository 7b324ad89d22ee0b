"""An exclusive lock held through a lock file: the kernel's `flock` says whether it is held (so a lock left by a
killed process is free again at once), and the file says who holds it (process id, host, start time, command).
No TensorFlow here: training and export both use it."""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import socket
import sys
from typing import Any


class LockHeld(RuntimeError):
    """Another live process holds the lock; `holder` is what its lock file says about it."""

    def __init__(self, path: str, holder: dict[str, Any]):
        self.path, self.holder = path, holder
        super().__init__(f"{path} is held by {describe_holder(holder)}")


def describe_holder(holder: dict[str, Any]) -> str:
    """`process 1234 on host h, started 2026-01-01T12:00:00+00:00 (python train.py ...)`, from a lock file's
    contents (what is known of it)."""
    text = f"process {holder.get('pid', '?')} on host {holder.get('host', '?')}"
    if holder.get("started"):
        text += f", started {holder['started']}"
    return text + (f" ({holder['command']})" if holder.get("command") else "")


class FileLock:
    """`with FileLock(path):` holds an exclusive lock on `path` (created if need be, removed on release), or raises
    LockHeld at once; `previous` is then what a dead holder's file said (None if there was none)."""

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        self.previous: dict[str, Any] | None = None
        self._fd: int | None = None

    def acquire(self) -> FileLock:
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(fd)
                os.close(fd)
                raise LockHeld(self.path, holder) from None
            if _still_linked(fd, self.path):
                break
            os.close(fd)  # the holder we waited for removed the file on release: lock the one now there
        self.previous = _read_holder(fd) or None
        holder = {"pid": os.getpid(), "host": socket.gethostname(),
                  "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                  "command": " ".join([os.path.basename(sys.executable), *sys.argv])}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(holder) + "\n").encode("utf-8"), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Removes the lock file, then lets the lock go (a process waiting on the old file then retries)."""
        if self._fd is None:
            return
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> FileLock:
        return self.acquire()

    def __exit__(self, *exc_info) -> None:
        self.release()


def _still_linked(fd: int, path: str) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def _read_holder(fd: int) -> dict[str, Any]:
    """The lock file's record of its holder; {} when it is empty or unreadable (a holder killed while writing it)."""
    try:
        value = json.loads(os.pread(fd, 65536, 0).decode("utf-8") or "{}")
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return value if isinstance(value, dict) else {}

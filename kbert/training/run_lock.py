"""One run per directory: a training job holds `run.lock` in its output directory while it runs, so a second job
started there stops at once with a message naming the first, instead of both writing the same files."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import TypeVar

from kbert.file_lock import FileLock, LockHeld, describe_holder
from kbert.training.strategy import is_chief_process

LOCK_FILE = "run.lock"
Job = TypeVar("Job", bound=Callable)


class RunDirectoryInUse(RuntimeError):
    """Another live training process holds the run directory."""


def one_run_at_a_time(job: Job) -> Job:
    """Makes the job `job(settings, strategy=None)` hold the lock of `settings.output_dir` while it runs (in a
    cluster, the chief holds it: the other workers write nothing there)."""

    @functools.wraps(job)
    def locked(settings, strategy=None):
        if not is_chief_process():
            return job(settings, strategy)
        os.makedirs(settings.output_dir, exist_ok=True)
        lock = FileLock(os.path.join(settings.output_dir, LOCK_FILE))
        try:
            lock.acquire()
        except LockHeld as held:
            raise RunDirectoryInUse(f"{settings.output_dir} is in use by another run: {describe_holder(held.holder)}. "
                                    "Wait for it to end, or choose another --output-dir.") from None
        if lock.previous:
            print(f"note: {lock.path} was left by {describe_holder(lock.previous)}, which is no longer running; "
                  "taking it over", file=sys.stderr)
        try:
            return job(settings, strategy)
        finally:
            lock.release()

    return locked

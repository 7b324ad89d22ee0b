"""What a person watching a run sees: a live progress line while it trains and a summary table at the end."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from typing import TextIO


class Progress:
    """A progress line: step, the `shown` metrics (name, short label; the objective's), examples/s and time left.

    On a terminal the line is redrawn in place on every update; otherwise (a log file) one line is printed every
    `every` steps and at the last step.
    """

    def __init__(self, title: str, total_steps: int, first_step: int = 0, every: int = 10,
                 stream: TextIO | None = None, shown: tuple[tuple[str, str], ...] = (("loss", "loss"),)):
        self.title = title
        self.shown = shown
        self.total_steps = total_steps
        self.every = every
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self._start_step = first_step
        self._start_time: float | None = None

    def update(self, step: int, metrics: Mapping[str, float], examples_per_step: int) -> None:
        """Shows the state after `step`; the speed is measured from the first update, which includes compilation."""
        now = time.monotonic()
        if self._start_time is None:
            self._start_time, self._start_step = now, step
        if not self.live and step % self.every and step != self.total_steps:
            return
        steps_done = step - self._start_step
        seconds = now - self._start_time
        rate = steps_done / seconds if steps_done and seconds > 0 else None
        parts = [f"{self.title} step {step}/{self.total_steps}"]
        parts += [f"{label} {metrics[key]:.4f}" for key, label in self.shown if key in metrics]
        if rate:
            parts.append(f"{rate * examples_per_step:,.0f} ex/s")
            parts.append(f"{format_duration((self.total_steps - step) / rate)} left")
        line = " | ".join(parts)
        if self.live:
            self.stream.write("\r" + line + "\x1b[K")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        """Ends the live line so later output starts on a fresh one."""
        if self.live and self._start_time is not None:
            self.stream.write("\n")
            self.stream.flush()


def format_duration(seconds: float) -> str:
    """`75` -> `1m15s`, `4000` -> `1h06m`: short enough for a progress line."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def format_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table with aligned columns; floats are shown with 4 decimals."""
    cells = [[f"{v:.4f}" if isinstance(v, float) else str(v) for v in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)

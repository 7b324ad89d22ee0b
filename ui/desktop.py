"""The studio in a window of its own: pywebview over Qt WebEngine showing the page the server answers on 127.0.0.1.
The window runs in a process of its own (`python -m ui.desktop URL`): Qt WebEngine and TensorFlow crash when loaded
into one process."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

TITLE = "kbert"
# Qt WebEngine draws in software: the page is light, and looking for a GPU prints errors on machines without one.
_QUIET_CHROMIUM = {"QTWEBENGINE_CHROMIUM_FLAGS": "--disable-gpu --log-level=3", "QT_LOGGING_RULES": "*=false"}


def open_window(url: str, title: str = TITLE) -> int:
    """Shows `url` in a native window titled `title` until it is closed; returns the window process's exit code.
    Needs a display (a desktop session, or Xvfb with DISPLAY set); raises SystemExit saying so when there is none."""
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise SystemExit("--desktop needs a display: run it in a desktop session (or under Xvfb with DISPLAY set), "
                         "or leave --desktop out and open the printed address in a browser")
    env = {**_QUIET_CHROMIUM, **os.environ}
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # Chromium's sandbox, inside Qt WebEngine, refuses root
        env.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")
    return subprocess.run([sys.executable, "-m", "ui.desktop", url, "--title", title], env=env).returncode


def show(url: str, title: str = TITLE, width: int = 1280, height: int = 900) -> None:
    """The window itself, in this process; returns when it is closed."""
    import webview

    webview.create_window(title, url, width=width, height=height)
    webview.start(gui="qt")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m ui.desktop", description="Show a page in a native window.")
    parser.add_argument("url")
    parser.add_argument("--title", default=TITLE)
    arguments = parser.parse_args()
    show(arguments.url, arguments.title)

"""The studio in a window of its own: pywebview over Qt WebEngine, showing the page the server answers on
127.0.0.1. `open_window` returns when the window is closed."""

from __future__ import annotations

import os

TITLE = "kbert"


def open_window(url: str, title: str = TITLE, width: int = 1280, height: int = 900) -> None:
    """Shows `url` in a native window titled `title` until it is closed. Needs a display (a desktop session, or
    Xvfb with DISPLAY set); raises SystemExit saying so when there is none."""
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise SystemExit("--desktop needs a display: run it in a desktop session (or under Xvfb with DISPLAY set), "
                         "or leave --desktop out and open the printed address in a browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # Chromium's sandbox, inside Qt WebEngine, refuses root
        os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")
    import webview

    webview.create_window(title, url, width=width, height=height)
    webview.start(gui="qt")

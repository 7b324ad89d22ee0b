"""`python -m ui --desktop` on a virtual screen: a window titled kbert appears and draws the studio's page, and closing
it stops the server behind it. Needs Debian's xvfb, and pywebview, PySide6 and python-xlib from PyPI (setup.sh
--dev installs them). The screenshot goes where the browser tests' go ($KBERT_SCREENSHOTS, else a temporary folder)."""

import os
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager

import pytest

from tests.ui_support import ROOT, export_tiny_models, free_port, screenshot_dir

xlib = pytest.importorskip("Xlib.display", reason="needs python-xlib: pip install python-xlib")
pytest.importorskip("webview", reason="needs pywebview: pip install pywebview")
pytest.importorskip("PySide6.QtWebEngineWidgets", reason="needs Qt WebEngine: pip install PySide6")
if shutil.which("Xvfb") is None:
    pytest.skip("needs Xvfb: apt-get install -y xvfb", allow_module_level=True)
import Xlib.error  # noqa: E402
from PIL import ImageGrab  # noqa: E402  (Pillow comes with matplotlib)
from Xlib import X, protocol  # noqa: E402

PRIMARY = (249, 115, 22)  # Gradio's primary orange: the Predict button of the first tab


@contextmanager
def virtual_screen():
    """An Xvfb display, 1280 x 900; yields its name (":N"). Xvfb picks a free number and writes it to a pipe once it
    accepts clients, so nothing waits on a clock."""
    read, write = os.pipe()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "1280x900x24", "-nolisten", "tcp"],
                            pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as announced:
        number = announced.readline().strip()
    try:
        yield f":{number}"
    finally:
        xvfb.terminate()
        xvfb.wait(timeout=30)


def _until(condition, timeout: float, what: str, process: subprocess.Popen, log) -> object:
    """Polls `condition()` until it gives something truthy (returned), the app exits, or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the app exited ({process.returncode}) before {what}:\n{log.read_text()[-3000:]}")
        found = condition()
        if found:
            return found
        time.sleep(0.25)  # poll interval, not a wait for a result
    raise AssertionError(f"no {what} within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def _window(display, title: str):
    """The viewable top-level window named `title`, or None. A window listed by the tree may be gone by the time it
    is asked for its name (Qt makes and drops helper windows while it starts): such a window is skipped."""
    for window in display.screen().root.query_tree().children:
        try:
            if window.get_wm_name() == title and window.get_attributes().map_state == X.IsViewable:
                return window
        except (Xlib.error.BadWindow, Xlib.error.BadDrawable):
            continue
    return None


def _screenshot(name: str, window):
    geometry = window.get_geometry()
    box = (max(geometry.x, 0), max(geometry.y, 0), geometry.x + geometry.width, geometry.y + geometry.height)
    return ImageGrab.grab(bbox=box, xdisplay=name)


def _drawn(screen: str, window):
    """A screenshot of `window` once the page has drawn in it (not a blank window: many colours, and the primary
    button's orange over a button's area), else None."""
    image = _screenshot(screen, window)
    pixels = image.convert("RGB").getdata()
    orange = sum(all(abs(channel - want) <= 24 for channel, want in zip(pixel, PRIMARY, strict=True))
                 for pixel in pixels)
    return image if len(set(pixels)) >= 50 and orange >= 2_000 else None


def test_the_desktop_window_shows_the_studio_and_closing_it_stops_the_server(tmp_path_factory):
    models = export_tiny_models(tmp_path_factory.getbasetemp() / "ui_models")
    shots = screenshot_dir(tmp_path_factory)
    log = tmp_path_factory.mktemp("ui_desktop") / "app.log"
    port = free_port()
    with virtual_screen() as screen, open(log, "wb") as output:
        env = {**os.environ, "DISPLAY": screen, "TF_CPP_MIN_LOG_LEVEL": "2", "GRADIO_ANALYTICS_ENABLED": "False"}
        env.pop("WAYLAND_DISPLAY", None)
        command = [sys.executable, "-m", "ui", "--desktop", "--models-dir", str(models["zh-tiny"].parent.parent),
                   "--port", str(port)]
        app = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
        try:
            display = xlib.Display(screen)
            window = _until(lambda: _window(display, "kbert"), 300, "window titled kbert", app, log)
            image = _until(lambda: _drawn(screen, window), 120, "page drawn in the window", app, log)
            image.save(shots / "desktop-window.png")

            protocols, delete = display.intern_atom("WM_PROTOCOLS"), display.intern_atom("WM_DELETE_WINDOW")
            window.send_event(protocol.event.ClientMessage(window=window, client_type=protocols,
                                                           data=(32, [delete, X.CurrentTime, 0, 0, 0])))
            display.flush()  # what a window manager sends when the person clicks the close button
            assert app.wait(timeout=60) == 0
        finally:
            if app.poll() is None:
                app.kill()
                app.wait()
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=5):
        pass  # the server went with the window
    printed = log.read_text().splitlines()
    assert printed == [f"* The studio is open in its own window, served at http://127.0.0.1:{port}/",
                       f"Closing server running on port: {port}"]

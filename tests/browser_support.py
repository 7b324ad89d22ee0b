"""What the browser tests share: Playwright (skipped without it), its `expect`, and Debian's Chromium with the flags
it runs headless with here (skipped without it; KBERT_CHROMIUM names another binary)."""

import os

import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="needs Playwright: pip install playwright")
expect = sync_api.expect
# An expectation waits as long as an action may (60 s), not Playwright's 5 s: the model answers slowly on a loaded
# 2-core machine, and a passing expectation returns as soon as it holds.
expect.set_options(timeout=60_000)
CHROMIUM = os.environ.get("KBERT_CHROMIUM", "/usr/bin/chromium")
if not os.path.exists(CHROMIUM):
    pytest.skip(f"needs Chromium at {CHROMIUM}: apt-get install -y chromium", allow_module_level=True)
# Playwright's own browser download does not work here; Debian's Chromium runs headless with these flags.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

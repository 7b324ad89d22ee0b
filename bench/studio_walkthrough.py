"""What a learner sees: starts the studio on the shipped models, walks through every tab as a learner would (in
Chromium, through Playwright), prints what each view shows and saves a screenshot of it.

    .venv/bin/python bench/studio_walkthrough.py [--models-dir saved_models] [--out ui/screenshots]

The inputs are the tutorial's: "北京是中国的[MASK]都。", the pair 北京是中国的首都。/ 它有三千多年的建城史。, and the
review "质量太差了，非常失望。". Needs Debian's Chromium (setup.sh --dev installs it).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

from playwright.sync_api import sync_playwright

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
FIRST, SECOND = "北京是中国的首都。", "它有三千多年的建城史。"


@contextlib.contextmanager
def studio(models_dir: str, log_path: str) -> Iterator[str]:
    """`python -m ui` on a free loopback port until the block ends; yields its URL once the page answers."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "GRADIO_ANALYTICS_ENABLED": "False"}
    with open(log_path, "wb") as log:
        server = subprocess.Popen([sys.executable, "-m", "ui", "--models-dir", models_dir, "--port", str(port),
                                   "--no-browser"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 300
            while True:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the studio did not start; its log is {log_path}")
                try:
                    with urllib.request.urlopen(url, timeout=5):
                        break
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    time.sleep(0.5)
            yield url
        finally:
            server.terminate()
            server.wait(timeout=30)


def shown(page, selector: str) -> str:
    return " | ".join(line for line in page.locator(selector).inner_text().splitlines() if line.strip())


def walk(url: str, out: str) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.set_default_timeout(180_000)
        page.goto(url)

        page.locator("#fill-text textarea").fill("北京是中国的[MASK]都。")
        page.locator("#fill-text textarea").press("Enter")
        page.wait_for_selector("#fill-predictions .kb-cand")
        print("fill-mask 北京是中国的[MASK]都。:", shown(page, "#fill-predictions")[:600])
        page.screenshot(path=f"{out}/1-fill-mask.png", full_page=True)

        page.locator("#fill-text textarea").fill(FIRST)
        page.locator("#fill-words .token").nth(6).click()  # 首
        page.wait_for_selector("#fill-predictions .kb-original")
        print("fill-mask, 首 clicked:", shown(page, "#fill-predictions")[:600])
        page.screenshot(path=f"{out}/2-fill-mask-click.png", full_page=True)

        page.get_by_role("tab", name="句子对").click()
        page.locator("#pair-first textarea").fill(FIRST)
        page.locator("#pair-second textarea").fill(SECOND)
        page.locator("#pair-second textarea").press("Enter")
        page.wait_for_selector("#pair-nsp meter")
        page.wait_for_timeout(1000)  # the summary under the meters is drawn after them
        print(f"sentence pair {FIRST} / {SECOND}:", shown(page, "#pair-summary"))
        page.screenshot(path=f"{out}/3-sentence-pair.png", full_page=True)

        page.get_by_role("tab", name="分类与归因").click()
        page.locator("#clf-text textarea").fill("质量太差了，非常失望。")
        page.locator("#clf-text textarea").press("Enter")
        page.wait_for_selector("#clf-scores meter")
        page.wait_for_timeout(1500)  # the attribution charts follow the scores
        print("classify 质量太差了，非常失望。:", shown(page, "#clf-summary"))
        page.screenshot(path=f"{out}/4-classify.png", full_page=True)

        page.get_by_role("tab", name="注意力").click()
        page.locator("#att-first textarea").fill(FIRST)
        page.locator("#att-second textarea").fill(SECOND)
        page.locator("#att-run").click()
        page.wait_for_selector("#att-model-view svg .mark-rect")
        page.wait_for_timeout(1500)  # Vega draws the head view after the model view
        page.screenshot(path=f"{out}/5-attention.png", full_page=True)
        page.locator("#att-head-view svg .mark-text text").nth(8).hover()
        page.wait_for_timeout(800)  # the hover's redraw
        page.locator("#att-head-view").screenshot(path=f"{out}/6-attention-head-view-hover.png")

        page.get_by_role("tab", name="输入嵌入").click()
        page.locator("#emb-first textarea").fill(FIRST)
        page.locator("#emb-second textarea").fill(SECOND)
        page.locator("#emb-run").click()
        page.wait_for_selector("#emb-plot svg .mark-rect")
        page.wait_for_timeout(1500)
        page.screenshot(path=f"{out}/7-input-embeddings.png", full_page=True)

        page.get_by_role("tab", name="模型信息").click()
        page.wait_for_timeout(2000)  # the model table loads on the tab's first show
        page.screenshot(path=f"{out}/8-model-details.png", full_page=True)
        page.locator("#lang").get_by_text("English").click()
        page.wait_for_timeout(3000)  # the page reloads in English
        page.get_by_role("tab", name="Classify and explain").click()
        page.wait_for_timeout(1500)
        page.screenshot(path=f"{out}/9-classify-english.png", full_page=True)
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", default="saved_models", help="the exports to serve (default: %(default)s)")
    parser.add_argument("--out", default="ui/screenshots", help="where screenshots go (default: %(default)s)")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    with studio(os.path.abspath(args.models_dir), os.path.join(args.out, "studio.log")) as url:
        walk(url, args.out)
    os.remove(os.path.join(args.out, "studio.log"))
    print(f"screenshots in {args.out}/")


if __name__ == "__main__":
    main()

"""The studio in a real browser with a bad kbert.json beside good models (Playwright in Debian's Chromium, as in
test_ui_browser.py): it starts, serves the good models, and lists the bad ones as unusable with the reason."""

import json
import re
import shutil

import pytest

from tests.browser_support import CHROMIUM, CHROMIUM_ARGS, expect, sync_api
from tests.ui_support import export_tiny_models, running_app, screenshot_dir


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The app over the two tiny models, a newer zh-tiny version whose kbert.json lacks `tasks` (KeyError at start-up
    before) and a model whose kbert.json is a JSON list (TypeError before)."""
    good = export_tiny_models(tmp_path_factory.getbasetemp() / "ui_models")
    root = tmp_path_factory.mktemp("bad_models_browser")
    for name, path in good.items():
        shutil.copytree(path, root / name / "1")
    for target, edit in ((root / "zh-tiny" / "2", lambda m: {k: v for k, v in m.items() if k != "tasks"}),
                         (root / "listed" / "1", lambda m: [1, 2])):
        shutil.copytree(good["zh-tiny"], target)
        (target / "kbert.json").write_text(json.dumps(edit(json.loads((target / "kbert.json").read_text()))))
    with running_app(root, tmp_path_factory.mktemp("bad_models_browser_log") / "server.log") as url:
        yield url, root


@pytest.fixture
def page(served):
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.set_default_timeout(60_000)
        page.goto(served[0])
        yield page
        browser.close()


def test_the_good_models_are_served_and_the_bad_ones_listed_with_the_reason(page, served, tmp_path_factory):
    root = served[1]
    assert page.locator("#no-models").count() == 0
    page.locator("#fill-text textarea").fill("今天天气很[MASK]。")
    page.locator("#fill-run").click()
    expect(page.locator("#fill-predictions .kb-cand")).to_have_count(5)  # zh-tiny v1 answers

    page.get_by_role("tab", name="模型信息").click()
    page.locator("#details-model input").click()
    options = page.get_by_role("option")
    expect(options.filter(has_text="listed v1 (unusable")).to_have_count(1)
    labels = options.all_inner_texts()
    assert "zh-tiny v2 (unusable: kbert.json: field 'tasks' must be a list, got missing; export the model again)" in (
        labels)
    assert not any(str(root) in label for label in labels)  # no server paths in the list
    page.screenshot(path=screenshot_dir(tmp_path_factory) / "bad-models-list.png", full_page=True)
    options.filter(has_text="listed v1 (unusable").click()
    expect(page.locator("#details")).to_contain_text(re.compile(r"listed/1.*kbert\.json: holds a list"))
    assert "Traceback" not in page.content()

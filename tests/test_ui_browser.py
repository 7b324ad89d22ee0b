"""The app end to end in a real browser: `python -m ui` serving two tiny models, driven by Playwright in Debian's
Chromium. Needs `pip install playwright` and `apt-get install chromium` (KBERT_CHROMIUM names another binary)."""

import os
import re

import pytest

from tests.ui_support import LABELS, export_tiny_models, running_app

sync_api = pytest.importorskip("playwright.sync_api", reason="needs Playwright: pip install playwright")
CHROMIUM = os.environ.get("KBERT_CHROMIUM", "/usr/bin/chromium")
if not os.path.exists(CHROMIUM):
    pytest.skip(f"needs Chromium at {CHROMIUM}: apt-get install -y chromium", allow_module_level=True)

# Playwright's own browser download does not work here; Debian's Chromium runs headless with these flags.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    models = export_tiny_models(tmp_path_factory.getbasetemp() / "ui_models")
    log = tmp_path_factory.mktemp("ui_browser") / "server.log"
    with running_app(models["zh-tiny"].parent.parent, log) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, app_url):
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.set_default_timeout(60_000)
    page.goto(app_url)
    yield page
    page.close()


def _probabilities(page, selector: str) -> dict[str, float]:
    """A gr.Label's bars: {label: probability}."""
    meters = page.locator(f"{selector} meter")
    return {meters.nth(i).get_attribute("aria-label"): float(meters.nth(i).get_attribute("value"))
            for i in range(meters.count())}


def test_clicking_a_word_masks_it_and_shows_candidates(page, tmp_path):
    page.locator("#fill-text textarea").fill("今天天气很好。")
    page.locator("#fill-words .token").nth(5).click()  # the sixth character, 好
    sync_api.expect(page.locator("#fill-text textarea")).to_have_value("今天天气很[MASK]。")
    page.wait_for_selector("#fill-predictions .kb-cand")
    candidates = page.locator("#fill-predictions .kb-cand")
    assert candidates.count() == 5
    tokens = [candidates.nth(i).get_attribute("data-token") for i in range(5)]
    scores = [float(candidates.nth(i).get_attribute("data-score")) for i in range(5)]
    assert all(tokens) and scores == sorted(scores, reverse=True) and 0 < sum(scores) <= 1 + 1e-6
    assert page.locator("#fill-predictions .kb-completed").inner_text() == f"今天天气很{tokens[0].removeprefix('##')}。"
    assert page.locator("#fill-tokens .kb-chip").all_inner_texts() == ["[CLS]", *"今天天气很", "[MASK]", "。", "[SEP]"]
    page.screenshot(path=tmp_path / "fill-mask.png", full_page=True)

    page.get_by_text("北京是中国的[MASK]都。", exact=True).click()  # an example runs when clicked
    sync_api.expect(page.locator("#fill-predictions .kb-completed")).to_have_text(re.compile("^北京是中国的.都。$"))


def test_bad_input_gives_a_message_in_the_page(page, tmp_path):
    page.locator("#fill-text textarea").fill("今天天气很好。")
    page.locator("#fill-run").click()
    sync_api.expect(page.locator("#fill-status")).to_contain_text("no [MASK]")
    page.locator("#fill-text textarea").fill("")
    page.locator("#fill-run").click()
    sync_api.expect(page.locator("#fill-status")).to_contain_text("empty")
    page.screenshot(path=tmp_path / "bad-input.png", full_page=True)
    assert "Traceback" not in page.content()

    page.locator("#fill-text textarea").fill("😀 [MASK] שלום\x07")
    page.locator("#fill-run").click()
    sync_api.expect(page.locator("#fill-status")).to_contain_text("[UNK]")
    assert page.locator("#fill-predictions .kb-cand").count() == 5


def test_sentence_pair_and_swap(page, tmp_path):
    page.get_by_role("tab", name="Sentence pair").click()
    page.locator("#pair-first textarea").fill("北京是中国的首都。")
    page.locator("#pair-second textarea").fill("它有三千多年的历史。")
    page.locator("#pair-run").click()
    page.wait_for_selector("#pair-nsp meter")
    nsp = _probabilities(page, "#pair-nsp")
    assert set(nsp) == {"B follows A", "B does not follow A"} and sum(nsp.values()) == pytest.approx(1, abs=1e-3)
    forward, backward = re.findall(r"(\d+\.\d)%", page.locator("#pair-summary").inner_text())

    page.locator("#pair-swap").click()
    sync_api.expect(page.locator("#pair-first textarea")).to_have_value("它有三千多年的历史。")
    sync_api.expect(page.locator("#pair-summary")).to_contain_text(f"P(B follows A) = {backward}%")
    assert f"P(A follows B) = {forward}%" in page.locator("#pair-summary").inner_text()

    page.locator("#pair-classifier input").click()
    page.get_by_role("option", name=re.compile("sentiment-tiny")).click()
    page.locator("#pair-run").click()
    page.wait_for_selector("#pair-labels meter")
    labels = _probabilities(page, "#pair-labels")
    assert set(labels) == set(LABELS) and sum(labels.values()) == pytest.approx(1, abs=1e-3)
    page.screenshot(path=tmp_path / "sentence-pair.png", full_page=True)


def test_classify_shows_probabilities_attributions_and_attention(page, tmp_path):
    page.get_by_role("tab", name="Classify and inspect").click()
    page.locator("#clf-text textarea").fill("质量太差了，用了两天就坏了。")
    page.locator("#clf-run").click()
    page.wait_for_selector("#clf-scores meter")
    scores = _probabilities(page, "#clf-scores")
    assert set(scores) == set(LABELS) and sum(scores.values()) == pytest.approx(1, abs=1e-3)
    assert "".join(page.locator("#clf-attributions .token .text").all_inner_texts()) == "质量太差了，用了两天就坏了。"
    heatmap = page.locator("#clf-attention table")
    sync_api.expect(heatmap.locator("caption")).to_have_text("Layer 2 · mean over heads")
    sync_api.expect(heatmap.locator("tbody tr")).to_have_count(16)  # [CLS], 14 characters, [SEP]
    mean_over_heads = heatmap.locator("tbody").inner_html()

    page.locator("#clf-head input").click()
    page.get_by_role("option", name="Head 1", exact=True).click()
    sync_api.expect(heatmap.locator("caption")).to_have_text("Layer 2 · head 1")
    assert heatmap.locator("tbody").inner_html() != mean_over_heads
    sync_api.expect(page.get_by_role("option", name="Head 2", exact=True)).to_be_hidden()  # the menu has closed
    page.screenshot(path=tmp_path / "classify.png", full_page=True)


def test_model_details_show_the_model_card(page, tmp_path):
    page.get_by_role("tab", name="Model details").click()
    sync_api.expect(page.locator("#details")).to_contain_text("Tokenization runs inside the graph")
    page.screenshot(path=tmp_path / "model-details.png", full_page=True)

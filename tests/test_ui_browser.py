"""The studio end to end in a real browser: `python -m ui` serving two tiny models, driven by Playwright in Debian's
Chromium, reading what the page shows. Needs `pip install playwright` and `apt-get install chromium` (KBERT_CHROMIUM
names another binary). Each test saves screenshots into $KBERT_SCREENSHOTS when it is set, else a temporary folder."""

import re

import pytest

from tests.browser_support import CHROMIUM, CHROMIUM_ARGS, expect, sync_api
from tests.ui_support import LABELS, export_tiny_models, running_app, screenshot_dir
from ui.views import SEGMENT_COLORS

# The head view's lines that are drawn (Vega writes an opacity of 0 for the ones a hover hides).
VISIBLE_LINES = """selector => [...document.querySelectorAll(selector + ' .mark-rule line')]
                   .filter(line => parseFloat(line.getAttribute('opacity') ?? '1') > 0).length"""


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(the app's URL, what it had printed when it first answered)."""
    models = export_tiny_models(tmp_path_factory.getbasetemp() / "ui_models")
    log = tmp_path_factory.mktemp("ui_browser") / "server.log"
    with running_app(models["zh-tiny"].parent.parent, log) as url:
        yield url, log.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def app_url(served):
    return served[0]


def test_a_normal_start_prints_the_address_and_no_tensorflow_noise(served):
    url, printed = served
    lines = printed.splitlines()
    assert lines[0] == f"* Running on local URL:  {url.rstrip('/')}"
    assert all(line.startswith("* ") for line in lines), lines  # Gradio's own lines only (the next may be unflushed)


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    return screenshot_dir(tmp_path_factory)


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
    expect(page.locator("#lang input[value=zh]")).to_be_checked()
    yield page
    page.close()


def _probabilities(page, selector: str) -> dict[str, float]:
    """A gr.Label's bars: {label: probability}."""
    meters = page.locator(f"{selector} meter")
    return {meters.nth(i).get_attribute("aria-label"): float(meters.nth(i).get_attribute("value"))
            for i in range(meters.count())}


def _svg_texts(page, selector: str) -> list[str]:
    """The words drawn in the charts under `selector`."""
    return [text.strip() for text in page.locator(f"{selector} text").all_text_contents()]


def test_clicking_a_word_masks_it_and_shows_candidates_their_sentences_and_the_originals_rank(page, shots):
    page.locator("#fill-text textarea").fill("今天天气很好。")
    page.locator("#fill-words .token").nth(5).click()  # the sixth character, 好
    expect(page.locator("#fill-text textarea")).to_have_value("今天天气很[MASK]。")
    page.wait_for_selector("#fill-predictions .kb-cand")
    candidates = page.locator("#fill-predictions .kb-cand")
    assert candidates.count() == 5
    tokens = [candidates.nth(i).get_attribute("data-token") for i in range(5)]
    scores = [float(candidates.nth(i).get_attribute("data-score")) for i in range(5)]
    assert all(tokens) and scores == sorted(scores, reverse=True) and 0 < sum(scores) <= 1 + 1e-6
    sentences = page.locator("#fill-predictions .kb-sentence").all_inner_texts()
    assert sentences == [f"今天天气很{token.removeprefix('##')}。" for token in tokens]  # each as a whole sentence
    original = page.locator("#fill-predictions .kb-original")
    rank = int(original.get_attribute("data-rank"))
    expect(original).to_have_text(re.compile(f"^原来是「好」：排第 {rank} 名，概率 "))
    assert rank >= 1 and (rank <= 5) == ("好" in tokens)
    assert page.locator("#fill-tokens .kb-chip").all_inner_texts() == ["[CLS]", *"今天天气很", "[MASK]", "。", "[SEP]"]
    page.screenshot(path=shots / "fill-mask-click.png", full_page=True)

    page.locator("#fill-words .token").nth(1).click()  # 天: now two masks, each original ranked, filled together
    expect(page.locator("#fill-predictions .kb-original")).to_have_count(2)
    expect(page.locator("#fill-predictions .kb-joint")).to_contain_text("一起填")
    assert re.fullmatch(r"今.+天气很.+。", page.locator("#fill-predictions .kb-joint .kb-completed").inner_text())
    page.screenshot(path=shots / "fill-mask-joint.png", full_page=True)

    page.get_by_text("北京是中国的[MASK]都。", exact=True).click()  # an example runs when clicked
    expect(page.locator("#fill-predictions .kb-best .kb-text")).to_have_text(re.compile("^北京是中国的.+都。$"))
    expect(page.locator("#fill-predictions .kb-original")).to_have_count(0)  # typed, not clicked: no original


def test_enter_runs_and_bad_input_gives_a_message_saying_what_was_cut(page, shots):
    box = page.locator("#fill-text textarea")
    box.fill("今天天气很好。")
    box.press("Enter")
    expect(page.locator("#fill-status")).to_contain_text("文本里没有 [MASK]")
    box.fill("")
    page.locator("#fill-run").click()
    expect(page.locator("#fill-status")).to_contain_text("是空的")
    assert "Traceback" not in page.content()

    box.fill("[MASK]" + "好" * 10_500 + "[MASK]")  # the box takes it all: the server cuts and says so
    box.press("Enter")
    expect(page.locator("#fill-status")).to_contain_text("只保留了前 10,000 个")
    expect(page.locator("#fill-status")).to_contain_text("被截掉的部分里有 1 个 [MASK]")
    expect(page.locator("#fill-words-note")).to_contain_text("只列出前 30 个（共 10,502 个）")
    page.screenshot(path=shots / "fill-mask-cut.png", full_page=True)

    box.fill("😀 [MASK] 好!\x07")
    box.press("Enter")
    expect(page.locator("#fill-status")).to_contain_text("「😀」")
    expect(page.locator("#fill-status")).to_contain_text("! → ！")  # the vocabulary has the full-width form
    assert page.locator("#fill-predictions .kb-cand").count() == 5


def test_the_language_switch_relabels_the_page_and_redraws_its_results(page, app_url, shots):
    page.locator("#fill-text textarea").fill("今天[MASK]气很[MASK]。")
    page.locator("#fill-run").click()
    expect(page.locator("#fill-predictions .kb-joint")).to_contain_text("一起填")
    expect(page.get_by_role("tab")).to_have_text(["填空", "句子对", "分类与归因", "注意力", "输入嵌入", "模型信息"])
    expect(page.locator("#fill-teach")).to_contain_text("掩码语言模型")

    page.locator("#lang").get_by_text("English").click()
    expect(page.get_by_role("tab")).to_have_text(["Fill the mask", "Sentence pair", "Classify and explain",
                                                  "Attention", "Input embeddings", "Model details"])
    expect(page.locator("#fill-run")).to_have_text("Predict")
    expect(page.locator("#fill-predictions .kb-joint")).to_contain_text("Filled together")
    expect(page.locator("#fill-predictions .kb-mask-title").first).to_have_text("[MASK] 1")
    expect(page.locator("#fill-teach")).to_contain_text("masked language model")
    expect(page.locator("#fill-text label")).to_contain_text("Sentence with [MASK]")
    page.screenshot(path=shots / "language-english.png", full_page=True)

    page.locator("#lang").get_by_text("中文").click()
    expect(page.locator("#fill-run")).to_have_text("预测")
    expect(page.locator("#fill-predictions .kb-mask-title").first).to_have_text("第 1 个 [MASK]")

    page.goto(app_url + "?lang=en")  # an address can ask for English
    expect(page.locator("#fill-run")).to_have_text("Predict")


def test_sentence_pair_both_ways_round_with_segments_and_swap(page, shots):
    page.get_by_role("tab", name="句子对").click()
    page.locator("#pair-first textarea").fill("北京是中国的首都。")
    page.locator("#pair-second textarea").fill("它有三千多年的历史。")
    page.locator("#pair-second textarea").press("Enter")  # Enter in either box runs
    page.wait_for_selector("#pair-nsp meter")
    nsp = _probabilities(page, "#pair-nsp")
    assert set(nsp) == {"B 接在 A 后面", "B 不接在 A 后面"} and sum(nsp.values()) == pytest.approx(1, abs=1e-3)
    forward, backward = re.findall(r"(\d+\.\d)%", page.locator("#pair-summary").inner_text())
    chips = page.locator("#pair-tokens .kb-chip")
    segments = [chips.nth(i).get_attribute("data-segment") for i in range(chips.count())]
    assert segments == ["0"] * 11 + ["1"] * 11  # [CLS] A(9) [SEP] | B(10) [SEP]
    expect(page.locator("#pair-teach")).to_contain_text("一半的时候 B 是紧接在 A 后面的真实下一句")

    page.locator("#pair-swap").click()
    expect(page.locator("#pair-first textarea")).to_have_value("它有三千多年的历史。")
    expect(page.locator("#pair-summary")).to_contain_text(f"P(B 接在 A 后面) = {backward}%")
    assert f"P(A 接在 B 后面) = {forward}%" in page.locator("#pair-summary").inner_text()

    page.locator("#pair-classifier input").click()
    page.get_by_role("option", name=re.compile("sentiment-tiny")).click()
    page.locator("#pair-run").click()
    page.wait_for_selector("#pair-labels meter")
    labels = _probabilities(page, "#pair-labels")
    assert set(labels) == set(LABELS) and sum(labels.values()) == pytest.approx(1, abs=1e-3)
    page.screenshot(path=shots / "sentence-pair.png", full_page=True)


def test_classify_shows_gradient_times_input_and_integrated_gradients(page, shots):
    page.get_by_role("tab", name="分类与归因").click()
    page.locator("#clf-text textarea").fill("质量太差了，非常失望。")
    page.locator("#clf-text textarea").press("Enter")
    page.wait_for_selector("#clf-integrated .token")
    scores = _probabilities(page, "#clf-scores")
    assert set(scores) == set(LABELS) and sum(scores.values()) == pytest.approx(1, abs=1e-3)
    for view in ("#clf-attributions", "#clf-integrated"):
        shown = "".join(page.locator(f"{view} .token .text").all_inner_texts())
        assert shown == "质量太差了，非常 [UNK] [UNK]。"  # 失 and 望 are not in the tiny vocabulary
    expect(page.locator("#clf-summary")).to_contain_text("积分梯度的归因加起来是")
    expect(page.locator("#clf-gxi-teach")).to_contain_text("梯度 × 输入")
    expect(page.locator("#clf-ig-teach")).to_contain_text("加起来等于（输入的分数 − 基线的分数）")
    page.screenshot(path=shots / "classify.png", full_page=True)

    page.locator("#clf-pair textarea").fill("再也不来了。")
    page.locator("#clf-pair textarea").press("Enter")
    expect(page.locator("#clf-integrated")).to_contain_text("|")  # the pair's two sentences, apart
    page.screenshot(path=shots / "classify-pair.png", full_page=True)


def test_attention_head_view_follows_the_pointer_and_the_model_view_opens_a_map(page, shots):
    page.get_by_role("tab", name="注意力").click()
    page.locator("#att-first textarea").fill("北京是中国的首都。")
    page.locator("#att-second textarea").fill("它很大。")
    page.locator("#att-run").click()
    head_view = "#att-head-view"
    page.wait_for_selector(f"{head_view} svg .mark-rule line", state="attached")  # a level line has no height
    tokens = ["[CLS]", *"北京是中国的首都。", "[SEP]", "[UNK]", *"很大。", "[SEP]"]
    n = len(tokens)
    assert _svg_texts(page, f"{head_view} svg .mark-text")[:2 * n] == tokens + tokens  # both sides
    assert page.locator(f"{head_view} .mark-text text").nth(n - 1).get_attribute("fill") == SEGMENT_COLORS[1]
    assert page.locator(f"{head_view} .mark-text text").nth(0).get_attribute("fill") == SEGMENT_COLORS[0]
    assert page.evaluate(VISIBLE_LINES, head_view) == n * n
    expect(page.locator(head_view)).to_contain_text("第 2 层 · 各头平均")
    page.locator(f"{head_view} .mark-text text").nth(3).hover()  # 是, on the left: only its lines stay
    page.wait_for_function(f"() => ({VISIBLE_LINES})('{head_view}') === {n}")
    page.screenshot(path=shots / "attention-head-view-hover.png", full_page=True)
    page.mouse.move(0, 0)
    page.wait_for_function(f"() => ({VISIBLE_LINES})('{head_view}') === {n * n}")

    model_view = "#att-model-view"
    assert "注意力权重" in _svg_texts(page, f"{model_view} svg")  # the colour scale's legend
    expect(page.locator(model_view)).to_contain_text("第 2 层 · 第 1 头")
    page.locator(f"{model_view} .mark-rect path").nth(1 * n * n + 5).click()  # a cell of layer 1, head 2
    expect(page.locator(model_view)).to_contain_text("第 1 层 · 第 2 头")
    page.screenshot(path=shots / "attention-model-view.png", full_page=True)

    page.locator("#att-hide input").check()
    page.wait_for_function(f"() => ({VISIBLE_LINES})('{head_view}') === {(n - 3) ** 2}")
    assert "[CLS]" not in _svg_texts(page, f"{head_view} svg .mark-text")
    expect(page.locator("#att-shown")).to_contain_text("没有重新归一")
    page.locator("#att-head input").click()
    page.get_by_role("option", name="第 2 头", exact=True).click()
    expect(page.locator(head_view)).to_contain_text("第 2 层 · 第 2 头")
    expect(page.locator("#att-teach")).to_contain_text("它不显示")
    page.screenshot(path=shots / "attention-hidden-specials.png", full_page=True)


def test_input_embeddings_show_each_token_as_the_sum_of_its_three_parts(page, shots):
    page.get_by_role("tab", name="输入嵌入").click()
    page.locator("#emb-first textarea").fill("北京是中国的首都。")
    page.locator("#emb-second textarea").fill("它很大。")
    page.locator("#emb-run").click()
    page.wait_for_selector("#emb-plot svg .mark-rect path")
    for title in ("词元向量 E_token", "段向量 E_segment", "位置向量 E_position", "LayerNorm 之后：第一层编码器读到的"):
        assert title in _svg_texts(page, "#emb-plot svg")
    cells = {}
    labels = page.locator("#emb-plot .mark-rect path").evaluate_all("paths => paths.map(p => p.ariaLabel)")
    for label in labels:  # each heatmap cell says what it shows: "part: ...; pos: 1; dim: 3; value: 0.0123"
        fields = dict(field.split(": ", 1) for field in (label or "").split("; ") if ": " in field)
        if "dim" not in fields:
            continue  # the bars of the lengths below
        value = float(fields["value"].replace("\u2212", "-"))  # Vega writes a real minus sign
        cells[fields["part"], int(fields["pos"]), int(fields["dim"])] = value
    for pos in (1, 14):  # 北 in segment A, 大 in segment B: each cell drawn is the sum of the three drawn below it
        parts = [cells[name, pos, 3] for name in ("词元向量 E_token", "段向量 E_segment", "位置向量 E_position")]
        assert cells["三者之和 E_token + E_segment + E_position", pos, 3] == pytest.approx(sum(parts), abs=3e-4)
    assert cells["段向量 E_segment", 1, 3] != cells["段向量 E_segment", 14, 3]
    expect(page.locator("#emb-shown")).to_contain_text("热图画出 32 维中的前 32 维")
    page.screenshot(path=shots / "input-embeddings.png", full_page=True)


def test_model_details_show_the_card_and_one_metric_a_row(page, shots):
    page.get_by_role("tab", name="模型信息").click()
    expect(page.locator("#details")).to_contain_text("Tokenization runs inside the graph")
    expect(page.locator("#details")).to_contain_text("指标：mlm_accuracy")
    first_column = page.locator("#details table").first.locator("td").first
    assert first_column.evaluate("cell => getComputedStyle(cell).whiteSpace") == "nowrap"
    page.screenshot(path=shots / "model-details.png", full_page=True)

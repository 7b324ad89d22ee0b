"""The app's handlers, called directly on two tiny exported models: what each tab shows, what bad input gives, and
how a model exported before the newer signatures is answered."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from kbert.pipeline import MissingSignatureError
from tests.ui_support import LABELS, SEQ_LENGTH, export_tiny_models
from ui import handlers, render, views
from ui.app import build_app
from ui.handlers import PageError
from ui.store import TRAIN_COMMAND, ModelStore
from ui.texts import Text
from ui.widgets import guarded

MASK = "[MASK]"


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    return export_tiny_models(tmp_path_factory.getbasetemp() / "ui_models")


@pytest.fixture(scope="session")
def store(models):
    return ModelStore(models["zh-tiny"].parent.parent)


@pytest.fixture(scope="session")
def pretrainer(models):
    return str(models["zh-tiny"])


@pytest.fixture(scope="session")
def classifier(models):
    return str(models["sentiment-tiny"])


@pytest.fixture
def old_exports(store, monkeypatch):
    """The store's pipelines as if exported before the studio's signatures existed."""
    newer = {"tokenize", "embedding_parts", "embedding_parts_pair", "fill_mask_scores", "integrated_gradients",
             "integrated_gradients_pair"}
    for task, path in [("fill-mask", store.best("fill-mask").path), ("classify", store.best("classify").path)]:
        pipe = store.get(task, path)
        monkeypatch.setattr(pipe, "supports", lambda name, pipe=pipe: name not in newer and name in
                            pipe._model.signatures)
    return store


def test_words_are_characters_in_chinese_and_whole_words_elsewhere():
    assert [unit for unit, _ in handlers.words("今天天气很好。", MASK)] == list("今天天气很好。")
    assert [unit for unit, _ in handlers.words("我爱Python3 and [MASK]! 😀", MASK)] == [
        "我", "爱", "Python3", "and", MASK, "!", "😀"]
    assert [unit for unit, _ in handlers.words("a<m>b", "<m>")] == ["a", "<m>", "b"]  # the model's own mask token
    assert handlers.words("", MASK) == [] and handlers.words(None, MASK) == []


def test_clicking_a_word_masks_it_and_remembers_what_each_mask_stood_for():
    text = "今天 天气很好, nice weather"
    index = {unit: i for unit, i in handlers.words(text, MASK)}
    masked, originals = handlers.mask_word(text, index["很"], MASK)
    assert masked == "今天 天气[MASK]好, nice weather" and originals == {0: "很"}
    index = {unit: i for unit, i in handlers.words(masked, MASK)}
    twice, originals = handlers.mask_word(masked, index["今"], MASK, originals)
    assert twice == "[MASK]天 天气[MASK]好, nice weather" and originals == {0: "今", 1: "很"}  # numbers move up
    assert handlers.mask_word(text, 2, MASK) == (text, {})  # unit 2 is the space: nothing to mask
    assert handlers.mask_word(text, 99, MASK) == (text, {})


def test_store_finds_both_models_and_preselects_per_task(store, pretrainer, classifier):
    assert {entry.path for entry in store.entries} == {pretrainer, classifier}
    assert store.best("fill-mask").path == store.best("next-sentence").path == pretrainer
    assert store.best("classify").path == classifier
    assert store.get("fill-mask", pretrainer) is store.get("fill-mask", pretrainer)  # loaded once, then cached
    assert handlers.page_mask(store) == MASK and handlers.fill_limits(store, pretrainer) == {
        "top_k": 10, "max_masks": 10, "window": SEQ_LENGTH}  # from the model's kbert.json


def test_an_empty_models_dir_says_how_to_train_one(tmp_path):
    for root in (tmp_path, tmp_path / "missing"):
        store = ModelStore(root)
        assert store.entries == [] and store.best() is None
        assert TRAIN_COMMAND in str(store.empty_message()) and TRAIN_COMMAND in store.empty_message()("zh")
        with pytest.raises(PageError, match="train.py"):
            handlers.fill_mask(store, None, "今天天气很[MASK]。")
    banner = [block for block in build_app(ModelStore(tmp_path)).blocks.values() if block.elem_id == "no-models"]
    assert len(banner) == 1 and TRAIN_COMMAND in banner[0].value and "没有导出的模型" in banner[0].value


def test_fill_mask_gives_top_k_candidates_per_mask_and_the_completed_sentence(store, pretrainer):
    result = handlers.fill_mask(store, pretrainer, "今天[MASK]气很[MASK]。", top_k=4)
    direct = store.get("fill-mask", pretrainer)("今天[MASK]气很[MASK]。", top_k=4)
    assert result.masks == [[(c["token"], pytest.approx(c["score"], abs=1e-6)) for c in mask] for mask in direct]
    assert len(result.masks) == 2 and all(len(mask) == 4 for mask in result.masks)
    best = [mask[0][0].removeprefix("##") for mask in result.masks]
    assert result.completed == f"今天{best[0]}气很{best[1]}。"
    assert result.tokens == ["[CLS]", "今", "天", MASK, "气", "很", MASK, "。", "[SEP]"]
    assert result.notes == [] and result.originals == [None, None]
    second = result.masks[1][2][0]
    filled = "".join(piece for piece, _ in result.filled({1: second}))
    assert filled == f"今天{best[0]}气很{second.removeprefix('##')}。"


def test_fill_mask_ranks_the_word_a_click_hid(store, pretrainer):
    masked, originals = handlers.mask_word("今天天气很好。", 5, MASK)
    result = handlers.fill_mask(store, pretrainer, masked, top_k=3, originals=originals)
    expected = store.get("fill-mask", pretrainer).score(masked, ["好"])[0]
    assert result.originals[0]["candidate"] == "好" and result.originals[0]["rank"] == expected["rank"] >= 1
    assert result.originals[0]["probability"] == pytest.approx(expected["probability"])
    page = render.fill_mask_html(result, "en")
    assert f'data-rank="{expected["rank"]}"' in page and f"rank {expected['rank']}" in page
    assert f"排第 {expected['rank']} 名" in render.fill_mask_html(result, "zh")


def test_several_masks_are_also_filled_together(store, pretrainer):
    result = handlers.fill_mask(store, pretrainer, "今天[MASK]气很[MASK]。", top_k=3)
    joint = store.get("fill-mask", pretrainer).fill_jointly("今天[MASK]气很[MASK]。", beam_width=handlers.BEAM_WIDTH)
    assert result.joint == joint and len(joint["tokens"]) == 2
    page = render.fill_mask_html(result, "en")
    assert "Filled together" in page and f'data-probability="{joint["probability"]:.8f}"' in page
    assert handlers.fill_mask(store, pretrainer, "今天天气很[MASK]。").joint is None


def test_fill_mask_html_shows_every_candidate_with_its_sentence_and_escapes_the_text(store, pretrainer):
    result = handlers.fill_mask(store, pretrainer, "<b>[MASK]</b>", top_k=3)
    page = render.fill_mask_html(result, "zh")
    assert "<b>" not in page and "&lt;b&gt;" in page
    assert page.count('class="kb-cand"') == 3 and page.count('class="kb-sentence"') == 3
    assert render.tokens_html(result.tokens, MASK).count("kb-chip") == len(result.tokens)


@pytest.mark.parametrize("text, message", [
    ("", "empty"), ("   \n ", "empty"), (None, "empty"), ("\x00\x07", "empty"),
    ("今天天气很好。", r"no \[MASK\]"),
    ("好" * 40 + "[MASK]", "beyond the model's 32-token window"),
    ("好" * 10_000 + "[MASK]", r"no \[MASK\]"),
])
def test_fill_mask_bad_input_says_what_to_do(store, pretrainer, text, message):
    with pytest.raises(PageError, match=message):
        handlers.fill_mask(store, pretrainer, text)


def test_fill_mask_odd_input_is_answered_with_notes(store, pretrainer):
    only_masks = handlers.fill_mask(store, pretrainer, "[MASK][MASK][mask]")
    assert len(only_masks.masks) == 3 and only_masks.tokens == ["[CLS]", MASK, MASK, MASK, "[SEP]"]

    long = handlers.fill_mask(store, pretrainer, "[MASK]" + "好" * 10_500 + "[MASK]。")
    notes = [str(note) for note in long.notes]
    assert len(long.masks) == 1 and len(long.tokens) == SEQ_LENGTH
    assert any("only the first 10,000 were kept: the last 513, from “好好好" in note for note in notes)
    assert any("1 [MASK](s) were in the part that was cut" in note for note in notes)
    assert any(f"window of {SEQ_LENGTH} tokens" in note for note in notes)

    emoji = handlers.fill_mask(store, pretrainer, "今天😀很[MASK]\x07。")
    assert "[UNK]" in emoji.tokens and any("「😀」" in str(note) for note in emoji.notes)
    assert any("control character" in str(note) for note in emoji.notes) and "\x07" not in emoji.completed

    rtl = handlers.fill_mask(store, pretrainer, "שלום [MASK] עולם")
    assert len(rtl.masks) == 1 and rtl.completed.startswith("שלום ")


def test_unknown_characters_are_named_with_the_full_width_forms_the_vocabulary_has(store, pretrainer):
    vocab = (Path(pretrainer) / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert "！" in vocab and "!" not in vocab  # the tiny corpus writes Chinese punctuation only
    result = handlers.fill_mask(store, pretrainer, "很好!今天[MASK]。")
    notes = [note("en") for note in result.notes]
    assert any("These became [UNK]" in note and "「!」" in note for note in notes)
    assert any("full-width forms: ! → ！" in note for note in notes)
    assert not any("emoji" in note for note in notes)


def test_sentence_pair_gives_both_directions_segments_and_the_pair_classifier(store, pretrainer, classifier):
    a, b = "北京是中国的首都。", "它有三千多年的历史。"
    result = handlers.sentence_pair(store, pretrainer, None, a, b)
    nsp = store.get("next-sentence", pretrainer)
    assert result.is_next == pytest.approx(nsp(a, b)["is_next"], abs=1e-6)
    assert result.is_next_swapped == pytest.approx(nsp(b, a)["is_next"], abs=1e-6)
    assert result.labels is None and result.tokens.count("[SEP]") == 2
    first_sep = result.tokens.index("[SEP]")
    assert result.segments == [0] * (first_sep + 1) + [1] * (len(result.tokens) - first_sep - 1)
    assert set(render.pair_label(result, "zh")) == {"B 接在 A 后面", "B 不接在 A 后面"}
    assert sum(render.pair_label(result, "en").values()) == pytest.approx(1.0)
    chips = render.tokens_html(result.tokens, MASK, result.segments)
    assert chips.count('data-segment="1"') == len(result.tokens) - first_sep - 1

    with_labels = handlers.sentence_pair(store, pretrainer, classifier, a, b)
    assert set(with_labels.labels) == set(LABELS) and sum(with_labels.labels.values()) == pytest.approx(1, abs=1e-5)
    with pytest.raises(PageError, match="second sentence"):
        handlers.sentence_pair(store, pretrainer, None, a, "  ")


def test_classify_gives_probabilities_and_two_attributions(store, classifier):
    result = handlers.classify(store, classifier, "这本书写得非常好，值得一读。")
    direct = store.get("classify", classifier)("这本书写得非常好，值得一读。")["scores"]
    assert result.scores == pytest.approx(direct, abs=1e-5) and set(result.scores) == set(LABELS)
    n = len(result.tokens)
    assert result.tokens[0] == "[CLS]" and result.tokens[-1] == "[SEP]" and n == 16
    assert result.attributions.shape == (n,) and result.integrated["attributions"].shape == (n,)
    assert result.integrated["label"] == result.label and result.ig_steps == 32
    summary = render.classify_summary(result, "en")
    total = float(np.sum(result.integrated["attributions"]))
    assert f"add up to {total:.3f}" in summary and "32 integration steps" in summary

    for attributions in (result.attributions, result.integrated["attributions"]):
        spans = render.attribution_spans(result.tokens, attributions)
        assert "".join(text for text, _ in spans) == "这本书写得非常好，值得一读。"
        assert max(abs(score) for _, score in spans) == pytest.approx(1.0)

    pair = handlers.classify(store, classifier, "质量太差了。", "再也不来了。")
    spans = render.attribution_spans(pair.tokens, pair.integrated["attributions"])
    assert "".join(text for text, _ in spans) == "质量太差了。 | 再也不来了。" and (" | ", None) in spans
    assert pair.segments[-1] == 1 and pair.integrated["tokens"] == pair.tokens


def test_attention_gives_every_map_for_a_text_or_a_pair(store, pretrainer, classifier):
    for path in (pretrainer, classifier):  # any kind of model can be looked into
        result = handlers.attention(store, path, "北京是中国的首都。", "它很大。")
        n = len(result.tokens)
        assert result.attentions.shape == (2, 2, n, n) and result.segments[-1] == 1
        np.testing.assert_allclose(result.attentions.sum(axis=-1), 1.0, atol=1e-4)
    assert handlers.attention(store, pretrainer, "北京", "  ").segments == [0, 0, 0, 0]


def test_attention_charts_hold_the_weights_the_model_gave(store, pretrainer):
    result = handlers.attention(store, pretrainer, "北京是中国的首都。")
    words = {key: key for key in ("title", "attending", "attended", "weight", "segment", "segment_a", "segment_b",
                                  "layer", "head")}
    spec = views.head_view(result.tokens, result.attentions[1, 0], result.segments, words).to_dict()
    lines = spec["layer"][0]["data"]["values"]
    assert len(lines) == len(result.tokens) ** 2
    assert lines[3]["w"] == pytest.approx(float(result.attentions[1, 0, 0, 3]), abs=1e-4)
    grid = views.model_view(result.tokens, result.attentions, (1, 0), {**words, "open_title": "L{layer} H{head}"})
    cells = grid.to_dict()["data"]["values"]  # one data set for the grid and the map it opens
    assert len(cells) == 2 * 2 * len(result.tokens) ** 2
    assert views.model_view_tokens(128, 12, 12) == 16 and views.model_view_tokens(10, 2, 2) == 10


def test_embeddings_give_the_three_parts_their_sum_and_its_layer_norm(store, pretrainer):
    result = handlers.embeddings(store, pretrainer, "北京是中国的首都。", "它很大。")
    parts = result.parts
    np.testing.assert_allclose(parts["embedding_sum"], parts["token_embeddings"] + parts["segment_embeddings"]
                               + parts["position_embeddings"], atol=1e-6)
    assert parts["embedding_sum"].shape == (len(result.tokens), 32) and result.position_type == "learned"
    np.testing.assert_allclose(parts["segment_embeddings"][0], parts["segment_embeddings"][1])  # both segment A
    assert result.segments[-1] == 1 and not np.allclose(parts["segment_embeddings"][0], parts["segment_embeddings"][-1])


def test_an_older_export_is_answered_without_the_newer_views(old_exports, pretrainer, classifier):
    with pytest.raises(PageError, match="Export it again") as raised:
        handlers.embeddings(old_exports, pretrainer, "北京")
    assert isinstance(raised.value.__context__, MissingSignatureError)
    result = handlers.classify(old_exports, classifier, "质量太差了。")
    assert result.integrated is None and any("integrated_gradients" in str(note) for note in result.notes)
    assert "add up" not in render.classify_summary(result, "en")
    masked, originals = handlers.mask_word("今天很好😀。", 3, MASK)
    filled = handlers.fill_mask(old_exports, pretrainer, masked, originals=originals)
    assert filled.originals == [None] and any("fill_mask_scores" in str(note) for note in filled.notes)
    assert any("cannot be said" in str(note) for note in filled.notes)  # [UNK] counted, not named


def test_model_details_come_from_the_export_one_metric_a_row(store, pretrainer, classifier):
    page = render.details_markdown(handlers.model_info(store, classifier), "en")
    vocab_size = len((Path(classifier) / "vocab.txt").read_text(encoding="utf-8").splitlines())
    assert "| labels | negative, positive |" in page and f"| vocabulary | {vocab_size} tokens, lower-cased |" in page
    assert "random weights (tests)" in page and "#### Data" in page  # the card's "## Data", under the page's headings
    info = {**handlers.model_info(store, pretrainer), "metrics": {"mlm_accuracy": 0.14010219218724246,
                                                                  "references": {"majority": 0.5028409090909091}}}
    assert "| 指标：mlm_accuracy | 0.1401 |" in render.details_markdown(info, "zh")
    assert "| metric: references.majority | 0.5028 |" in render.details_markdown(info, "en")
    with pytest.raises(PageError, match="Pick a model"):
        handlers.model_info(store, "")


def test_missing_or_corrupt_model_directory_is_a_page_error(store, pretrainer, tmp_path):
    with pytest.raises(PageError, match="Pick a model first"):  # not a model the store lists
        store.get("fill-mask", str(tmp_path / "nowhere"))
    broken = tmp_path / "broken" / "1"
    shutil.copytree(pretrainer, broken)
    (broken / "saved_model.pb").write_bytes(b"not a SavedModel")
    with pytest.raises(PageError, match="broken/1: TensorFlow cannot load the SavedModel"):
        ModelStore(tmp_path).get("fill-mask", str(broken))
    (broken / "kbert.json").write_text("{not json", encoding="utf-8")
    listing = ModelStore(tmp_path)
    assert listing.entries == [] and "kbert.json: cannot read it" in listing.unusable[0].reason
    assert "None of the 1 models" in str(listing.empty_message())


def test_a_failing_handler_gives_a_message_in_the_pages_language_not_a_traceback():
    def broken(text, lang):
        raise ZeroDivisionError("division by zero")

    def refused(text, lang):
        raise PageError(Text("store.pick"))

    with pytest.warns(UserWarning, match="Something went wrong"):  # outside a request, gr.Warning warns
        assert guarded(blank=("", None))(broken)("x", "en") == ("", None, "**Problem:** Something went wrong inside "
                                                                "the app; the server log has the details. Try another "
                                                                "input.")
    with pytest.warns(UserWarning, match="请先选一个模型"):
        assert guarded(blank=())(refused)("x", "zh") == "**问题：** 请先选一个模型。"


def test_the_api_lists_only_the_three_tabs_endpoints(store):
    endpoints = build_app(store).get_api_info()["named_endpoints"]
    assert set(endpoints) == {"/fill_mask", "/sentence_pair", "/classify"}

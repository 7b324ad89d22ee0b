"""The app's handlers, called directly on two tiny exported models: what each tab shows, and what bad input gives."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.ui_support import LABELS, SEQ_LENGTH, export_tiny_models
from ui import handlers, render
from ui.app import _guarded, build_app
from ui.handlers import MASK, PageError
from ui.store import TRAIN_COMMAND, ModelStore


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


def test_words_are_characters_in_chinese_and_whole_words_elsewhere():
    assert [unit for unit, _ in handlers.words("今天天气很好。")] == list("今天天气很好。")
    assert [unit for unit, _ in handlers.words("我爱Python3 and [MASK]! 😀")] == [
        "我", "爱", "Python3", "and", MASK, "!", "😀"]
    assert handlers.words("") == [] and handlers.words(None) == []


def test_clicking_a_word_masks_that_word_only():
    text = "今天 天气很好, nice weather"
    units = handlers.words(text)
    index = {unit: i for unit, i in units}
    assert handlers.mask_word(text, index["很"]) == "今天 天气[MASK]好, nice weather"
    assert handlers.mask_word(text, index["weather"]) == "今天 天气很好, nice [MASK]"
    assert handlers.mask_word(text, 2) == text  # unit 2 is the space: nothing to mask
    assert handlers.mask_word(text, 99) == text


def test_store_finds_both_models_and_preselects_per_task(store, pretrainer, classifier):
    assert {entry.path for entry in store.entries} == {pretrainer, classifier}
    assert store.best("fill-mask").path == store.best("next-sentence").path == pretrainer
    assert store.best("classify").path == classifier
    assert store.get("fill-mask", pretrainer) is store.get("fill-mask", pretrainer)  # loaded once, then cached


def test_an_empty_models_dir_says_how_to_train_one(tmp_path):
    for root in (tmp_path, tmp_path / "missing"):
        store = ModelStore(root)
        assert store.entries == [] and store.best() is None
        assert TRAIN_COMMAND in store.empty_message()
        with pytest.raises(PageError, match="train.py"):
            handlers.fill_mask(store, None, "今天天气很[MASK]。")
    banner = [block for block in build_app(ModelStore(tmp_path)).blocks.values() if block.elem_id == "no-models"]
    assert len(banner) == 1 and TRAIN_COMMAND in banner[0].value


def test_fill_mask_gives_top_k_candidates_per_mask_and_the_completed_sentence(store, pretrainer):
    result = handlers.fill_mask(store, pretrainer, "今天[MASK]气很[MASK]。", top_k=4)
    direct = store.get("fill-mask", pretrainer)("今天[MASK]气很[MASK]。", top_k=4)
    assert result.masks == [[(c["token"], pytest.approx(c["score"], abs=1e-6)) for c in mask] for mask in direct]
    assert len(result.masks) == 2 and all(len(mask) == 4 for mask in result.masks)
    for mask in result.masks:
        scores = [score for _, score in mask]
        assert scores == sorted(scores, reverse=True) and 0 < sum(scores) <= 1 + 1e-6
    best = [mask[0][0].removeprefix("##") for mask in result.masks]
    assert result.completed == f"今天{best[0]}气很{best[1]}。"
    assert result.tokens == ["[CLS]", "今", "天", MASK, "气", "很", MASK, "。", "[SEP]"]
    assert result.notes == []


def test_fill_mask_html_shows_every_candidate_and_escapes_the_text(store, pretrainer):
    result = handlers.fill_mask(store, pretrainer, "<b>[MASK]</b>", top_k=3)
    page = render.fill_mask_html(result)
    assert "<b>" not in page and "&lt;b&gt;" in page
    assert page.count('class="kb-cand"') == 3
    assert render.tokens_html(result.tokens).count("kb-chip") == len(result.tokens)


@pytest.mark.parametrize("text, message", [
    ("", "empty"), ("   \n ", "empty"), (None, "empty"), ("\x00\x07", "empty"),
    ("今天天气很好。", r"no \[MASK\]"),
    ("好" * 40 + "[MASK]", "beyond the model's 32-token window"),
])
def test_fill_mask_bad_input_says_what_to_do(store, pretrainer, text, message):
    with pytest.raises(PageError, match=message):
        handlers.fill_mask(store, pretrainer, text)


def test_fill_mask_odd_input_is_answered_with_notes(store, pretrainer):
    only_masks = handlers.fill_mask(store, pretrainer, "[MASK][MASK][mask]")
    assert len(only_masks.masks) == 3 and only_masks.tokens == ["[CLS]", MASK, MASK, MASK, "[SEP]"]

    long = handlers.fill_mask(store, pretrainer, "[MASK]" + "好" * 10_500)
    assert len(long.masks) == 1 and len(long.tokens) == SEQ_LENGTH
    assert any("only the first 10,000 were kept" in note for note in long.notes)
    assert any(f"window of {SEQ_LENGTH} tokens" in note for note in long.notes)

    emoji = handlers.fill_mask(store, pretrainer, "今天😀很[MASK]\x07。")
    assert "[UNK]" in emoji.tokens and any("[UNK]" in note for note in emoji.notes)
    assert any("control character" in note for note in emoji.notes) and "\x07" not in emoji.completed

    rtl = handlers.fill_mask(store, pretrainer, "שלום [MASK] עולם")
    assert len(rtl.masks) == 1 and rtl.completed.startswith("שלום ")


def test_missing_or_corrupt_model_directory_is_a_page_error(store, pretrainer, tmp_path):
    with pytest.raises(PageError, match="nowhere"):
        store.get("fill-mask", str(tmp_path / "nowhere"))
    broken = tmp_path / "broken" / "1"
    shutil.copytree(pretrainer, broken)
    (broken / "saved_model.pb").write_bytes(b"not a SavedModel")
    with pytest.raises(PageError, match="broken"):
        store.get("fill-mask", str(broken))
    (broken / "kbert.json").write_text("{not json", encoding="utf-8")
    listing = ModelStore(tmp_path)
    assert listing.entries == [] and "kbert.json" in listing.empty_message()


def test_sentence_pair_gives_both_directions_and_the_pair_classifier(store, pretrainer, classifier):
    a, b = "北京是中国的首都。", "它有三千多年的历史。"
    result = handlers.sentence_pair(store, pretrainer, None, a, b)
    nsp = store.get("next-sentence", pretrainer)
    assert result.is_next == pytest.approx(nsp(a, b)["is_next"], abs=1e-6)
    assert result.is_next_swapped == pytest.approx(nsp(b, a)["is_next"], abs=1e-6)
    assert result.labels is None
    assert sum(render.pair_label(result).values()) == pytest.approx(1.0)

    with_labels = handlers.sentence_pair(store, pretrainer, classifier, a, b)
    assert set(with_labels.labels) == set(LABELS) and sum(with_labels.labels.values()) == pytest.approx(1, abs=1e-5)
    with pytest.raises(PageError, match="second sentence"):
        handlers.sentence_pair(store, pretrainer, None, a, "  ")


def test_classify_gives_probabilities_attributions_and_attention(store, classifier):
    result = handlers.classify(store, classifier, "这本书写得非常好，值得一读。")
    direct = store.get("classify", classifier)("这本书写得非常好，值得一读。")["scores"]
    assert result.scores == pytest.approx(direct, abs=1e-5) and set(result.scores) == set(LABELS)
    n = len(result.tokens)
    assert result.tokens[0] == "[CLS]" and result.tokens[-1] == "[SEP]" and n == 16
    assert result.attributions.shape == (n,)
    assert result.attentions.shape == (2, 2, n, n)
    np.testing.assert_allclose(result.attentions.sum(axis=-1), 1.0, atol=1e-4)

    spans = render.attribution_spans(result.tokens, result.attributions)
    assert "".join(text for text, _ in spans) == "这本书写得非常好，值得一读。"
    assert max(abs(score) for _, score in spans) == pytest.approx(1.0)
    heatmap = render.attention_html(result.tokens, result.attentions[0, 0], "Layer 1 · head 1")
    assert heatmap.count("<tr>") == n + 1 and heatmap.count("<td") == n * n


def test_model_details_come_from_the_export(store, classifier):
    page = render.details_markdown(handlers.model_info(store, classifier))
    vocab_size = len((Path(classifier) / "vocab.txt").read_text(encoding="utf-8").splitlines())
    assert "| labels | negative, positive |" in page and f"| vocabulary | {vocab_size} tokens, lower-cased |" in page
    assert "random weights (tests)" in page and "#### Data" in page  # the card's "## Data", under the page's headings
    with pytest.raises(PageError, match="Pick a model"):
        handlers.model_info(store, "")


def test_a_failing_handler_gives_a_message_not_a_traceback():
    def broken(text):
        raise ZeroDivisionError("division by zero")

    def refused(text):
        raise PageError("Type a sentence first.")

    with pytest.warns(UserWarning, match="Something went wrong"):  # outside a request, gr.Warning warns
        assert _guarded(blank=("", None))(broken)("x") == ("", None, "**Problem:** Something went wrong inside the "
                                                           "app; the server log has the details. Try another input.")
    with pytest.warns(UserWarning, match="Type a sentence"):
        assert _guarded(blank=())(refused)("x") == "**Problem:** Type a sentence first."

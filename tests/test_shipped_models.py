"""The demo models committed under saved_models/ (issue: shipped models): small enough to commit, described by
their model cards, answering through kbert.pipeline and through `python -m ui` on this checkout as it is, and never
written over by the main job."""

import subprocess

import pytest
from gradio_client import Client

from kbert import pipeline
from kbert.io import read_json
from kbert.model_card import METADATA_FILE
from kbert.pipeline import list_models
from kbert.training.main_job import EXPORT_NAMES
from tests.ui_support import ROOT, running_app

MODELS_DIR = ROOT / "saved_models"
SHIPPED = {"zh-mini": "pretrainer", "zh-mini-sentiment": "classifier"}
MAX_BYTES = 50 * 1024 * 1024
CARD_KEYS = ("command", "data", "steps", "tokens_seen", "training_time", "hardware", "metrics")


def _shipped(name: str):
    versions = [m for m in list_models(MODELS_DIR) if m["name"] == name]
    assert versions, f"{MODELS_DIR / name} is missing: the demo models are committed with the repository"
    return versions[-1]


@pytest.mark.parametrize("name", SHIPPED)
def test_each_shipped_model_is_committed_small_and_has_a_full_model_card(name):
    model = _shipped(name)
    assert model["kind"] == SHIPPED[name]
    tracked = subprocess.run(["git", "ls-files", model["path"]], cwd=ROOT, capture_output=True, text=True).stdout
    assert "saved_model.pb" in tracked, f"{model['path']} is not committed (git add -f)"
    size = sum(path.stat().st_size for path in (ROOT / model["path"]).rglob("*") if path.is_file())
    assert size < MAX_BYTES, f"{model['path']} is {size / 2**20:.1f} MiB"
    card = read_json(ROOT / model["path"] / METADATA_FILE)["model_card"]
    assert all(card.get(key) for key in CARD_KEYS), {key: card.get(key) for key in CARD_KEYS}
    assert card["command"].startswith("python train.py ")


def test_the_main_job_exports_under_other_names():
    assert not set(EXPORT_NAMES.values()) & set(SHIPPED)


def test_the_pretrained_model_fills_masks_and_judges_sentence_pairs():
    path = _shipped("zh-mini")["path"]
    # Set phrases any shipped version must keep in its top 5 (EVALUATION.md has the held-out figures).
    answers = pipeline("fill-mask", path)(["中华人民共和[MASK]", "新华社北京１月５日[MASK]"])
    assert "国" in [c["token"] for c in answers[0][0]] and "电" in [c["token"] for c in answers[1][0]]
    assert all(len(slot) == 5 for text in answers for slot in text)
    pairs = pipeline("next-sentence", path)(["今年粮食获得丰收。", "今年粮食获得丰收。"],
                                             ["农民的收入也有所增加。", "足球比赛在晚上举行，观众很多。"])
    assert pairs[0]["is_next"] > pairs[1]["is_next"]


def test_the_sentiment_classifier_tells_praise_from_complaint():
    classify = pipeline("classify", _shipped("zh-mini-sentiment")["path"])
    praise, complaint = classify(["质量很好，物流也快，非常满意。", "质量太差了，用了两天就坏了，非常失望。"])
    assert praise["label"] == "positive" and complaint["label"] == "negative"


def test_the_app_serves_the_shipped_models_on_this_checkout(tmp_path):
    pretrainer, classifier = _shipped("zh-mini")["path"], _shipped("zh-mini-sentiment")["path"]
    with running_app(MODELS_DIR, tmp_path / "server.log") as url:
        client = Client(url, verbose=False, analytics_enabled=False, download_files=False)
        predictions, tokens, status = client.predict(pretrainer, "中华人民共和[MASK]成立。", 5, api_name="/fill_mask")
        assert predictions.count('class="kb-cand"') == 5 and "Problem" not in status
        scores, *_, status = client.predict(classifier, "非常满意，推荐购买。", None, None, api_name="/classify")
        assert {c["label"] for c in scores["confidences"]} == {"negative", "positive"} and "Problem" not in status

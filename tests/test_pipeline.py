"""kbert.pipeline: every task answers like the Keras model it was exported from, in batches, one answer per [MASK];
inspection, truncation, model discovery, and load errors that name the path."""

import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from export_support import (
    LABELS,
    MODEL_CARD,
    SEQ_LENGTH,
    assert_top_k,
    export_tiny_models,
    keras_attributions,
    keras_features,
    keras_fill_mask,
    keras_is_next,
    softmax,
)

import kbert
from kbert.pipeline import ClassifyPipeline, ModelLoadError, list_models, pipeline

MASKED = [
    "The quick [MASK] fox jumps over the [MASK] dog.",
    "今天天气很[MASK]，我们去公园[MASK]步吧。",
    "[MASK]",
    "服务[MASK]度太差了，再也不来了！",
    "A good [MASK] makes you think; a bad one makes you [MASK].",
]


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    return export_tiny_models(tmp_path_factory.mktemp("saved_models"))


@pytest.fixture(scope="module")
def fill(exports):
    return pipeline("fill-mask", exports.pretrainer_dir.parent, batch_size=2)


@pytest.fixture(scope="module")
def classify(exports):
    return pipeline("classify", exports.classifier_dir)


def test_fill_mask_answers_every_mask_like_the_keras_model(exports, fill):
    answers = fill(MASKED, top_k=4)
    expected = keras_fill_mask(exports.pretrainer, exports.tokenizer, MASKED)
    assert [len(answer) for answer in answers] == [2, 2, 1, 1, 2]  # one list per [MASK]
    for answer, probabilities in zip(answers, expected, strict=True):
        for candidates, row in zip(answer, probabilities, strict=True):
            assert len(candidates) == 4
            assert_top_k([c["token_id"] for c in candidates], [c["score"] for c in candidates], row, exports.tokenizer)
            assert [c["token"] for c in candidates] == [exports.tokenizer.vocab[c["token_id"]] for c in candidates]


def test_fill_mask_gives_a_string_its_answer_and_batches_do_not_change_answers(exports, fill):
    one_by_one = [fill(text, top_k=3) for text in MASKED]  # batch_size=2 splits the list below into three calls
    together = pipeline("fill-mask", exports.pretrainer_dir, batch_size=32)(MASKED, top_k=3)
    for single, batched in zip(one_by_one, together, strict=True):
        assert [[c["token_id"] for c in mask] for mask in single] == [[c["token_id"] for c in mask] for mask in batched]
        np.testing.assert_allclose([[c["score"] for c in mask] for mask in single],
                                   [[c["score"] for c in mask] for mask in batched], atol=1e-6)


@pytest.mark.parametrize("texts, top_k, message", [
    (["a [MASK] b", "no mask here"], 5, re.escape("texts[1] has no [MASK] to fill: 'no mask here'")),
    ("lower-case [mask] is text", 5, re.escape("texts[0] has no [MASK] to fill")),
    (" ".join(["[MASK]"] * 11), 5, r"texts\[0\] has 11 \[MASK\]s; .* answers at most 10 per text"),
    ("word " * 40 + "[MASK]", 5, r"texts\[0\]: only 0 of its 1 \[MASK\]s fall within the first 32 tokens"),
    ("a [MASK]", 11, "top_k=11 must be between 1 and 10"),
    ([], 5, "texts is empty"),
])
def test_fill_mask_refuses_what_it_cannot_answer(fill, texts, top_k, message):
    with pytest.raises(ValueError, match=message):
        fill(texts, top_k=top_k)


def test_next_sentence_matches_the_keras_model(exports):
    first, second = MASKED[:3], ["It was a sunny day.", "这部电影非常好看。", "Hello world"]
    next_sentence = pipeline("next-sentence", exports.pretrainer_dir)
    got = next_sentence(first, second)
    expected = keras_is_next(exports.pretrainer, exports.tokenizer, first, second)
    np.testing.assert_allclose([answer["is_next"] for answer in got], expected, atol=1e-5, rtol=0)
    assert next_sentence(first[0], second[0])["is_next"] == pytest.approx(expected[0], abs=1e-5)
    with pytest.raises(ValueError, match="first and second must match"):
        next_sentence(first, second[:2])


@pytest.mark.parametrize("pairs", [None, ["好看", "a bad one", "再也不来了", "ok", "fine"]])
def test_classify_matches_the_keras_model(exports, classify, pairs):
    got = classify(MASKED, pairs)
    expected = softmax(exports.classifier(keras_features(exports.tokenizer, MASKED, pairs))["logits"])
    for answer, probabilities in zip(got, expected, strict=True):
        assert list(answer["scores"]) == LABELS
        np.testing.assert_allclose(list(answer["scores"].values()), probabilities, atol=1e-5, rtol=0)
        assert answer["label"] == LABELS[int(np.argmax(probabilities))]
    assert classify(MASKED[0], None if pairs is None else pairs[0]) == got[0]


def test_encode_matches_the_keras_backbone(exports):
    encode = pipeline("encode", exports.classifier_dir, batch_size=2)
    got = encode(MASKED, MASKED[::-1])
    features = keras_features(exports.tokenizer, MASKED, MASKED[::-1])
    expected = exports.classifier.backbone(features)
    assert got["sequence"].shape == (5, SEQ_LENGTH, 64) and got["pooled"].shape == (5, 64)
    np.testing.assert_array_equal(got["padding_mask"], features["padding_mask"])
    np.testing.assert_allclose(got["pooled"], expected["pooled_output"], atol=1e-5, rtol=0)
    real = features["padding_mask"][..., None] == 1
    np.testing.assert_allclose(got["sequence"], np.asarray(expected["sequence_output"]) * real, atol=1e-5, rtol=0)
    assert encode("one text")["pooled"].shape == (1, 64)


def test_classifier_inspect_gives_tokens_attentions_and_attributions_like_keras(exports, classify):
    text, pair = "这部电影非常好看！", "The actors were great."
    got = classify.inspect(text, pair)
    features = keras_features(exports.tokenizer, [text], [pair])
    n = int(features["padding_mask"].sum())
    probabilities, attentions, attributions = keras_attributions(exports.classifier, features)
    assert got["tokens"] == [t.decode() for t in exports.tokenizer.id_to_token(features["token_ids"][0, :n]).numpy()]
    assert got["tokens"][:3] == ["[CLS]", "这", "部"] and got["tokens"][-1] == "[SEP]"
    assert got["attentions"].shape == (2, 4, n, n)
    np.testing.assert_allclose(got["attentions"], attentions[0, :, :, :n, :n], atol=1e-5, rtol=0)
    np.testing.assert_allclose(got["attentions"].sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(got["attributions"], attributions[0, :n], atol=1e-4 * np.abs(attributions).max(),
                               rtol=1e-4)
    np.testing.assert_allclose(list(got["scores"].values()), probabilities[0], atol=1e-5, rtol=0)
    assert got["label"] == LABELS[int(np.argmax(probabilities[0]))]


def test_pretrainer_inspect_gives_tokens_and_attentions(exports, fill):
    got = fill.inspect("Hello [MASK] world")
    assert got["tokens"] == ["[CLS]", "hello", "[MASK]", "world", "[SEP]"]
    assert got["attentions"].shape == (2, 4, 5, 5) and "attributions" not in got
    features = keras_features(exports.tokenizer, ["Hello [MASK] world"])
    expected = exports.pretrainer.backbone.with_internals()(features)["attention_maps"]
    np.testing.assert_allclose(got["attentions"], np.stack(expected, axis=1)[0, :, :, :5, :5], atol=1e-5, rtol=0)


def test_truncated_says_whether_tokens_were_cut(classify):
    budget = SEQ_LENGTH - 2  # [CLS] text [SEP]
    assert not classify.truncated("好" * budget) and classify.truncated("好" * (budget + 1))
    pair_budget = budget - 1  # [CLS] text [SEP] pair [SEP]
    assert not classify.truncated("好" * 10, "好" * (pair_budget - 10))
    assert classify.truncated("好" * 10, "好" * (pair_budget - 9))
    assert classify.seq_length == SEQ_LENGTH


def test_model_dir_may_be_a_version_or_the_model_whose_latest_version_is_used(exports, tmp_path):
    for version in ("1", "3", "10"):
        shutil.copytree(exports.classifier_dir, tmp_path / "clf" / version)
    (tmp_path / "clf" / ".export-unfinished").mkdir()
    assert pipeline("classify", tmp_path / "clf").path == tmp_path / "clf" / "10"
    assert pipeline("encode", tmp_path / "clf" / "3").path == tmp_path / "clf" / "3"


def test_broken_model_directories_raise_model_load_error_naming_the_path(exports, tmp_path):
    with pytest.raises(ModelLoadError, match=re.escape(f"{tmp_path / 'nothing'}: no such directory")):
        pipeline("classify", tmp_path / "nothing")
    with pytest.raises(ModelLoadError, match=re.escape(f"{tmp_path}: no saved_model.pb and no numbered version")):
        pipeline("classify", tmp_path)

    broken = tmp_path / "broken" / "1"
    shutil.copytree(exports.classifier_dir, broken)
    (broken / "vocab.txt").unlink()
    with pytest.raises(ModelLoadError, match=re.escape(f"{broken}: missing vocab.txt; not a complete kbert export")):
        pipeline("classify", broken)
    shutil.copy(exports.classifier_dir / "vocab.txt", broken)
    metadata = (broken / "kbert.json").read_text()
    (broken / "kbert.json").write_text(metadata[:40])
    with pytest.raises(ModelLoadError, match=re.escape(f"{broken / 'kbert.json'}: cannot read it (")):
        pipeline("classify", broken)
    (broken / "kbert.json").write_text(metadata)
    (broken / "saved_model.pb").write_bytes(b"not a protocol buffer")
    with pytest.raises(ModelLoadError, match=re.escape(f"{broken}: TensorFlow cannot load the SavedModel")):
        pipeline("classify", broken)


def test_a_task_the_model_does_not_answer_is_refused(exports):
    with pytest.raises(ValueError, match="holds a classifier, which answers classify, encode, not fill-mask"):
        pipeline("fill-mask", exports.classifier_dir)
    with pytest.raises(ValueError, match="unknown task 'summarize'; choose one of fill-mask, next-sentence"):
        pipeline("summarize", exports.classifier_dir)


def test_list_models_and_info_describe_every_export(exports, fill):
    assert list_models(exports.root) == [
        {"name": "tiny-lm", "version": 1, "path": str(exports.pretrainer_dir), "kind": "pretrainer",
         "tasks": ["fill-mask", "next-sentence", "encode"], "metrics": MODEL_CARD["metrics"], "problem": None},
        {"name": "tiny-sentiment", "version": 1, "path": str(exports.classifier_dir), "kind": "classifier",
         "tasks": ["classify", "encode"], "metrics": {}, "problem": None},
    ]
    assert list_models(exports.root / "missing") == []
    info = fill.info
    assert info["config"] == json.loads((exports.pretrainer_dir / "bert_config.json").read_text())
    assert info["vocab_size"] == exports.tokenizer.vocab_size and info["version"] == 1
    assert info["metrics"] == MODEL_CARD["metrics"] and info["model_card"] == MODEL_CARD
    assert info["card"].startswith("# tiny-lm") and info["seq_length"] == SEQ_LENGTH


def test_kbert_pipeline_is_callable_both_ways_and_importing_kbert_stays_light(exports):
    assert isinstance(kbert.pipeline("classify", exports.classifier_dir), ClassifyPipeline)
    from kbert import pipeline as imported

    assert isinstance(imported("classify", exports.classifier_dir), ClassifyPipeline)
    assert kbert.pipeline.ModelLoadError is ModelLoadError
    code = "import sys, kbert; assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_signatures_take_plain_string_tensors(exports):
    loaded = tf.saved_model.load(str(exports.classifier_dir))
    got = loaded.signatures["count_tokens"](text=tf.constant(["今天天气很好", "hello world"]))
    assert got["num_tokens"].numpy().tolist() == [6, 2]

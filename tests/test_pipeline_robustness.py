"""kbert.pipeline with damaged exports and odd inputs: a bad kbert.json is listed as unusable with its reason beside
the good models, wrong-typed fields are ModelLoadErrors naming the field, and texts that are empty, whitespace, bytes
or hold a lone surrogate are refused with a message (naming the index in a batch) instead of answered."""

import json
import re
import shutil

import pytest

from kbert.pipeline import ModelLoadError, list_models, pipeline
from tests.export_support import export_tiny_models


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    return export_tiny_models(tmp_path_factory.mktemp("saved_models"))


@pytest.fixture(scope="module")
def classify(exports):
    return pipeline("classify", exports.classifier_dir)


def _copy_with_metadata(exports, root, name, edit):
    """A copy of the tiny pretrainer's export as `root/name/1`, its kbert.json replaced by `edit(metadata)` (a
    string is written as it is)."""
    target = root / name / "1"
    shutil.copytree(exports.pretrainer_dir, target)
    metadata = json.loads((target / "kbert.json").read_text())
    value = edit(metadata)
    (target / "kbert.json").write_text(value if isinstance(value, str) else json.dumps(value))
    return target


def test_a_bad_kbert_json_beside_good_ones_is_listed_as_unusable_with_its_reason(exports, tmp_path):
    good = _copy_with_metadata(exports, tmp_path, "good", lambda m: m)
    _copy_with_metadata(exports, tmp_path, "no-tasks", lambda m: {k: v for k, v in m.items() if k != "tasks"})
    _copy_with_metadata(exports, tmp_path, "a-list", lambda m: [1, 2])
    _copy_with_metadata(exports, tmp_path, "not-json", lambda m: json.dumps(m)[:50])
    (tmp_path / "empty" / "1").mkdir(parents=True)
    found = {entry["name"]: entry for entry in list_models(tmp_path)}
    assert set(found) == {"good", "no-tasks", "a-list", "not-json", "empty"}
    assert found["good"]["problem"] is None and found["good"]["path"] == str(good)
    assert found["good"]["tasks"] == ["fill-mask", "next-sentence", "encode"]
    problems = {name: entry["problem"] for name, entry in found.items() if name != "good"}
    assert "kbert.json: field 'tasks' must be a list, got missing" in problems["no-tasks"]
    assert "kbert.json: holds a list, not the object of a kbert export" in problems["a-list"]
    assert "kbert.json: cannot read it (" in problems["not-json"] and "not valid JSON" in problems["not-json"]
    assert "missing saved_model.pb, variables, kbert.json, bert_config.json, vocab.txt" in problems["empty"]
    assert all(found[name]["tasks"] == [] and found[name]["kind"] is None for name in problems)


@pytest.mark.parametrize("field, value, message", [
    ("seq_length", "128", "field 'seq_length' must be an integer, got '128'"),
    ("max_masks", None, "field 'max_masks' must be an integer, got None"),
    ("lowercase", "yes", "field 'lowercase' must be true or false, got 'yes'"),
    ("seq_length", True, "field 'seq_length' must be an integer, got True"),
    ("tasks", ["fill-mask", "translate"], "'tasks' must list tasks among fill-mask, next-sentence, classify, encode"),
    ("model_card", [], "field 'model_card' must be an object, got []"),
])
def test_a_wrong_typed_field_is_a_model_load_error_naming_it(exports, tmp_path, field, value, message):
    target = _copy_with_metadata(exports, tmp_path, "typed", lambda m: {**m, field: value})
    with pytest.raises(ModelLoadError, match=re.escape(f"{target / 'kbert.json'}: ") + ".*" + re.escape(message)):
        pipeline("fill-mask", target)


@pytest.mark.parametrize("text", ["", "   ", "\n\t "])
def test_empty_or_whitespace_text_is_refused_not_answered(exports, classify, text):
    with pytest.raises(ValueError, match="texts is empty"):
        classify(text)
    with pytest.raises(ValueError, match=r"second\[0\] is empty|second is empty"):
        pipeline("next-sentence", exports.pretrainer_dir)("今天天气很好。", text)
    with pytest.raises(ValueError, match=r"texts\[1\] is empty"):
        pipeline("encode", exports.classifier_dir)(["fine", text])
    with pytest.raises(ValueError, match="text is empty"):
        classify.inspect(text)


def test_bytes_and_lone_surrogates_get_a_clear_message(classify):
    with pytest.raises(TypeError, match=r"texts is bytes; pass str \(decode it first"):
        classify(b"good film")
    with pytest.raises(TypeError, match=r"texts\[1\] is bytes"):
        classify(["good film", b"bad"])
    broken = b"good \xff film".decode("utf-8", errors="surrogateescape")
    with pytest.raises(ValueError, match=r"texts holds a lone surrogate, U\+DCFF at character 5"):
        classify(broken)


def test_one_bad_text_in_a_batch_of_a_thousand_is_named_by_its_index(classify):
    texts = ["这部电影非常好看。"] * 1000
    texts[517] = " "
    texts[800] = "\ud83d"  # half of an emoji
    with pytest.raises(ValueError, match=r"texts\[517\] is empty \(only whitespace\); pass some text to read \(bad "
                                         r"too: texts\[800\]\); the other 998 texts are fine, nothing was run"):
        classify(texts)
    texts[517], texts[800] = "好看", "好看"
    assert len(classify(texts)) == 1000

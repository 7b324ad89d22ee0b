"""One bad model cannot take the studio down: damaged exports beside good ones are listed as unusable with the
reason, the rest are served, a model that fails to load is never preselected, the store checks its own allow-list
(no server paths in the refusal), and odd text (a lone surrogate, nothing but spaces) gets a message."""

import json
import shutil

import pytest

from tests.ui_support import export_tiny_models
from ui import handlers
from ui.app import build_app
from ui.store import ModelStore, PageError


def _copy(source, target, edit=None):
    shutil.copytree(source, target)
    if edit:
        metadata = json.loads((target / "kbert.json").read_text())
        value = edit(metadata)
        (target / "kbert.json").write_text(value if isinstance(value, str) else json.dumps(value))
    return target


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """Two good models, three damaged kbert.json files (one the newest version of a good model) and one export
    whose kbert.json is fine but whose SavedModel is not (evaluated and newest, so it would be preselected)."""
    good = export_tiny_models(tmp_path_factory.getbasetemp() / "ui_models")
    root = tmp_path_factory.mktemp("bad_models")
    _copy(good["zh-tiny"], root / "zh-tiny" / "1")
    _copy(good["sentiment-tiny"], root / "sentiment-tiny" / "1")
    _copy(good["zh-tiny"], root / "zh-tiny" / "2", lambda m: {k: v for k, v in m.items() if k != "tasks"})
    _copy(good["zh-tiny"], root / "listed" / "1", lambda m: [1, 2])
    _copy(good["zh-tiny"], root / "broken" / "1", lambda m: json.dumps(m)[:30])
    (_copy(good["zh-tiny"], root / "loads-badly" / "1") / "saved_model.pb").write_bytes(b"not a protocol buffer")
    return root


@pytest.fixture
def store(root):
    return ModelStore(root)


def test_bad_kbert_json_files_are_listed_as_unusable_and_the_good_models_served(store, root):
    assert {entry.where for entry in store.entries} == {"zh-tiny/1", "sentiment-tiny/1", "loads-badly/1"}
    unusable = {entry.where: entry.label for entry in store.unusable}
    assert unusable == {
        "zh-tiny/2": "zh-tiny v2 (unusable: kbert.json: field 'tasks' must be a list, got missing; export the model "
                     "again)",
        "listed/1": "listed v1 (unusable: kbert.json: holds a list, not the object of a kbert export; export the "
                    "model again)",
        "broken/1": unusable["broken/1"]}
    assert unusable["broken/1"].startswith("broken v1 (unusable: kbert.json: cannot read it (")
    assert [entry.where for entry in store.models()] == ["broken/1", "listed/1", "loads-badly/1", "sentiment-tiny/1",
                                                         "zh-tiny/1", "zh-tiny/2"]
    assert all(str(root) not in entry.label for entry in store.models())
    assert store.best("classify").where == "sentiment-tiny/1"
    assert len(handlers.classify(store, store.best("classify").path, "质量太差了。").scores) == 2


def test_a_model_that_fails_to_load_is_never_preselected(store):
    assert store.best("fill-mask").where == "zh-tiny/1"  # loads-badly/1 ranked first, failed, and was passed over
    failed = {entry.where: entry.reason for entry in store.unusable}["loads-badly/1"]
    assert failed.startswith("loads-badly/1: TensorFlow cannot load the SavedModel")
    assert "loads-badly/1" not in [entry.where for entry in store.models("fill-mask")]
    app = build_app(store)
    menus = {block.elem_id: block for block in app.blocks.values() if block.elem_id in ("fill-model", "details-model")}
    assert menus["fill-model"].value == str(store.best("fill-mask").path)
    assert {label for label, _ in menus["details-model"].choices} >= {entry.label for entry in store.unusable}
    assert menus["details-model"].value not in {entry.path for entry in store.unusable}


def test_the_store_checks_its_own_allow_list_and_names_no_server_path(store, root):
    app = build_app(store)
    menu = next(block for block in app.blocks.values() if block.elem_id == "fill-model")
    assert menu.preprocess("/etc/passwd") == "/etc/passwd"  # Gradio passes it on instead of listing every path...
    with pytest.raises(PageError) as refused:
        handlers.fill_mask(store, "/etc/passwd", "今天天气很[MASK]。")
    assert str(refused.value) == "Pick a model first."  # ...and the store refuses it
    unusable = next(entry for entry in store.unusable if entry.where == "zh-tiny/2")
    with pytest.raises(PageError) as refused:
        handlers.model_info(store, unusable.path)
    assert str(refused.value) == ("Cannot use the model at `zh-tiny/2`: kbert.json: field 'tasks' must be a list, "
                                  "got missing; export the model again")
    assert str(root) not in str(refused.value)


def test_a_store_with_only_unusable_models_says_so(root, tmp_path):
    _copy(root / "listed" / "1", tmp_path / "listed" / "1")
    store = ModelStore(tmp_path)
    assert store.entries == [] and len(store.unusable) == 1 and store.best() is None
    assert str(store.empty_message()).startswith(f"None of the 1 models under `{tmp_path}` can be used")
    with pytest.raises(PageError, match="None of the 1 models"):
        handlers.fill_mask(store, None, "今天天气很[MASK]。")


def test_odd_text_gets_a_message_and_the_next_request_is_answered(store):
    path = store.best("classify").path
    result = handlers.classify(store, path, "质量\ud83d太差了")  # half of an emoji
    assert "note.surrogates" in [note.key for note in result.notes]
    assert "".join(result.tokens[1:-1]) == "质量太差了"
    with pytest.raises(PageError) as refused:
        handlers.classify(store, path, " \n ")
    assert refused.value.args[0].key == "error.empty"
    assert sum(handlers.classify(store, path, "物流很快。").scores.values()) == pytest.approx(1, abs=1e-5)

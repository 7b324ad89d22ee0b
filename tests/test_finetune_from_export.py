"""`train.py finetune --init-checkpoint saved_models/<name>`: fine-tuning starts from an exported model's backbone,
config, vocabulary and tokenization, and a damaged or mismatched export is refused with its path named."""

import json
import shutil

import numpy as np
import pytest
from run_support import tiny_runs

import train
from kbert.config import BertConfig
from kbert.models import BertBackbone
from kbert.training import pretraining
from kbert.training.exporting import _model_card
from kbert.training.jobs import job_of_run
from kbert.training.starting_point import starting_point


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The tiny pretraining run, exported as `models/pretrain/1`, and the run's directory."""
    runs = tiny_runs(tmp_path_factory.getbasetemp() / "tiny_runs")
    models = tmp_path_factory.mktemp("models")
    assert train.main(["export", str(runs["pretrain"]), "--models-dir", str(models)]) == 0
    return models / "pretrain", runs


def test_an_export_starts_a_backbone_with_the_weights_of_the_run_it_came_from(exported):
    model_dir, runs = exported
    start = starting_point(model_dir)
    assert start.exported and start.path == str(model_dir / "1")
    restored = pretraining.restore_run(str(runs["pretrain"]))
    run_model, tokenizer = restored.model, restored.tokenizer
    assert (start.lowercase, start.fold_full_width) == (tokenizer.lowercase, tokenizer.fold_full_width)
    assert (model_dir / "1" / "vocab.txt").read_text() == (runs["pretrain"] / "vocab.txt").read_text()
    backbone = BertBackbone(BertConfig.from_json_file(start.config_file))
    start.load_backbone(backbone)
    expected = {weight.path: weight.numpy() for weight in run_model.backbone.weights}
    assert sorted(weight.path for weight in backbone.weights) == sorted(expected)
    for weight in backbone.weights:
        np.testing.assert_array_equal(weight.numpy(), expected[weight.path])


def test_train_py_fine_tunes_from_an_export_with_encoder_dropout_and_its_card_says_so(exported, tmp_path):
    model_dir, runs = exported
    root = runs["pretrain"].parent
    output = tmp_path / "classifier"
    assert train.main(["finetune", str(root / "train.csv"), "--eval-file", str(root / "test.csv"), "--output-dir",
                       str(output), "--init-checkpoint", str(model_dir), "--steps", "1", "--batch-size", "8",
                       "--seq-length", "16", "--dropout", "0.1"]) == 0
    saved = json.loads((output / "settings.json").read_text())
    assert saved["resolved"]["init_checkpoint"] == str(model_dir / "1")
    pretrained = json.loads((model_dir / "1" / "bert_config.json").read_text())
    config = json.loads((output / "bert_config.json").read_text())
    assert pretrained["hidden_dropout_prob"] == pretrained["attention_probs_dropout_prob"] == 0.0
    assert config == {**pretrained, "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1}  # --dropout
    assert (output / "vocab.txt").read_text() == (model_dir / "1" / "vocab.txt").read_text()
    assert train.main(["export", str(output), "--models-dir", str(tmp_path / "models")]) == 0
    earlier = (tmp_path / "models" / "classifier" / "1" / "README.md").read_text().split("## Started from")[1]
    assert str(model_dir / "1") in earlier and "--steps 4" in earlier  # the export, and how it was made
    card = json.loads((tmp_path / "models" / "classifier" / "1" / "kbert.json").read_text())["model_card"]
    assert card["settings"]["text_column"] == "text" and card["settings"]["label_column"] == "label"  # train.csv's
    job, saved = job_of_run(str(output))
    demo = {**saved, "settings": {**saved["settings"], "train_file": None}}  # as a run on the embedded demo saves it
    assert not {"text_column", "label_column"} & set(_model_card(str(output), demo, job)["settings"])


def _damage_variables(version_dir):
    data = next((version_dir / "variables").glob("variables.data-*"))
    data.write_bytes(data.read_bytes()[:100])


def _widen_config(version_dir):
    config = json.loads((version_dir / "bert_config.json").read_text())
    (version_dir / "bert_config.json").write_text(json.dumps({**config, "intermediate_size": 48}))


@pytest.mark.parametrize(("damage", "message"), [
    (_damage_variables, "error: {copy}/variables/variables (the weights of {copy}) is damaged"),
    (_widen_config, "error: {copy} does not hold the weights of the backbone in {copy}/bert_config.json"),
])
def test_a_damaged_or_mismatched_export_is_refused_naming_it(exported, tmp_path, capsys, damage, message):
    model_dir, runs = exported
    copy = tmp_path / "copy"
    shutil.copytree(model_dir / "1", copy)
    damage(copy)
    root = runs["pretrain"].parent
    assert train.main(["finetune", str(root / "train.csv"), "--output-dir", str(tmp_path / "out"),
                       "--init-checkpoint", str(copy), "--steps", "1", "--seq-length", "16"]) == 2
    assert message.format(copy=copy) in capsys.readouterr().err


def test_an_incomplete_export_or_a_missing_path_gets_a_message_that_names_it(exported, tmp_path, capsys):
    model_dir, runs = exported
    copy = tmp_path / "copy"
    shutil.copytree(model_dir / "1", copy)
    (copy / "vocab.txt").unlink()
    root = runs["pretrain"].parent
    argv = ["finetune", str(root / "train.csv"), "--output-dir", str(tmp_path / "out"), "--steps", "1"]
    assert train.main([*argv, "--init-checkpoint", str(copy)]) == 2
    assert f"error: {copy}: missing vocab.txt; not a complete kbert export" in capsys.readouterr().err
    assert train.main([*argv, "--init-checkpoint", str(tmp_path / "nowhere")]) == 2
    assert "An exported model, such as saved_models/zh-mini, works too." in capsys.readouterr().err

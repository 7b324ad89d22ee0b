"""`train.py pretrain --init-checkpoint`: a pretraining run continued by another (a longer sequence length, more
text), which starts from the first run's weights, vocabulary and heads, with the position table grown."""

import json

import numpy as np
import pytest
from run_support import pretrain_argv, tiny_runs

import train
from kbert.training import pretraining
from kbert.training.run_config import PretrainSettings, settings_from


def test_a_continued_run_keeps_every_weight_of_the_first_and_grows_the_position_table_by_copying(tmp_path_factory):
    first = tiny_runs(tmp_path_factory.getbasetemp() / "tiny_runs")["pretrain"]
    settings = settings_from(PretrainSettings, {"init_checkpoint": str(first), "seq_length": 48,
                                                "max_predictions": 5, "output_dir": str(first.parent / "unused")})
    start = pretraining._starting_run(settings)
    config = pretraining._model_config(settings, len(start.vocab), start)
    assert config.max_position_embeddings == 48
    assert config.to_dict() == {**start.config.to_dict(), "max_position_embeddings": 48}
    model = pretraining.pretrainer(config, settings.seq_length)
    pretraining._continue_from(model, start)
    old = pretraining.restore_run(str(first)).model
    assert len(model.weights) == len(old.weights)
    for new_weight, old_weight in zip(model.weights, old.weights, strict=True):
        new, before = new_weight.numpy(), old_weight.numpy()
        if "position_embeddings" in new_weight.path:
            assert new.shape == (48, before.shape[1])
            np.testing.assert_array_equal(new[:32], before)
            np.testing.assert_array_equal(new[32:], before[:16])  # copied from trained rows, then learnt
        else:
            np.testing.assert_array_equal(new, before)


def test_train_py_continues_a_run_at_a_longer_length_and_resumes_it(tmp_path_factory, tmp_path):
    root = tmp_path_factory.getbasetemp() / "tiny_runs"
    first = tiny_runs(root)["pretrain"]
    argv = pretrain_argv(root, tmp_path / "longer", "--init-checkpoint", str(first), "--seq-length", "48",
                         "--steps", "2", "--checkpoint-every", "1", "--log-every", "1")
    assert train.main(argv) == 0
    saved = json.loads((tmp_path / "longer" / "settings.json").read_text())
    assert saved["resolved"]["init_checkpoint"].endswith("ckpt-4")
    assert json.loads((tmp_path / "longer" / "bert_config.json").read_text())["max_position_embeddings"] == 48
    assert (tmp_path / "longer" / "vocab.txt").read_text() == (first / "vocab.txt").read_text()
    assert train.main(argv) == 0  # finished: resumed from its own checkpoint, not started again from the first run
    assert train.main(["export", str(tmp_path / "longer"), "--models-dir", str(tmp_path / "models")]) == 0
    card = (tmp_path / "models" / "longer" / "1" / "README.md").read_text()
    earlier = card.split("## Started from")[1]
    assert "ckpt-4" in earlier and "--steps 4" in earlier  # the first run's checkpoint and command
    settings = json.loads((tmp_path / "models" / "longer" / "1" / "kbert.json").read_text())["model_card"]["settings"]
    assert settings["seq_length"] == 48 and not {"preset", "vocab_size"} & set(settings)  # the checkpoint's, not these
    assert train.main(["finetune", str(root / "train.csv"), "--eval-file", str(root / "test.csv"), "--output-dir",
                       str(tmp_path / "classifier"), "--init-checkpoint", str(tmp_path / "longer"), "--steps", "1",
                       "--batch-size", "8", "--seq-length", "48"]) == 0


def test_the_card_of_a_run_started_mid_run_counts_the_earlier_run_up_to_that_checkpoint(tmp_path_factory, tmp_path):
    root = tmp_path_factory.getbasetemp() / "tiny_runs"
    first = tiny_runs(root)["pretrain"]  # 4 steps, checkpoints at 2 and 4
    argv = pretrain_argv(root, tmp_path / "second", "--init-checkpoint", str(first / "ckpt-2"), "--steps", "1")
    assert train.main(argv) == 0
    assert train.main(["export", str(tmp_path / "second"), "--models-dir", str(tmp_path / "models")]) == 0
    earlier = (tmp_path / "models" / "second" / "1" / "README.md").read_text().split("## Started from")[1]
    assert "ckpt-2" in earlier and "--steps 4" in earlier  # the checkpoint, and the command of the run it is from
    assert "| steps | 2 |" in earlier and f"| tokens_seen | {2 * 8 * 32:,} " in earlier  # not the run's 4 steps


@pytest.mark.parametrize(("more", "message"), [
    (["--no-lowercase"], "was trained with lowercase True; continue it with the same: --lowercase"),
    (["--layer-norm-position", "pre"], "has layer_norm_position post; a run continuing it cannot change that"),
])
def test_a_continued_run_refuses_to_tokenize_or_normalise_otherwise(tmp_path_factory, tmp_path, more, message):
    root = tmp_path_factory.getbasetemp() / "tiny_runs"
    first = tiny_runs(root)["pretrain"]
    settings = settings_from(PretrainSettings, {"init_checkpoint": str(first), "output_dir": str(tmp_path / "x"),
                                                **({"lowercase": False} if "--no-lowercase" in more else
                                                   {"layer_norm_position": "pre"})})
    with pytest.raises(ValueError, match=message):
        start = pretraining._starting_run(settings)
        pretraining._model_config(settings, len(start.vocab), start)


def test_a_continued_run_takes_no_other_config_or_vocabulary(tmp_path):
    with pytest.raises(ValueError, match="init_checkpoint = 'run'; the model and vocabulary come from the "
                                         "checkpoint's run: leave out --config and --vocab"):
        settings_from(PretrainSettings, {"init_checkpoint": "run", "vocab": str(tmp_path / "vocab.txt")})


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The tiny pretraining and fine-tuning runs, exported under `models/` as `pretrain/1` and `finetune/1`."""
    runs = tiny_runs(tmp_path_factory.getbasetemp() / "tiny_runs")
    models = tmp_path_factory.mktemp("continue_models")
    for run in runs.values():
        assert train.main(["export", str(run), "--models-dir", str(models)]) == 0
    return models, runs


def test_a_run_continues_every_weight_of_an_exported_pretrainer_heads_included(exported, tmp_path):
    models, runs = exported
    settings = settings_from(PretrainSettings, {"init_checkpoint": str(models / "pretrain"), "seq_length": 32,
                                                "output_dir": str(tmp_path / "unused")})
    start = pretraining._starting_run(settings)
    assert start.prefix == str(models / "pretrain" / "1")
    assert start.vocab == (runs["pretrain"] / "vocab.txt").read_text().splitlines()
    config = pretraining._model_config(settings, len(start.vocab), start)
    model = pretraining.pretrainer(config, settings.seq_length)
    pretraining._continue_from(model, start)
    old = pretraining.restore_run(str(runs["pretrain"])).model
    heads = [weight for weight in old.weights if not weight.path.startswith(old.backbone.name)]
    assert heads  # the masked-LM and next-sentence heads come with the export, not freshly initialised
    for new_weight, old_weight in zip(model.weights, old.weights, strict=True):
        np.testing.assert_array_equal(new_weight.numpy(), old_weight.numpy())


def test_train_py_continues_an_export_and_its_card_carries_the_exports(exported, tmp_path):
    models, runs = exported
    root = runs["pretrain"].parent
    argv = pretrain_argv(root, tmp_path / "more", "--init-checkpoint", str(models / "pretrain" / "1"),
                         "--steps", "1", "--log-every", "1")
    assert train.main(argv) == 0
    saved = json.loads((tmp_path / "more" / "settings.json").read_text())
    assert saved["resolved"]["init_checkpoint"] == str(models / "pretrain" / "1")
    assert train.main(["export", str(tmp_path / "more"), "--models-dir", str(tmp_path / "models")]) == 0
    earlier = (tmp_path / "models" / "more" / "1" / "README.md").read_text().split("## Started from")[1]
    assert str(models / "pretrain" / "1") in earlier and "--steps 4" in earlier  # the export, and how it was made


def test_pretraining_refuses_to_continue_a_classifier_run_or_export_or_other_tokenization(exported, tmp_path):
    models, runs = exported
    settings = settings_from(PretrainSettings, {"init_checkpoint": str(runs["finetune"]),
                                                "output_dir": str(tmp_path / "x")})
    with pytest.raises(ValueError, match="finetune holds a finetune run, not a pretrain run"):
        pretraining._starting_run(settings)
    settings = settings_from(PretrainSettings, {"init_checkpoint": str(models / "finetune"),
                                                "output_dir": str(tmp_path / "x")})
    with pytest.raises(ValueError, match=r"finetune is an exported classifier; pretraining continues a pretrainer"):
        pretraining._starting_run(settings)
    settings = settings_from(PretrainSettings, {"init_checkpoint": str(models / "pretrain"), "lowercase": False,
                                                "output_dir": str(tmp_path / "x")})
    with pytest.raises(ValueError, match="was trained with lowercase True; continue it with the same: --lowercase"):
        pretraining._starting_run(settings)

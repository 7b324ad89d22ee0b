"""Bad training input is one clear error naming the field or the file, not a traceback: a sequence longer than the
model's positions or than memory can hold, a learning rate that is not a finite number, an empty or mistyped section
of a settings file, a vocabulary or labels.json edited after training."""

import dataclasses
import json

import pytest

import train
from kbert.config import BertConfig
from kbert.training.main_job import PRETRAIN_DEFAULTS
from kbert.training.memory import check_fits_in_memory
from kbert.training.run_config import PretrainSettings
from tests.run_support import TINY, copy_run, tiny_runs


def _settings(*argv):
    return train.job_settings(train.build_parser().parse_args(list(argv)))


def _error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def test_a_sequence_longer_than_the_presets_positions_is_refused_before_anything_runs(tmp_path, capsys):
    assert train.main(["pretrain", "--seq-length", "100000", "--output-dir", str(tmp_path / "run")]) == 2
    assert ("seq_length = 100000; the tiny preset has max_position_embeddings 512: use at most that, or a --config "
            "with a longer max_position_embeddings") in _error(capsys)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_a_learning_rate_that_is_not_a_finite_number_is_refused(tmp_path, capsys, value):
    assert train.main(["pretrain", f"--learning-rate={value}", "--output-dir", str(tmp_path / "run")]) == 2
    assert f"learning_rate = {float(value)!r}; it must be a finite number" in _error(capsys)


def test_a_step_that_cannot_fit_in_memory_is_refused_with_the_estimate():
    config = BertConfig.from_preset("tiny", vocab_size=200, max_position_embeddings=100_000)
    settings = PretrainSettings(seq_length=100_000, batch_size=8, max_predictions=5, bert_config="long.json")
    with pytest.raises(ValueError, match=r"seq_length 100000 with batch_size 8 needs about [\d,.]+ GiB to train this "
                                         r"2-layer model .* more than this machine's [\d,.]+ GiB\. Lower --seq-length"):
        check_fits_in_memory(config, settings, "mixed_bfloat16")
    check_fits_in_memory(config, dataclasses.replace(settings, seq_length=512), "float32")  # fits: no error


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return tiny_runs(tmp_path_factory.getbasetemp() / "tiny_runs")


def test_a_long_config_is_refused_by_the_memory_estimate_before_the_model_is_built(runs, tmp_path, capsys):
    root, run = runs["pretrain"].parent, tmp_path / "run"
    vocab = runs["pretrain"] / "vocab.txt"
    config = json.loads((runs["pretrain"] / "bert_config.json").read_text())
    (tmp_path / "long.json").write_text(json.dumps({**config, "max_position_embeddings": 100_000}))
    argv = ["pretrain", str(root / "corpus.txt"), "--data-dir", str(root / "data"), "--output-dir", str(run), *TINY,
            "--seq-length", "100000", "--vocab", str(vocab), "--config", str(tmp_path / "long.json"), "--steps", "2"]
    assert train.main(argv) == 2
    assert "seq_length 100000 with batch_size 8 needs about" in _error(capsys)
    assert not list(run.glob("ckpt-*"))


@pytest.mark.parametrize("text", ["pretrain:\n", "pretrain:\nfinetune:\n", "finetune:\n  epochs: 3\npretrain:\n"])
def test_an_empty_section_of_a_settings_file_is_no_settings(tmp_path, text):
    path = tmp_path / "settings.yaml"
    path.write_text(text)
    assert _settings("pretrain", "--config-file", str(path)) == PretrainSettings()
    job = _settings("--config-file", str(path), "--output-dir", str(tmp_path / "run"))
    assert job.pretrain == PretrainSettings(output_dir=str(tmp_path / "run" / "pretrain"), **PRETRAIN_DEFAULTS)


@pytest.mark.parametrize("argv", [["pretrain"], []])
def test_a_section_that_is_not_a_mapping_is_refused_naming_it(tmp_path, capsys, argv):
    path = tmp_path / "settings.yaml"
    path.write_text("pretrain: fast\n")
    assert train.main([*argv, "--config-file", str(path)]) == 2
    assert "section 'pretrain' must be a mapping of setting names to values, got str 'fast'" in _error(capsys)


def test_evaluate_refuses_a_vocabulary_edited_after_training(runs, tmp_path, capsys):
    run = copy_run(runs["pretrain"], tmp_path / "run")
    size = len((run / "vocab.txt").read_text().splitlines())
    with open(run / "vocab.txt", "a") as file:
        file.write("extra\nwords\n")
    assert train.main(["evaluate", str(run)]) == 2
    assert (f"{run}/vocab.txt has {size + 2:,} tokens but {run}/bert_config.json says vocab_size is {size:,}: one of "
            "them was edited or replaced after training") in _error(capsys)


def test_an_edited_labels_json_is_named_instead_of_a_shape_traceback(runs, tmp_path, capsys):
    run = copy_run(runs["finetune"], tmp_path / "finetune")
    (run / "labels.json").write_text('["negative", "neutral", "positive"]\n')
    assert train.main(["evaluate", str(run)]) == 2
    assert f"{run}/ckpt-2 does not fit the model built from the files of {run}" in (err := _error(capsys))
    assert "was bert_config.json or labels.json edited after training?" in err
    (run / "labels.json").write_text('{"0": "negative"}\n')
    assert train.main(["export", str(run), "--models-dir", str(tmp_path / "models")]) == 2
    assert f"{run}/labels.json must list the classifier's label names" in _error(capsys)


def _finetune(runs, output, train_file, *more):
    return train.main(["finetune", str(train_file), "--output-dir", str(output), "--init-checkpoint",
                       str(runs["pretrain"]), "--steps", "1", "--batch-size", "8", "--seq-length", "16", *more])


def test_fine_tuning_refuses_one_class_and_warns_on_two_spellings_of_one(runs, tmp_path, capsys):
    (tmp_path / "one.csv").write_text("text,label\n" + "".join(f"river stone {i},positive\n" for i in range(8)))
    assert _finetune(runs, tmp_path / "one", tmp_path / "one.csv") == 2
    assert "one.csv: every example has the label 'positive'; a classifier needs examples of at least two" in (
        _error(capsys))
    (tmp_path / "two.csv").write_text("text,label\n" + "".join(f"river stone {i},{label}\n" for i, label in
                                                                 enumerate(["pos", "POS", "neg", "neg"] * 2)))
    assert _finetune(runs, tmp_path / "two", tmp_path / "two.csv") == 0
    assert "warning: " + str(tmp_path / "two.csv") + ": labels 'POS' (2), 'pos' (2) differ only in case" in (
        capsys.readouterr().err)


def test_an_unknown_label_in_the_eval_file_names_the_eval_file(runs, tmp_path, capsys):
    root = runs["pretrain"].parent
    (tmp_path / "eval.csv").write_text("text,label\nriver silver stone,positive\nriver stone,maybe\n")
    assert _finetune(runs, tmp_path / "run", root / "train.csv", "--eval-file", str(tmp_path / "eval.csv")) == 2
    assert f"{tmp_path / 'eval.csv'} has label(s) 'maybe' that the model does not know" in _error(capsys)

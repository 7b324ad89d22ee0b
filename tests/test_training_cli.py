"""train.py: settings from flags and files, clear errors for bad input, and the whole main job end to end on a
small corpus and a small labelled file (pretrain, evaluate, fine-tune, test, summary, resume, evaluate command)."""

import json

import pytest
import yaml

import train
from kbert.pipeline import pipeline
from kbert.text.corpus import load_corpus
from kbert.text.pretraining_data import pretraining_dataset
from kbert.text.tokenizer import BertTokenizer
from kbert.training.run_config import PretrainSettings, save_settings
from tests.run_support import write_corpus, write_reviews
from tests.training_support import train_records


def _parse(*argv):
    return train.job_settings(train.build_parser().parse_args(list(argv)))


def test_flags_win_over_the_settings_file_which_wins_over_defaults(tmp_path):
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump({"steps": 5, "learning_rate": 0.1, "whole_word_masking": True}))
    settings = _parse("pretrain", "corpus.txt", "--config-file", str(path), "--steps", "7", "--config", "b.json")
    assert (settings.steps, settings.learning_rate, settings.whole_word_masking) == (7, 0.1, True)
    assert (settings.corpus, settings.bert_config, settings.seq_length) == ("corpus.txt", "b.json", 64)


def test_main_job_file_sections_reach_each_job(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"pretrain": {"preset": "mini"}, "finetune": {"epochs": 3}}))
    job = _parse("--output-dir", str(tmp_path / "run"), "--config-file", str(path), "--strategy", "default")
    assert (job.pretrain.preset, job.finetune.epochs, job.finetune.learning_rate) == ("mini", 3.0, 1e-3)
    assert job.finetune.init_checkpoint == job.pretrain.output_dir == str(tmp_path / "run" / "pretrain")
    assert job.pretrain.strategy == job.finetune.strategy == "default"
    assert job.finetune.seq_length == job.pretrain.seq_length == 64  # the positions the pretraining learned
    assert _parse("finetune", "--config-file", str(path)).epochs == 3.0


def test_the_main_job_weights_the_next_sentence_loss_by_a_quarter_and_a_settings_file_can_restore_berts(tmp_path):
    assert _parse("--output-dir", str(tmp_path / "run")).pretrain.nsp_weight == 0.25
    assert _parse("pretrain").nsp_weight == 1.0  # a pretraining run of its own keeps BERT's sum
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"pretrain": {"nsp_weight": 1.0}}))
    assert _parse("--output-dir", str(tmp_path / "run"), "--config-file", str(path)).pretrain.nsp_weight == 1.0


@pytest.fixture
def settings_file(tmp_path):
    def write(values):
        path = tmp_path / "bad.yaml"
        path.write_text(yaml.safe_dump(values))
        return str(path)

    return write


@pytest.mark.parametrize("argv, message", [
    (["pretrain", "--batch-size", "0"], "error: settings: batch_size = 0; it must be a positive integer"),
    (["pretrain", "--optimizer", "sgd"], "error: settings: optimizer = 'sgd'; choose adamw, lamb"),
    (["pretrain", "--accumulation-steps", "3"], "batch_size = 128; it must be a multiple of accumulation_steps (3)"),
    (["finetune", "--init-checkpoint", "/nowhere/run"], "error: No checkpoint at /nowhere/run"),
    (["evaluate", "/nowhere/run"], "error: /nowhere/run has no settings.json"),
    (["--config-file", "/nowhere/x.yaml"], "error: settings file /nowhere/x.yaml not found"),
])
def test_bad_input_is_one_clear_line_not_a_traceback(tmp_path, capsys, argv, message):
    argv = [a if a != "/nowhere/run" else str(tmp_path / "nowhere") for a in argv]
    message = message.replace("/nowhere/run", str(tmp_path / "nowhere"))
    if argv[0] in ("pretrain", "finetune"):
        argv += ["--output-dir", str(tmp_path / "out")]
    assert train.main(argv) == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error


def test_kbert_traceback_shows_where_an_error_was_raised(tmp_path, monkeypatch):
    monkeypatch.setenv("KBERT_TRACEBACK", "1")
    with pytest.raises(ValueError, match="batch_size = 0; it must be a positive integer"):
        train.main(["pretrain", "--batch-size", "0", "--output-dir", str(tmp_path / "out")])


def test_a_settings_file_with_an_unknown_or_mistyped_field_is_refused(settings_file, capsys):
    assert train.main(["pretrain", "--config-file", settings_file({"stepz": 3})]) == 2
    assert "bad.yaml: unknown setting(s) stepz; known: accumulation_steps" in capsys.readouterr().err
    assert train.main(["pretrain", "--config-file", settings_file({"steps": "many"})]) == 2
    assert "bad.yaml: steps must be int or null, got 'many'" in capsys.readouterr().err
    assert train.main(["--config-file", settings_file({"pretrian": {}})]) == 2
    assert "unknown section(s) pretrian" in capsys.readouterr().err


def test_a_run_directory_is_not_resumed_with_other_settings(tmp_path, capsys):
    save_settings(PretrainSettings(output_dir=str(tmp_path), steps=6), "pretrain")
    (tmp_path / "checkpoint").write_text('model_checkpoint_path: "ckpt-2"\n')  # the run has begun
    assert train.main(["pretrain", "--output-dir", str(tmp_path), "--steps", "7"]) == 2
    assert "holds a run started with other settings: steps (6 before, 7 now)" in capsys.readouterr().err


def test_command_line_errors_are_argparse_messages(capsys):
    with pytest.raises(SystemExit) as stop:
        train.main(["pretrain", "--steps", "many"])
    assert stop.value.code == 2
    assert "argument --steps: invalid int value: 'many'" in capsys.readouterr().err


@pytest.fixture(scope="module")
def main_job_run(tmp_path_factory):
    """The main job, shrunk by a settings file: a tiny model, a few steps, a small corpus and labelled file."""
    root = tmp_path_factory.mktemp("main_job")
    write_corpus(root / "corpus.txt")
    write_reviews(root / "train.csv")
    write_reviews(root / "test.csv", count=20, seed=2)
    settings = {
        "pretrain": {"corpus": str(root / "corpus.txt"), "data_dir": str(root / "data"), "preset": "tiny",
                     "vocab_size": 200, "seq_length": 32, "max_predictions": 5, "batch_size": 8, "steps": 6,
                     "eval_every": 3, "checkpoint_every": 4, "log_every": 2},
        "finetune": {"train_file": str(root / "train.csv"), "eval_file": str(root / "test.csv"), "steps": 4,
                     "batch_size": 8, "seq_length": 16, "log_every": 2},
    }
    (root / "settings.yaml").write_text(yaml.safe_dump(settings))
    argv = ["--output-dir", str(root / "run"), "--config-file", str(root / "settings.yaml"),
            "--models-dir", str(root / "models")]
    return root, argv


def test_main_job_trains_evaluates_and_summarises_then_resumes_without_retraining(main_job_run, capsys):
    root, argv = main_job_run
    assert train.main(argv) == 0
    table = capsys.readouterr().out
    for line in ("pretrain  held-out MLM accuracy", "pretrain  held-out NSP accuracy", "finetune  test accuracy",
                 "export    zh", "export    sentiment"):
        assert line in table
    run = root / "run"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["pretrain"]["steps"] == 6 and summary["finetune"]["steps"] == 4
    pretrain_eval = json.loads((run / "pretrain" / "eval.json").read_text())
    assert pretrain_eval["mlm_accuracy"] == summary["pretrain"]["evaluation"]["mlm_accuracy"]
    assert 0 < pretrain_eval["references"]["mlm_accuracy_most_frequent_token"] < 1
    for name in ("settings.json", "vocab.txt", "bert_config.json", "ckpt-6.index", "ckpt-4.index",
                 "learning_curves.png", "metrics.jsonl"):
        assert (run / "pretrain" / name).exists(), name
    for name in ("settings.json", "vocab.txt", "bert_config.json", "labels.json", "ckpt-4.index", "eval.json"):
        assert (run / "finetune" / name).exists(), name
    assert json.loads((run / "finetune" / "labels.json").read_text()) == ["negative", "positive"]
    saved = json.loads((run / "pretrain" / "settings.json").read_text())
    assert saved["task"] == "pretrain" and saved["settings"]["steps"] == 6 and saved["resolved"]["steps"] == 6

    assert summary["exports"] == {"zh": str(root / "models" / "zh" / "1"),
                                  "sentiment": str(root / "models" / "sentiment" / "1")}
    card = json.loads((root / "models" / "zh" / "1" / "kbert.json").read_text())["model_card"]
    assert card["command"] == "python train.py " + " ".join(argv)
    assert card["steps"] == 6 and card["examples_seen"] == 48 and card["tokens_seen"].startswith("1,536 ")
    assert "cores" in card["hardware"] and card["training_time"].endswith("of training steps, evaluations excluded)")
    assert card["metrics"]["mlm_accuracy"] == pretrain_eval["mlm_accuracy"]
    assert card["settings"]["nsp_weight"] == 0.25 and card["settings"]["steps"] == 6  # the command names neither
    assert not {"output_dir", "corpus", "checkpoint_every"} & set(card["settings"])
    readme = (root / "models" / "zh" / "1" / "README.md").read_text()
    assert "## Training" in readme and "| nsp_weight | 0.25 |" in readme
    classifier = json.loads((root / "models" / "sentiment" / "1" / "kbert.json").read_text())["model_card"]
    assert classifier["settings"]["steps"] == 4 and classifier["started_from"]["settings"]["nsp_weight"] == 0.25
    answer = pipeline("classify", root / "models" / "sentiment")("river silver stone")
    assert set(answer["scores"]) == {"negative", "positive"}
    assert sum(answer["scores"].values()) == pytest.approx(1.0, abs=1e-5)

    assert train.main(argv) == 0  # started again: everything is done, so nothing retrains
    again = json.loads((run / "summary.json").read_text())
    assert again["pretrain"]["seconds"] == 0.0 and again["finetune"]["seconds"] == 0.0
    assert again["finetune"]["evaluation"] == pytest.approx(summary["finetune"]["evaluation"])
    capsys.readouterr()

    assert train.main(["evaluate", str(run / "finetune")]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["accuracy"] == pytest.approx(summary["finetune"]["evaluation"]["accuracy"])
    assert evaluated["checkpoint"].endswith("ckpt-4") and evaluated["examples"] == 20


def test_pretraining_length_in_epochs_counts_the_corpus_examples(main_job_run, capsys):
    root, _ = main_job_run
    argv = ["pretrain", str(root / "corpus.txt"), "--data-dir", str(root / "data"), "--output-dir",
            str(root / "epochs"), "--vocab-size", "200", "--seq-length", "32", "--max-predictions", "5",
            "--batch-size", "16", "--epochs", "0.5", "--eval-every", "1000"]
    assert train.main(argv) == 0
    corpus = load_corpus(str(root / "corpus.txt"), str(root / "data"))
    tokenizer = BertTokenizer(str(root / "epochs" / "vocab.txt"))
    one_pass = pretraining_dataset(corpus.train, tokenizer, seq_length=32, max_predictions_per_seq=5, batch_size=1,
                                   dupe_factor=1, repeat=False)
    examples = sum(1 for _ in one_pass)
    assert json.loads(capsys.readouterr().out)["steps"] == round(0.5 * examples / 16)


def test_training_time_sums_the_logged_windows_and_skips_evaluations():
    from kbert.training.exporting import training_seconds

    records = [{"step": 10, "split": "train", "examples_per_second": 20.0}, {"step": 10, "split": "eval"},
               {"step": 20, "split": "train", "examples_per_second": 10.0},
               {"step": 25, "split": "train", "examples_per_second": 40.0}]
    assert training_seconds(records, batch_size=4) == pytest.approx(10 * 4 / 20 + 10 * 4 / 10 + 5 * 4 / 40)


def test_the_seed_fixes_the_initial_weights(main_job_run, capsys):
    """Two runs with one seed start from the same weights (same first-step loss); another seed does not."""
    root, _ = main_job_run
    losses = {}
    for name, seed in (("a", "3"), ("b", "3"), ("c", "4")):
        argv = ["pretrain", str(root / "corpus.txt"), "--data-dir", str(root / "data"), "--output-dir",
                str(root / f"seed-{name}"), "--vocab-size", "200", "--seq-length", "32", "--max-predictions", "5",
                "--batch-size", "8", "--steps", "1", "--log-every", "1", "--seed", seed]
        assert train.main(argv) == 0
        losses[name] = [r["loss"] for r in train_records(str(root / f"seed-{name}"))]
    capsys.readouterr()
    assert losses["a"] == losses["b"] and losses["a"] != losses["c"]

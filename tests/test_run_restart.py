"""Nothing of a run is final until its first checkpoint: an attempt that failed before it may start again with a
fixed corpus (and so a new vocabulary) or with other settings (the fix a diverged run's message suggests)."""

import json

import pytest

import train
from kbert.text.vocab import load_vocabulary
from kbert.training.checkpoints import STATE_FILE
from kbert.training.run_config import PretrainSettings, check_resumable, save_settings, settings_from
from tests.run_support import pretrain_argv, write_corpus
from tests.training_support import train_records


def test_a_failed_first_attempt_on_a_one_line_corpus_does_not_keep_its_vocabulary(tmp_path, capsys):
    corpus, output = tmp_path / "corpus.txt", tmp_path / "run"
    corpus.write_text("Only one line of text.\n")
    argv = pretrain_argv(tmp_path, output, "--steps", "2")
    assert train.main(argv) == 2
    assert "next-sentence pairs need at least 2" in capsys.readouterr().err
    assert len(load_vocabulary(str(output / "vocab.txt"))) < 40  # what one line can teach

    write_corpus(corpus)  # the corpus, fixed
    assert train.main(argv) == 0
    assert "holds an earlier attempt that stopped before its first checkpoint" in capsys.readouterr().err
    vocab = load_vocabulary(str(output / "vocab.txt"))
    assert len(vocab) > 40 and set(vocab) >= {"river", "stone", "garden"}  # trained on the real corpus
    assert (output / "ckpt-2.index").exists()


def test_a_run_that_diverged_before_its_first_checkpoint_may_rerun_with_a_lower_learning_rate(tmp_path, capsys):
    write_corpus(tmp_path / "corpus.txt")
    output = tmp_path / "run"
    assert train.main(pretrain_argv(tmp_path, output, "--steps", "4", "--learning-rate", "1e30",
                                    "--checkpoint-every", "100", "--log-every", "1")) == 1
    err = capsys.readouterr().err
    assert "not finite numbers" in err
    assert "No checkpoint had been written yet, so this run may start again with other settings" in err

    assert train.main(pretrain_argv(tmp_path, output, "--steps", "4", "--learning-rate", "1e-3",
                                    "--checkpoint-every", "100", "--log-every", "1")) == 0
    saved = json.loads((output / "settings.json").read_text())
    assert saved["settings"]["learning_rate"] == 1e-3
    assert [r["step"] for r in train_records(str(output))] == [1, 2, 3, 4]  # the failed attempt's records are gone


def test_a_run_with_a_checkpoint_still_refuses_other_settings(tmp_path, capsys):
    write_corpus(tmp_path / "corpus.txt")
    output = tmp_path / "run"
    assert train.main(pretrain_argv(tmp_path, output, "--steps", "2", "--checkpoint-every", "1")) == 0
    capsys.readouterr()
    assert train.main(pretrain_argv(tmp_path, output, "--steps", "3", "--checkpoint-every", "1")) == 2
    assert "holds a run started with other settings: steps (2 before, 3 now)" in capsys.readouterr().err


def test_a_field_that_an_older_run_did_not_save_counts_as_its_default(tmp_path):
    output = tmp_path / "run"
    output.mkdir()
    settings = settings_from(PretrainSettings, {"output_dir": str(output)})
    save_settings(settings, "pretrain")
    saved = json.loads((output / "settings.json").read_text())
    del saved["settings"]["weight_decay"]  # a run written before the field existed
    (output / "settings.json").write_text(json.dumps(saved))
    (output / STATE_FILE).write_text('model_checkpoint_path: "ckpt-1"\n')
    check_resumable(settings, "pretrain")  # the default: the run resumes
    changed = settings_from(PretrainSettings, {"output_dir": str(output), "weight_decay": 0.1})
    with pytest.raises(ValueError, match=r"other settings: weight_decay \(0.01 before, 0.1 now\)"):
        check_resumable(changed, "pretrain")

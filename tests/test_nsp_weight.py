"""`--nsp-weight`: the next-sentence loss scaled beside the masked-LM loss, in the loss the optimiser minimises."""

import numpy as np
import pytest
from run_support import pretrain_argv, tiny_runs
from test_models import VOCAB, pretraining_batch, tiny_config

import train
from kbert import objectives
from kbert.models import BertBackbone, BertPretrainer
from kbert.training import pretraining


def test_the_loss_is_the_masked_lm_loss_plus_the_weighted_next_sentence_loss():
    model = BertPretrainer(BertBackbone(tiny_config()))
    features = pretraining_batch(VOCAB)
    features["next_sentence_labels"] = np.array([0, 1, 1, 0], np.int32)
    outputs = model(features)
    logits = np.asarray(outputs["nsp_logits"], np.float64)
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    nsp = -log_probs[np.arange(4), features["next_sentence_labels"]].mean()
    for weight in (1.0, 0.25, 0.0):
        objective = objectives.PretrainingObjective(nsp_weight=weight)
        sums = objective.sums(features, None, outputs)
        metrics = objective.metrics(sums)
        assert metrics["nsp_loss"] == pytest.approx(nsp, rel=1e-5)
        assert metrics["loss"] == pytest.approx(metrics["mlm_loss"] + weight * nsp, rel=1e-5)
        assert float(objective.loss(sums, sums)) == pytest.approx(metrics["loss"], rel=1e-5)


def test_train_py_with_nsp_weight_0_trains_the_masked_lm_and_leaves_the_next_sentence_head_alone(
        tmp_path_factory, tmp_path):
    root = tmp_path_factory.getbasetemp() / "tiny_runs"
    first = tiny_runs(root)["pretrain"]
    argv = pretrain_argv(root, tmp_path / "no_nsp", "--init-checkpoint", str(first), "--nsp-weight", "0",
                         "--weight-decay", "0", "--steps", "2")
    assert train.main(argv) == 0
    before = {w.path: w.numpy() for w in pretraining.restore_run(str(first)).model.weights}
    after = {w.path: w.numpy() for w in pretraining.restore_run(str(tmp_path / "no_nsp")).model.weights}
    assert before.keys() == after.keys()
    only_nsp = [path for path in after if "next_sentence_head" in path or "pooler" in path]
    assert len(only_nsp) == 4  # the pooler's and the head's kernel and bias
    for path in only_nsp:
        np.testing.assert_array_equal(after[path], before[path], err_msg=path)
    moved = [path for path in after if not np.array_equal(after[path], before[path])]
    assert any("masked_lm_head" in path for path in moved) and any("transformer" in path for path in moved)


def test_a_negative_nsp_weight_is_refused_naming_the_field(tmp_path, capsys):
    assert train.main(["pretrain", "--nsp-weight", "-1", "--output-dir", str(tmp_path / "out")]) == 2
    assert "nsp_weight = -1.0; it must not be negative (BERT uses 1)" in capsys.readouterr().err

"""The training loop on one replica: gradient accumulation, stopping on a non-finite loss, logs and evaluation."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from kbert import precision
from kbert.objectives import ClassificationObjective
from kbert.training.checkpoints import RunCheckpoints
from kbert.training.history import read_records
from kbert.training.loop import Evaluator, TrainingDiverged
from kbert.training.tasks import PretrainingTask, Task
from tests.training_support import run, synthetic_examples, tiny_pretrainer, train_records


def test_accumulating_two_half_batches_follows_the_one_batch_trajectory(tmp_path):
    whole, halves = str(tmp_path / "whole"), str(tmp_path / "halves")
    run(whole, steps=4)
    run(halves, steps=4, accumulation_steps=2)
    for key in ("loss", "mlm_accuracy", "nsp_accuracy", "grad_norm"):
        np.testing.assert_allclose([r[key] for r in train_records(halves)], [r[key] for r in train_records(whole)],
                                   rtol=2e-4, err_msg=key)


def test_float16_with_loss_scaling_follows_the_float32_trajectory(tmp_path):
    run(str(tmp_path / "float32"), steps=4, examples=synthetic_examples(8))
    precision.set_policy("mixed_float16")
    run(str(tmp_path / "float16"), steps=4, examples=synthetic_examples(8), loss_scaling=True)
    half, full = train_records(str(tmp_path / "float16")), train_records(str(tmp_path / "float32"))
    np.testing.assert_allclose([r["loss"] for r in half], [r["loss"] for r in full], rtol=2e-2)
    assert half[-1]["loss"] < half[0]["loss"] - 0.1


def test_a_batch_size_that_does_not_split_is_refused(tmp_path):
    with pytest.raises(ValueError, match="batch size 8 does not split evenly into 1 replica\\(s\\) x 3"):
        run(str(tmp_path), steps=2, accumulation_steps=3)


def test_a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
    examples = synthetic_examples(32)
    examples["mask_weights"][24:] = np.nan  # the 4th batch of 8
    with pytest.raises(TrainingDiverged, match=r"step 4: the loss is nan.*ckpt-2, is kept"):
        run(str(tmp_path), steps=6, checkpoint_every=2, examples=examples)
    assert tf.train.latest_checkpoint(str(tmp_path)).endswith("ckpt-2")
    model = tiny_pretrainer()
    step = tf.Variable(0, dtype=tf.int64)
    assert RunCheckpoints(str(tmp_path), str(tmp_path), step, model=model).restore() == 2
    assert all(np.isfinite(v.numpy()).all() for v in model.weights)
    assert [r["step"] for r in train_records(str(tmp_path))] == [1, 2, 3]


def test_a_run_logs_every_step_for_tensorboard_and_plots_its_curves(tmp_path):
    result = run(str(tmp_path), steps=3)
    records = train_records(str(tmp_path))
    assert [r["step"] for r in records] == [1, 2, 3]
    assert {"loss", "mlm_accuracy", "nsp_accuracy", "learning_rate", "grad_norm", "examples_per_second"} <= set(
        records[0])
    assert result.metrics["loss"] == pytest.approx(records[-1]["loss"])
    events = [os.path.join(d, f) for d, _, files in os.walk(tmp_path / "logs") for f in files]
    tags = {value.tag for path in events for event in tf.compat.v1.train.summary_iterator(path)
            for value in event.summary.value}
    assert {"loss", "learning_rate", "mlm_accuracy", "nsp_accuracy", "examples_per_second"} <= tags
    with open(tmp_path / "learning_curves.png", "rb") as file:
        assert file.read(8) == b"\x89PNG\r\n\x1a\n"


def test_metrics_jsonl_ignores_a_line_cut_short_by_a_crash(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text(json.dumps({"step": 1, "split": "train", "loss": 2.0}) + '\n{"step": 2, "spl')
    assert read_records(str(path)) == [{"step": 1, "split": "train", "loss": 2.0}]


def test_pretraining_evaluation_matches_metrics_computed_from_the_model_outputs():
    model = tiny_pretrainer()
    examples = synthetic_examples(20, seed=3)
    dataset = tf.data.Dataset.from_tensor_slices(examples).batch(8)  # 8 + 8 + 4
    metrics = Evaluator(PretrainingTask(model), tf.distribute.get_strategy())(dataset)
    outputs = model(examples)
    weights = examples["mask_weights"]
    mlm_log_probs = tf.nn.log_softmax(outputs["mlm_logits"]).numpy()
    mlm_nll = -np.take_along_axis(mlm_log_probs, examples["mask_ids"][..., None], -1)[..., 0]
    nsp_log_probs = tf.nn.log_softmax(outputs["nsp_logits"]).numpy()
    nsp_nll = -nsp_log_probs[np.arange(20), examples["next_sentence_labels"]]
    expected_mlm_loss = (mlm_nll * weights).sum() / weights.sum()
    assert metrics["mlm_loss"] == pytest.approx(expected_mlm_loss, rel=1e-4)
    assert metrics["nsp_loss"] == pytest.approx(nsp_nll.mean(), rel=1e-4)
    assert metrics["loss"] == pytest.approx(expected_mlm_loss + nsp_nll.mean(), rel=1e-4)
    mlm_hits = (mlm_log_probs.argmax(-1) == examples["mask_ids"]) * weights
    assert metrics["mlm_accuracy"] == pytest.approx(mlm_hits.sum() / weights.sum())
    nsp_hits = nsp_log_probs.argmax(-1) == examples["next_sentence_labels"]
    assert metrics["nsp_accuracy"] == pytest.approx(nsp_hits.mean())


def test_classification_evaluation_counts_every_example_once():
    logits = keras.layers.Dense(2, kernel_initializer="ones", bias_initializer=keras.initializers.Constant([0, 0.5]))
    inputs = keras.Input((3,), name="token_ids")
    model = keras.Model({"token_ids": inputs}, {"logits": logits(keras.ops.cast(inputs, "float32") * 0)})
    labels = np.array([1, 1, 0, 1, 0], np.int32)  # always predicts label 1: 3 of 5 right
    dataset = tf.data.Dataset.from_tensor_slices(({"token_ids": np.zeros([5, 3], np.int32)}, labels)).batch(2)
    metrics = Evaluator(Task(model, ClassificationObjective()), tf.distribute.get_strategy())(dataset)
    assert metrics["accuracy"] == pytest.approx(0.6)
    expected = -np.log(np.exp([0.0, 0.5]) / np.exp([0.0, 0.5]).sum())[labels].mean()
    assert metrics["loss"] == pytest.approx(expected, rel=1e-5)

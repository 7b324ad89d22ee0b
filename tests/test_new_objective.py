"""A new training objective is one class: here a sentence-order head (ALBERT's SOP), written in this file alone,
trains through both the training loop and Keras' fit(), checkpoints its head and shows its metric on the progress
line, with nothing else in kbert changed."""

import io

import keras
import numpy as np
import tensorflow as tf
from keras import ops
from training_support import dataset_fn

from kbert.config import BertConfig
from kbert.layers.heads import ClassifierHead
from kbert.models import BertBackbone, BertWithHeads
from kbert.objectives import Objective
from kbert.training.loop import LoopOptions, train
from kbert.training.optimization import WarmupLinearDecay, make_optimizer
from kbert.training.progress import Progress
from kbert.training.tasks import Task

SEQ_LENGTH = 12


class SentenceOrderObjective(Objective):
    """Are the two segments in their order (0) or swapped (1)? Cross-entropy of a head on the pooled output."""

    RATIOS = {"sop_loss": ("sop_loss", "examples"), "sop_accuracy": ("sop_correct", "examples")}
    LOSSES = ("sop_loss",)
    SHOWN = (("loss", "loss"), ("sop_accuracy", "sop acc"))

    def heads(self, config):
        head = ClassifierHead(2, initializer_range=config.initializer_range, name="sentence_order_head")
        head.build((None, config.hidden_size))
        return {"sentence_order_head": head}

    def outputs(self, backbone, heads, inputs, training=None):
        pooled = backbone.forward(inputs, training=training)["pooled_output"]
        return {"sop_logits": heads["sentence_order_head"](pooled, training=training)}

    def counts(self, features, labels=None):
        return {"examples": tf.cast(tf.shape(features["order_labels"])[0], tf.float32)}

    def sums(self, features, labels, outputs):
        labels, logits = features["order_labels"], outputs["sop_logits"]
        loss = ops.sparse_categorical_crossentropy(labels, logits, from_logits=True)
        correct = tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), labels), tf.float32)
        return {"sop_loss": tf.reduce_sum(loss), "sop_correct": tf.reduce_sum(correct),
                "examples": tf.cast(tf.shape(labels)[0], tf.float32)}


def order_examples(count: int, seed: int) -> dict[str, np.ndarray]:
    """[CLS] A [SEP] B [SEP] [PAD]: A of low token ids and B of high ones, swapped in the examples labelled 1."""
    rng = np.random.default_rng(seed)
    low, high = rng.integers(5, 30, (count, 4)), rng.integers(30, 60, (count, 4))
    swapped = rng.integers(0, 2, count)
    first, second = np.where(swapped[:, None], high, low), np.where(swapped[:, None], low, high)
    column = np.ones((count, 1), int)
    token_ids = np.concatenate([2 * column, first, 3 * column, second, 3 * column, 0 * column], axis=1)
    segment_ids = np.tile((np.arange(SEQ_LENGTH) > 5) & (np.arange(SEQ_LENGTH) < 11), (count, 1))
    return {"token_ids": token_ids.astype("int32"), "segment_ids": segment_ids.astype("int32"),
            "padding_mask": (token_ids > 0).astype("int32"), "order_labels": swapped.astype("int32")}


def sop_model() -> BertWithHeads:
    keras.utils.set_random_seed(0)
    config = BertConfig.from_preset("tiny", vocab_size=60, max_position_embeddings=SEQ_LENGTH)
    objective = SentenceOrderObjective()
    model = BertWithHeads(BertBackbone(config), objective)
    model(objective.example_inputs(SEQ_LENGTH))
    return model


def test_a_sentence_order_objective_trains_in_the_loop_checkpoints_its_head_and_shows_its_metric(tmp_path,
                                                                                                 monkeypatch):
    model = sop_model()
    assert [weight.path for weight in model.weights[-2:]] == ["sentence_order_head/dense/kernel",
                                                              "sentence_order_head/dense/bias"]
    optimizer = make_optimizer("adamw", WarmupLinearDecay(3e-3, 5, 60), model.trainable_variables)
    shown = io.StringIO()
    monkeypatch.setattr(Progress, "__init__", _into(shown, Progress.__init__))
    task = Task(model, model.objective)
    result = train(task, optimizer, tf.distribute.get_strategy(), dataset_fn(order_examples(512, 0)),
                   LoopOptions(total_steps=60, global_batch_size=32, checkpoint_every=60, log_every=20),
                   str(tmp_path), {"model": model, "optimizer": optimizer})
    assert result.metrics["sop_accuracy"] > 0.9  # learnt, from chance
    assert "sop acc" in shown.getvalue()
    restored = sop_model()
    tf.train.Checkpoint(model=restored).read(str(tmp_path / "ckpt-60")).expect_partial()
    np.testing.assert_array_equal(restored.sentence_order_head.weights[0].numpy(),
                                  model.sentence_order_head.weights[0].numpy())


def test_fit_trains_the_same_objective(tmp_path):
    model = sop_model()
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    data = tf.data.Dataset.from_tensor_slices(order_examples(512, 0)).batch(32)
    history = model.fit(data, epochs=8, verbose=0)
    assert set(history.history) == {"loss", "sop_loss", "sop_accuracy"}
    accuracy = history.history["sop_accuracy"]
    assert accuracy[0] < 0.75 and accuracy[-1] > 0.85  # learnt, from near chance


def _into(stream, init):
    def patched(self, *args, **kwargs):
        init(self, *args, **{**kwargs, "stream": stream})
    return patched

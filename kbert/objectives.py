"""The training objectives: each owns its heads, runs them on the backbone's outputs, and says what is computed
from a batch and those outputs, as sums over the batch. A model is a backbone plus one objective's heads
(`kbert.models.BertWithHeads`), so a new objective is one class here (or in a file of its own).

An objective works in sums (of losses, of correct predictions, of counts) so that a loss can be divided by the
GLOBAL batch's counts under distribution and gradient accumulation, and so that metrics add up exactly across
replicas, steps and evaluation batches. The training loop (kbert.training.loop) and Keras `fit()` (the models'
`compute_loss`) both use these, so each loss is written once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from kbert.config import BertConfig
from kbert.layers.heads import ClassifierHead, MaskedLMHead
from kbert.layers.kernels import sparse_softmax_cross_entropy

Sums = dict[str, tf.Tensor]


def masked_lm_loss_sum(mask_ids, mlm_logits, mask_weights):
    """Weighted cross-entropy summed over the prediction slots, and the sum of the weights.

    `mask_ids` `[batch_size, num_predictions]`, `mlm_logits` `[batch_size, num_predictions, vocab_size]` (any float
    dtype; the softmax runs in float32),
    `mask_weights` `[batch_size, num_predictions]` (0 on padded slots, which therefore add nothing). Returns two
    scalars; the mean loss is `loss_sum / weight_sum`, taken over the global batch under distribution.
    """
    per_slot = sparse_softmax_cross_entropy(mlm_logits, mask_ids)
    weights = ops.cast(mask_weights, "float32")
    return ops.sum(per_slot * weights), ops.sum(weights)


def next_sentence_loss(next_sentence_labels, nsp_logits):
    """Per-example cross-entropy of the next-sentence head, `[batch_size]` (label 0 = B follows A, 1 = random B)."""
    return ops.sparse_categorical_crossentropy(next_sentence_labels, nsp_logits, from_logits=True)


def classification_loss(labels, logits):
    """Per-example cross-entropy of a classifier, `[batch_size]`."""
    return ops.sparse_categorical_crossentropy(labels, logits, from_logits=True)


class Objective:
    """What an objective says: its `heads` and their `outputs` on the backbone, `counts` (the loss denominators of
    a batch), `sums` (of a batch and the model's outputs), `loss` (the sums over the global batch's counts) and
    `metrics`, each a ratio of two sums (`RATIOS`: name -> (numerator, denominator)) and the loss, the sum of the
    `LOSSES` ratios, each times its `loss_weights` entry (1 where it has none). `SHOWN` are the metrics on the
    progress line, with their short labels."""

    RATIOS: dict[str, tuple[str, str]] = {}
    LOSSES: tuple[str, ...] = ()
    SHOWN: tuple[tuple[str, str], ...] = (("loss", "loss"),)
    loss_weights: Mapping[str, float] = {}  # never mutated: an objective with weights sets its own mapping

    def heads(self, config: BertConfig) -> dict[str, keras.layers.Layer]:
        """The head layers, built, by the attribute name the model keeps each under (checkpoints and the
        importers' weight names follow it)."""
        return {}

    def outputs(self, backbone: keras.Model, heads: Mapping[str, keras.layers.Layer], inputs: Mapping[str, Any],
                training: bool | None = None) -> dict[str, Any]:
        """The model's outputs on `inputs`: the backbone's forward pass (`backbone.forward`) and the heads."""
        raise NotImplementedError

    def example_inputs(self, seq_length: int) -> dict[str, np.ndarray]:
        """A batch of one example of the model's inputs, `seq_length` tokens, to build its weights with."""
        zeros = np.zeros([1, seq_length], np.int32)
        return {"token_ids": zeros, "segment_ids": zeros, "padding_mask": zeros + 1}

    def fit_metrics(self) -> tuple[str, ...]:
        """The ratios that Keras' fit() and evaluate() report besides the loss."""
        return tuple(name for name in self.RATIOS if name != "loss")

    def counts(self, features: Mapping[str, Any], labels: Any = None) -> Sums:
        raise NotImplementedError

    def sums(self, features: Mapping[str, Any], labels: Any, outputs: Mapping[str, Any]) -> Sums:
        raise NotImplementedError

    def loss(self, sums: Mapping[str, tf.Tensor], totals: Mapping[str, tf.Tensor]) -> tf.Tensor:
        """The weighted sum of the mean losses, each over the global batch's count (`totals`, summed over
        replicas)."""
        return tf.add_n([self.loss_weights.get(name, 1.0) * sums[self.RATIOS[name][0]]
                         / tf.maximum(totals[self.RATIOS[name][1]], 1.0) for name in self.LOSSES])

    def metrics(self, sums: Mapping[str, Any]) -> dict[str, float]:
        """The loss and every ratio, from sums accumulated over any number of batches."""
        ratios = {name: float(sums[top]) / max(float(sums[bottom]), 1.0)
                  for name, (top, bottom) in self.RATIOS.items() if top in sums}
        return {"loss": sum(self.loss_weights.get(name, 1.0) * ratios[name] for name in self.LOSSES), **ratios}


class PretrainingObjective(Objective):
    """Masked-LM plus next-sentence prediction on batches of the pretraining features (see kbert.text). Given the
    `mask_id`, it also scores the targets whose input shows [MASK] on their own (`mlm_mask_accuracy`): the others,
    one in five, show a random token or themselves, and a model right on those may only be copying its input.
    `nsp_weight` scales the next-sentence loss beside the masked-LM loss (BERT: 1)."""

    RATIOS = {"mlm_loss": ("mlm_loss", "mlm_weight"), "nsp_loss": ("nsp_loss", "examples"),
              "mlm_accuracy": ("mlm_correct", "mlm_weight"), "nsp_accuracy": ("nsp_correct", "examples"),
              "mlm_mask_accuracy": ("mask_correct", "mask_weight")}
    LOSSES = ("mlm_loss", "nsp_loss")
    SHOWN = (("loss", "loss"), ("mlm_accuracy", "mlm acc"), ("nsp_accuracy", "nsp acc"))

    def __init__(self, mask_id: int | None = None, nsp_weight: float = 1.0):
        self.mask_id = mask_id
        self.loss_weights = {"nsp_loss": nsp_weight}

    def heads(self, config: BertConfig) -> dict[str, keras.layers.Layer]:
        """The masked-LM head (its output tied to the token table) and the next-sentence head."""
        masked_lm = MaskedLMHead(config.vocab_size, config.hidden_size, config.hidden_act, config.layer_norm_eps,
                                 config.initializer_range, name="masked_lm_head")
        masked_lm.build()
        next_sentence = ClassifierHead(2, initializer_range=config.initializer_range, name="next_sentence_head")
        next_sentence.build((None, config.hidden_size))
        return {"masked_lm_head": masked_lm, "next_sentence_head": next_sentence}

    def outputs(self, backbone, heads, inputs, training=None):
        """`mlm_logits` `[batch_size, num_predictions, vocab_size]` (float32) at `mask_positions`, and
        `nsp_logits` `[batch_size, 2]` (float32). The last layer computes only the rows the heads read ([CLS] and
        the masked positions): the same numbers as running it everywhere, without the work thrown away."""
        mask_positions = ops.cast(inputs["mask_positions"], "int32")
        rows = ops.concatenate([ops.zeros_like(mask_positions[:, :1]), mask_positions], axis=1)
        encoded = backbone.forward(inputs, training=training, rows=rows)
        predictions = ops.arange(1, ops.shape(rows)[1])[None, :] * ops.ones_like(mask_positions)
        return {"mlm_logits": heads["masked_lm_head"](encoded["sequence_output"], predictions,
                                                      backbone.embeddings.token_embeddings),
                "nsp_logits": heads["next_sentence_head"](encoded["pooled_output"], training=training)}

    def example_inputs(self, seq_length: int) -> dict[str, np.ndarray]:
        return {**super().example_inputs(seq_length), "mask_positions": np.zeros([1, 1], np.int32)}

    def fit_metrics(self) -> tuple[str, ...]:
        return ("mlm_loss", "nsp_loss", "mlm_accuracy", "nsp_accuracy") + (
            ("mlm_mask_accuracy",) if self.mask_id is not None else ())

    def counts(self, features: Mapping[str, Any], labels: Any = None) -> Sums:
        """The MLM weight sum and example count of a batch (loss denominators, summed over replicas)."""
        return {"mlm_weight": tf.reduce_sum(tf.cast(features["mask_weights"], tf.float32)),
                "examples": tf.cast(tf.shape(features["next_sentence_labels"])[0], tf.float32)}

    def sums(self, features: Mapping[str, Any], labels: Any, outputs: Mapping[str, Any]) -> Sums:
        """Float32 scalar sums of losses, correct predictions and counts (`labels` is unused: the features hold
        them)."""
        mlm_logits, nsp_logits = outputs["mlm_logits"], outputs["nsp_logits"]  # [B, P, V], [B, 2]
        weights = tf.cast(features["mask_weights"], tf.float32)
        mlm_loss, mlm_weight = masked_lm_loss_sum(features["mask_ids"], mlm_logits, weights)
        next_labels = features["next_sentence_labels"]
        correct = _correct(features["mask_ids"], mlm_logits) * weights
        sums = {
            "mlm_loss": mlm_loss,
            "mlm_weight": mlm_weight,
            "mlm_correct": tf.reduce_sum(correct),
            "nsp_loss": tf.reduce_sum(next_sentence_loss(next_labels, nsp_logits)),
            "nsp_correct": tf.reduce_sum(_correct(next_labels, nsp_logits)),
            "examples": tf.cast(tf.shape(next_labels)[0], tf.float32),
        }
        if self.mask_id is not None:
            shown = tf.gather(features["token_ids"], features["mask_positions"], batch_dims=1)
            at_mask = tf.cast(tf.equal(shown, self.mask_id), tf.float32)
            sums.update(mask_weight=tf.reduce_sum(weights * at_mask), mask_correct=tf.reduce_sum(correct * at_mask))
        return sums


class ClassificationObjective(Objective):
    """Sequence classification into `num_labels` classes: dropout + dense on the pooled output (`dropout` None:
    the config's hidden_dropout_prob), cross-entropy of its `logits` against integer labels."""

    RATIOS = {"loss": ("loss", "examples"), "accuracy": ("correct", "examples")}
    LOSSES = ("loss",)
    SHOWN = (("loss", "loss"), ("accuracy", "acc"))

    def __init__(self, num_labels: int = 2, dropout: float | None = None):
        self.num_labels = num_labels
        self.dropout = dropout

    def heads(self, config: BertConfig) -> dict[str, keras.layers.Layer]:
        dropout = config.hidden_dropout_prob if self.dropout is None else self.dropout
        head = ClassifierHead(self.num_labels, dropout=dropout, initializer_range=config.initializer_range,
                              name="classifier_head")
        head.build((None, config.hidden_size))
        return {"classifier_head": head}

    def outputs(self, backbone, heads, inputs, training=None):
        """`logits` `[batch_size, num_labels]` float32."""
        pooled = backbone.forward(inputs, training=training)["pooled_output"]
        return {"logits": heads["classifier_head"](pooled, training=training)}

    def counts(self, features: Mapping[str, Any], labels: Any = None) -> Sums:
        return {"examples": tf.cast(tf.shape(labels)[0], tf.float32)}

    def sums(self, features: Mapping[str, Any], labels: Any, outputs: Mapping[str, Any]) -> Sums:
        logits = outputs["logits"]  # [B, num_labels]
        return {"loss": tf.reduce_sum(classification_loss(labels, logits)),
                "correct": tf.reduce_sum(_correct(labels, logits)),
                "examples": tf.cast(tf.shape(labels)[0], tf.float32)}


def _correct(labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    """1.0 where the arg-max of `logits` (last axis) equals `labels`, else 0.0; shape of `labels`."""
    return tf.cast(tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), tf.cast(labels, tf.int32)), tf.float32)

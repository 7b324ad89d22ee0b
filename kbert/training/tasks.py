"""What the training loop computes for each objective: sums over a batch, from which losses and metrics follow.

A task works in sums (of losses, of correct predictions, of counts) so that a loss can be divided by the GLOBAL
batch's counts under distribution and gradient accumulation, and so that metrics add up exactly across replicas,
steps and evaluation batches.
"""

from __future__ import annotations

from collections.abc import Mapping

import keras
import tensorflow as tf

from kbert import objectives

Sums = dict[str, tf.Tensor]


class PretrainingTask:
    """Masked-LM plus next-sentence prediction on batches of the pretraining features (see kbert.text). Given the
    `mask_id`, it also scores the targets whose input shows [MASK] on their own (`mlm_mask_accuracy`): the others,
    one in five, show a random token or themselves, and a model right on those may only be copying its input."""

    def __init__(self, model: keras.Model, mask_id: int | None = None):
        self.model = model
        self.mask_id = mask_id

    def counts(self, batch: Mapping[str, tf.Tensor]) -> Sums:
        """The MLM weight sum and example count of `batch` (loss denominators, summed over replicas)."""
        return {"mlm_weight": tf.reduce_sum(tf.cast(batch["mask_weights"], tf.float32)),
                "examples": tf.cast(tf.shape(batch["next_sentence_labels"])[0], tf.float32)}

    def sums(self, batch: Mapping[str, tf.Tensor], training: bool) -> Sums:
        """Runs the model on `batch`; returns float32 scalar sums of losses, correct predictions and counts."""
        outputs = self.model(batch, training=training)
        mlm_logits, nsp_logits = outputs["mlm_logits"], outputs["nsp_logits"]  # [B, P, V], [B, 2]
        weights = tf.cast(batch["mask_weights"], tf.float32)
        mlm_loss, mlm_weight = objectives.masked_lm_loss_sum(batch["mask_ids"], mlm_logits, weights)
        labels = batch["next_sentence_labels"]
        correct = _correct(batch["mask_ids"], mlm_logits) * weights
        sums = {
            "mlm_loss": mlm_loss,
            "mlm_weight": mlm_weight,
            "mlm_correct": tf.reduce_sum(correct),
            "nsp_loss": tf.reduce_sum(objectives.next_sentence_loss(labels, nsp_logits)),
            "nsp_correct": tf.reduce_sum(_correct(labels, nsp_logits)),
            "examples": tf.cast(tf.shape(labels)[0], tf.float32),
        }
        if self.mask_id is not None:
            shown = tf.gather(batch["token_ids"], batch["mask_positions"], batch_dims=1)
            at_mask = tf.cast(tf.equal(shown, self.mask_id), tf.float32)
            sums.update(mask_weight=tf.reduce_sum(weights * at_mask), mask_correct=tf.reduce_sum(correct * at_mask))
        return sums

    @staticmethod
    def loss(sums: Mapping[str, tf.Tensor], totals: Mapping[str, tf.Tensor]) -> tf.Tensor:
        """Mean MLM loss over the global batch's predictions plus mean NSP loss over its examples."""
        return (sums["mlm_loss"] / tf.maximum(totals["mlm_weight"], 1.0)
                + sums["nsp_loss"] / tf.maximum(totals["examples"], 1.0))

    @staticmethod
    def metrics(sums: Mapping[str, float]) -> dict[str, float]:
        """Loss and accuracies from sums accumulated over any number of batches."""
        weight, examples = max(float(sums["mlm_weight"]), 1.0), max(float(sums["examples"]), 1.0)
        mlm_loss, nsp_loss = float(sums["mlm_loss"]) / weight, float(sums["nsp_loss"]) / examples
        metrics = {"loss": mlm_loss + nsp_loss, "mlm_loss": mlm_loss, "nsp_loss": nsp_loss,
                   "mlm_accuracy": float(sums["mlm_correct"]) / weight,
                   "nsp_accuracy": float(sums["nsp_correct"]) / examples}
        if "mask_weight" in sums:
            metrics["mlm_mask_accuracy"] = float(sums["mask_correct"]) / max(float(sums["mask_weight"]), 1.0)
        return metrics


class ClassificationTask:
    """Sequence classification on `(features, labels)` batches."""

    def __init__(self, model: keras.Model):
        self.model = model

    def counts(self, batch: tuple[Mapping[str, tf.Tensor], tf.Tensor]) -> Sums:
        return {"examples": tf.cast(tf.shape(batch[1])[0], tf.float32)}

    def sums(self, batch: tuple[Mapping[str, tf.Tensor], tf.Tensor], training: bool) -> Sums:
        features, labels = batch
        logits = self.model(features, training=training)["logits"]  # [B, num_labels]
        return {"loss": tf.reduce_sum(objectives.classification_loss(labels, logits)),
                "correct": tf.reduce_sum(_correct(labels, logits)),
                "examples": tf.cast(tf.shape(labels)[0], tf.float32)}

    @staticmethod
    def loss(sums: Mapping[str, tf.Tensor], totals: Mapping[str, tf.Tensor]) -> tf.Tensor:
        return sums["loss"] / tf.maximum(totals["examples"], 1.0)

    @staticmethod
    def metrics(sums: Mapping[str, float]) -> dict[str, float]:
        examples = max(float(sums["examples"]), 1.0)
        return {"loss": float(sums["loss"]) / examples, "accuracy": float(sums["correct"]) / examples}


Task = PretrainingTask | ClassificationTask


def _correct(labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    """1.0 where the arg-max of `logits` (last axis) equals `labels`, else 0.0; shape of `labels`."""
    return tf.cast(tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), tf.cast(labels, tf.int32)), tf.float32)

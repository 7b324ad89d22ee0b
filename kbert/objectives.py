"""Pretraining and fine-tuning losses, written so a training loop can average them over a global batch."""

from __future__ import annotations

from keras import ops

from kbert.layers.kernels import sparse_softmax_cross_entropy


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


def pretraining_loss(features, outputs):
    """The mean MLM loss plus the mean NSP loss over one (unsplit) batch; returns `(total, mlm, nsp)` scalars."""
    loss_sum, weight_sum = masked_lm_loss_sum(features["mask_ids"], outputs["mlm_logits"], features["mask_weights"])
    mlm = loss_sum / ops.maximum(weight_sum, 1e-5)
    nsp = ops.mean(next_sentence_loss(features["next_sentence_labels"], outputs["nsp_logits"]))
    return mlm + nsp, mlm, nsp

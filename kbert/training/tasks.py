"""What the training loop runs on each batch: a model and the objective it is trained on (kbert.objectives)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
import tensorflow as tf

from kbert.objectives import Objective, PretrainingObjective, Sums


class Task:
    """`model` trained on `objective`. A batch is the features (the pretraining format, labels inside) or a
    `(features, labels)` pair (the classification format)."""

    def __init__(self, model: keras.Model, objective: Objective):
        self.model = model
        self.objective = objective

    def counts(self, batch: Any) -> Sums:
        """The batch's loss denominators (summed over replicas before the loss is taken)."""
        return self.objective.counts(*_features_and_labels(batch))

    def sums(self, batch: Any, training: bool) -> Sums:
        """Runs the model on `batch`; returns float32 scalar sums of losses, correct predictions and counts."""
        features, labels = _features_and_labels(batch)
        return self.objective.sums(features, labels, self.model(features, training=training))

    def loss(self, sums: Mapping[str, tf.Tensor], totals: Mapping[str, tf.Tensor]) -> tf.Tensor:
        return self.objective.loss(sums, totals)

    def metrics(self, sums: Mapping[str, Any]) -> dict[str, float]:
        return self.objective.metrics(sums)


def PretrainingTask(  # noqa: N802 (reads as a class)
    model: keras.Model, mask_id: int | None = None, nsp_weight: float = 1.0
) -> Task:
    """A pretrainer on masked LM + `nsp_weight` x next sentence; with `mask_id`, also accuracy at [MASK] targets
    alone."""
    return Task(model, PretrainingObjective(mask_id, nsp_weight))


def ClassificationTask(model: keras.Model) -> Task:  # noqa: N802
    """A classifier on `(features, labels)` batches."""
    return Task(model, model.objective)


def _features_and_labels(batch: Any) -> tuple[Mapping[str, Any], Any]:
    return tuple(batch) if isinstance(batch, tuple | list) else (batch, None)

"""Assigning named weight arrays to a kbert model, with errors that say which tensor and which file is wrong."""

from __future__ import annotations

import keras
import numpy as np


def weight_name(model: keras.Model, variable) -> str:
    """A variable's path without the owning model's own name, e.g. `masked_lm_head/output_bias`."""
    prefix = f"{model.name}/"
    return variable.path[len(prefix):] if variable.path.startswith(prefix) else variable.path


def assign_weights(model: keras.Model, arrays: dict[str, np.ndarray], source: str) -> None:
    """Sets every weight of `model` from `arrays` (keyed by `weight_name`); all must be present with the right shape.

    Nothing is assigned unless everything matches, so a failed load leaves the model as it was.
    """
    updates = []
    for variable in model.weights:
        name = weight_name(model, variable)
        if name not in arrays:
            raise ValueError(f"{source}: no tensor for kbert weight {name!r} (expected shape {tuple(variable.shape)})")
        array = np.asarray(arrays[name])
        if tuple(array.shape) != tuple(variable.shape):
            raise ValueError(f"{source}: tensor for {name!r} has shape {tuple(array.shape)}, "
                             f"expected {tuple(variable.shape)}")
        updates.append((variable, array))
    for variable, array in updates:
        variable.assign(array.astype(variable.dtype))

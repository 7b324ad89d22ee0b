"""Copying a foreign checkpoint into kbert by a table: which tensors make each kbert weight, and their layout."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import keras
import numpy as np

from kbert.config import BertConfig
from kbert.convert.weights import assign_weights, weight_name

# kbert's architecture options that Google's and Hugging Face's BERT checkpoints cannot hold, with BERT's value.
_BERT_ONLY = {"layer_norm_position": "post", "position_embedding_type": "learned"}


class Rule(NamedTuple):
    """The checkpoint tensors that make one kbert weight. Several are concatenated on the last axis (query, key and
    value into the fused `qkv_dense` kernel); `transpose` marks tensors stored `[out, in]` (torch `Linear` weights,
    Google's next-sentence `output_weights`)."""

    names: tuple[str, ...]
    transpose: bool = False


def check_bert_architecture(config: BertConfig, source: str) -> None:
    """Refuses a config whose kbert-only options differ from BERT's: no BERT checkpoint holds such a model."""
    for field, bert in _BERT_ONLY.items():
        if getattr(config, field) != bert:
            raise ValueError(f"{source}: field {field!r} is {getattr(config, field)!r}, but BERT checkpoints only hold "
                             f"{field} {bert!r} models; remove the field (or set it to {bert!r}) to import one.")


def load_by_table(model: keras.Model, table: dict[str, Rule], read: Callable[[str], np.ndarray | None],
                  source: str) -> None:
    """Sets every weight of `model` from the tensors `table` names; `read(name)` gives a tensor or None if absent.

    Each tensor's shape is checked before it is used, so an error names the checkpoint tensor, both shapes and
    `source` (the checkpoint file). Nothing is assigned unless every weight is found.
    """
    shapes = {weight_name(model, variable): tuple(variable.shape) for variable in model.weights}
    arrays = {}
    for name, rule in table.items():
        shape = shapes[name]
        expected = (*shape[:-1], shape[-1] // len(rule.names))
        expected = expected[::-1] if rule.transpose else expected
        pieces = []
        for tensor_name in rule.names:
            array = read(tensor_name)
            if array is None:
                raise ValueError(f"{source}: no tensor {tensor_name!r} (needed for kbert weight {name!r}, shape "
                               f"{expected}); is this a BERT checkpoint of the kind the loader expects?")
            if tuple(array.shape) != expected:
                raise ValueError(f"{source}: tensor {tensor_name!r} has shape {tuple(array.shape)}, expected "
                                 f"{expected} for kbert weight {name!r}; does the config file match the weights?")
            pieces.append(array.T if rule.transpose else array)
        arrays[name] = np.concatenate(pieces, axis=-1) if len(pieces) > 1 else pieces[0]
    assign_weights(model, arrays, source)


def check_vocabulary(vocab: list[str], vocab_size: int, path: str) -> None:
    """Refuses a vocabulary with more tokens than the model's token table has rows (`vocab_size`)."""
    if len(vocab) > vocab_size:
        raise ValueError(f"{path}: {len(vocab)} tokens, but the model's vocab_size is {vocab_size}; "
                         "this vocabulary belongs to another model.")

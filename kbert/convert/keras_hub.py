"""keras-hub's `BertBackbone` (and `BertMaskedLM` head) weights into kbert by layer name, presets on disk too."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from kbert.config import BertConfig
from kbert.convert.mapping import check_vocabulary
from kbert.convert.weights import assign_weights
from kbert.models import BertBackbone
from kbert.text.vocab import load_vocabulary


def config_from_keras_hub(hub_backbone) -> BertConfig:
    """keras-hub's BERT uses the tanh GELU in its encoder layers and a learned position table."""
    return BertConfig(
        vocab_size=hub_backbone.vocabulary_size, hidden_size=hub_backbone.hidden_dim,
        num_hidden_layers=hub_backbone.num_layers, num_attention_heads=hub_backbone.num_heads,
        intermediate_size=hub_backbone.intermediate_dim, hidden_act="gelu_approximate",
        hidden_dropout_prob=hub_backbone.dropout, attention_probs_dropout_prob=hub_backbone.dropout,
        max_position_embeddings=hub_backbone.max_sequence_length, type_vocab_size=hub_backbone.num_segments)


def backbone_arrays_from_keras_hub(hub_backbone) -> dict[str, np.ndarray]:
    """keras-hub's backbone weights renamed and reshaped to kbert's (query/key/value fused into one kernel)."""
    def get(layer_name: str, index: int = 0) -> np.ndarray:
        return np.asarray(hub_backbone.get_layer(layer_name).weights[index])

    hidden = hub_backbone.hidden_dim
    arrays = {
        "embeddings/token_embeddings": get("token_embedding"),
        "embeddings/segment_embeddings": get("segment_embedding"),
        "embeddings/position_embeddings": get("position_embedding"),
        "embeddings/layer_norm/gamma": get("embeddings_layer_norm", 0),
        "embeddings/layer_norm/beta": get("embeddings_layer_norm", 1),
        "pooler/dense/kernel": get("pooled_dense", 0),
        "pooler/dense/bias": get("pooled_dense", 1),
    }
    for i in range(hub_backbone.num_layers):
        layer = hub_backbone.get_layer(f"transformer_layer_{i}")
        attention = layer._self_attention_layer
        projections = (attention._query_dense, attention._key_dense, attention._value_dense)
        ours = f"transformer_layer_{i}"
        arrays[f"{ours}/attention/qkv_dense/kernel"] = np.concatenate(
            [np.asarray(p.kernel).reshape(hidden, hidden) for p in projections], axis=1)
        arrays[f"{ours}/attention/qkv_dense/bias"] = np.concatenate(
            [np.asarray(p.bias).reshape(hidden) for p in projections])
        arrays[f"{ours}/attention/output_dense/kernel"] = np.asarray(attention._output_dense.kernel).reshape(
            hidden, hidden)
        arrays[f"{ours}/attention/output_dense/bias"] = np.asarray(attention._output_dense.bias)
        for theirs, mine in ((layer._self_attention_layer_norm, "attention_layer_norm"),
                             (layer._feedforward_layer_norm, "output_layer_norm")):
            arrays[f"{ours}/{mine}/gamma"] = np.asarray(theirs.gamma)
            arrays[f"{ours}/{mine}/beta"] = np.asarray(theirs.beta)
        for theirs, mine in ((layer._feedforward_intermediate_dense, "intermediate_dense"),
                             (layer._feedforward_output_dense, "output_dense")):
            arrays[f"{ours}/{mine}/kernel"] = np.asarray(theirs.kernel)
            arrays[f"{ours}/{mine}/bias"] = np.asarray(theirs.bias)
    return arrays


def masked_lm_head_arrays_from_keras_hub(hub_masked_lm) -> dict[str, np.ndarray]:
    """keras-hub's `MaskedLMHead` weights under kbert's `masked_lm_head/...` names (its output is tied, too)."""
    head = hub_masked_lm.masked_lm_head
    return {
        "masked_lm_head/transform_dense/kernel": np.asarray(head._intermediate_dense.kernel),
        "masked_lm_head/transform_dense/bias": np.asarray(head._intermediate_dense.bias),
        "masked_lm_head/layer_norm/gamma": np.asarray(head._intermediate_layer_norm.gamma),
        "masked_lm_head/layer_norm/beta": np.asarray(head._intermediate_layer_norm.beta),
        "masked_lm_head/output_bias": np.asarray(head._bias),
    }


def backbone_from_keras_hub(hub_backbone) -> BertBackbone:
    """A kbert backbone with the same config and weights as a keras-hub `BertBackbone`."""
    backbone = BertBackbone(config_from_keras_hub(hub_backbone))
    assign_weights(backbone, backbone_arrays_from_keras_hub(hub_backbone), source=f"keras-hub {hub_backbone.name}")
    return backbone


def load_keras_hub_preset(directory: str | os.PathLike) -> tuple[BertBackbone, list[str]]:
    """Loads a keras-hub BERT preset directory (written by `save_to_preset`) as a kbert backbone; returns it and the
    vocabulary (`assets/tokenizer/vocabulary.txt`).

    Only the backbone is carried over: keras-hub's masked-LM head uses the exact GELU and LayerNorm epsilon 1e-5,
    which kbert's head (tied to the encoder's activation and epsilon) cannot reproduce.
    """
    import keras_hub  # kbert needs keras-hub only here, to build the preset's own model and read its weights.

    directory = Path(directory)
    config_path = directory / "config.json"
    try:
        class_name = json.loads(config_path.read_text(encoding="utf-8")).get("class_name")
    except FileNotFoundError:
        raise FileNotFoundError(f"{directory}: no config.json; pass a directory written by keras-hub's "
                                "save_to_preset.") from None
    if class_name != "BertBackbone":
        raise ValueError(f"{config_path}: class_name is {class_name!r}; only keras-hub BertBackbone presets load "
                         "into kbert.")
    hub_backbone = keras_hub.models.BertBackbone.from_preset(str(directory))
    vocab_path = directory / "assets" / "tokenizer" / "vocabulary.txt"
    vocab = load_vocabulary(vocab_path)
    check_vocabulary(vocab, hub_backbone.vocabulary_size, str(vocab_path))
    return backbone_from_keras_hub(hub_backbone), vocab

"""Google's original BERT checkpoints (`bert_model.ckpt.*`, `bert_config.json`, `vocab.txt`) into kbert."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import tensorflow as tf

from kbert.config import BertConfig
from kbert.convert.mapping import Rule, check_bert_architecture, check_vocabulary, load_by_table
from kbert.models import BertBackbone, BertPretrainer
from kbert.text.vocab import load_vocabulary

# Present in pretraining checkpoints; fine-tuned ones lack them and load as a backbone.
_HEAD_TENSORS = ("cls/predictions/output_bias", "cls/seq_relationship/output_weights")


def _dense(ours: str, theirs: str) -> dict[str, Rule]:
    return {f"{ours}/kernel": Rule((f"{theirs}/kernel",)), f"{ours}/bias": Rule((f"{theirs}/bias",))}


def _layer_norm(ours: str, theirs: str) -> dict[str, Rule]:
    return {f"{ours}/gamma": Rule((f"{theirs}/gamma",)), f"{ours}/beta": Rule((f"{theirs}/beta",))}


def backbone_table(num_layers: int) -> dict[str, Rule]:
    """kbert backbone weight -> Google's variables (`bert/...`)."""
    table = {
        "embeddings/token_embeddings": Rule(("bert/embeddings/word_embeddings",)),
        "embeddings/segment_embeddings": Rule(("bert/embeddings/token_type_embeddings",)),
        "embeddings/position_embeddings": Rule(("bert/embeddings/position_embeddings",)),
        **_layer_norm("embeddings/layer_norm", "bert/embeddings/LayerNorm"),
        **_dense("pooler/dense", "bert/pooler/dense"),
    }
    for i in range(num_layers):
        ours, theirs = f"transformer_layer_{i}", f"bert/encoder/layer_{i}"
        qkv = [f"{theirs}/attention/self/{part}" for part in ("query", "key", "value")]
        table[f"{ours}/attention/qkv_dense/kernel"] = Rule(tuple(f"{name}/kernel" for name in qkv))
        table[f"{ours}/attention/qkv_dense/bias"] = Rule(tuple(f"{name}/bias" for name in qkv))
        table.update(_dense(f"{ours}/attention/output_dense", f"{theirs}/attention/output/dense"))
        table.update(_layer_norm(f"{ours}/attention_layer_norm", f"{theirs}/attention/output/LayerNorm"))
        table.update(_dense(f"{ours}/intermediate_dense", f"{theirs}/intermediate/dense"))
        table.update(_dense(f"{ours}/output_dense", f"{theirs}/output/dense"))
        table.update(_layer_norm(f"{ours}/output_layer_norm", f"{theirs}/output/LayerNorm"))
    return table


def heads_table() -> dict[str, Rule]:
    """kbert pretraining-head weight -> Google's `cls/...` variables (the MLM output matrix is the token table)."""
    return {
        **_dense("masked_lm_head/transform_dense", "cls/predictions/transform/dense"),
        **_layer_norm("masked_lm_head/layer_norm", "cls/predictions/transform/LayerNorm"),
        "masked_lm_head/output_bias": Rule(("cls/predictions/output_bias",)),
        "next_sentence_head/dense/kernel": Rule(("cls/seq_relationship/output_weights",), transpose=True),
        "next_sentence_head/dense/bias": Rule(("cls/seq_relationship/output_bias",)),
    }


def checkpoint_prefix(path: str | os.PathLike) -> Path:
    """The checkpoint prefix for a directory (its `bert_model.ckpt`, else its latest checkpoint) or a prefix."""
    path = Path(path)
    if path.is_dir():
        if (path / "bert_model.ckpt.index").is_file():
            return path / "bert_model.ckpt"
        latest = tf.train.latest_checkpoint(str(path))
        if latest:
            return Path(latest)
        raise FileNotFoundError(f"{path}: no TensorFlow checkpoint here (looked for bert_model.ckpt.index and a "
                                "'checkpoint' file); pass a Google BERT release directory or a checkpoint prefix.")
    if Path(f"{path}.index").is_file():
        return path
    raise FileNotFoundError(f"{path}: neither a directory nor a checkpoint prefix ({path}.index does not exist).")


def config_from_google(path: str | os.PathLike) -> BertConfig:
    """Reads `bert_config.json`; Google's `gelu` is the tanh approximation, so it becomes our `gelu_approximate`."""
    config = BertConfig.from_json_file(path)
    check_bert_architecture(config, str(path))
    return dataclasses.replace(config, hidden_act="gelu_approximate") if config.hidden_act == "gelu" else config


def load_google_checkpoint(path: str | os.PathLike) -> tuple[BertPretrainer | BertBackbone, list[str]]:
    """Loads a Google BERT checkpoint (a directory or a `.../bert_model.ckpt` prefix, with `bert_config.json` and
    `vocab.txt` beside it) into kbert; returns the model and the vocabulary.

    The model is a `BertPretrainer` (masked LM and next-sentence heads loaded) when the checkpoint holds the `cls/`
    heads, as Google's releases do; a `BertBackbone` otherwise (fine-tuned checkpoints). Optimizer slots are ignored.
    """
    prefix = checkpoint_prefix(path)
    directory = prefix.parent
    config = config_from_google(directory / "bert_config.json")
    vocab = load_vocabulary(directory / "vocab.txt")
    check_vocabulary(vocab, config.vocab_size, str(directory / "vocab.txt"))
    try:
        reader = tf.train.load_checkpoint(str(prefix))
    except (tf.errors.OpError, ValueError) as error:
        raise ValueError(f"{prefix}: not a readable TensorFlow checkpoint: {error}") from None
    names = reader.get_variable_to_shape_map()
    backbone = BertBackbone(config)
    table = backbone_table(config.num_hidden_layers)
    model = backbone
    if all(name in names for name in _HEAD_TENSORS):
        model = BertPretrainer(backbone)
        table.update(heads_table())
    load_by_table(model, table, lambda name: reader.get_tensor(name) if name in names else None,
                  source=f"Google checkpoint {prefix}")
    return model, vocab

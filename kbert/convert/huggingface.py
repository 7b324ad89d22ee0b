"""Hugging Face BERT checkpoints (`config.json`, `model.safetensors`, `vocab.txt`) into kbert, without torch."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import safetensors
import safetensors.numpy

from kbert.config import BertConfig
from kbert.convert.mapping import Rule, check_bert_architecture, check_vocabulary, load_by_table
from kbert.models import BertBackbone, BertPretrainer
from kbert.text.vocab import load_vocabulary

# Present in `BertForPreTraining` checkpoints; other models load as a backbone.
_HEAD_TENSORS = ("cls.predictions.transform.dense.weight", "cls.seq_relationship.weight")
# Checkpoints converted from Google's name LayerNorm weights as TensorFlow did (`bert-base-uncased` still does).
_LEGACY_LAYER_NORM = {"gamma": "weight", "beta": "bias"}


def _linear(ours: str, theirs: str) -> dict[str, Rule]:
    """A torch `Linear`: its weight is `[out, in]`, ours `[in, out]`."""
    return {f"{ours}/kernel": Rule((f"{theirs}.weight",), transpose=True), f"{ours}/bias": Rule((f"{theirs}.bias",))}


def _layer_norm(ours: str, theirs: str) -> dict[str, Rule]:
    return {f"{ours}/gamma": Rule((f"{theirs}.weight",)), f"{ours}/beta": Rule((f"{theirs}.bias",))}


def backbone_table(num_layers: int, prefix: str) -> dict[str, Rule]:
    """kbert backbone weight -> Hugging Face key; `prefix` is `bert.` in task models, empty in a bare `BertModel`."""
    table = {
        "embeddings/token_embeddings": Rule((f"{prefix}embeddings.word_embeddings.weight",)),
        "embeddings/segment_embeddings": Rule((f"{prefix}embeddings.token_type_embeddings.weight",)),
        "embeddings/position_embeddings": Rule((f"{prefix}embeddings.position_embeddings.weight",)),
        **_layer_norm("embeddings/layer_norm", f"{prefix}embeddings.LayerNorm"),
        **_linear("pooler/dense", f"{prefix}pooler.dense"),
    }
    for i in range(num_layers):
        ours, theirs = f"transformer_layer_{i}", f"{prefix}encoder.layer.{i}"
        qkv = [f"{theirs}.attention.self.{part}" for part in ("query", "key", "value")]
        table[f"{ours}/attention/qkv_dense/kernel"] = Rule(tuple(f"{name}.weight" for name in qkv), transpose=True)
        table[f"{ours}/attention/qkv_dense/bias"] = Rule(tuple(f"{name}.bias" for name in qkv))
        table.update(_linear(f"{ours}/attention/output_dense", f"{theirs}.attention.output.dense"))
        table.update(_layer_norm(f"{ours}/attention_layer_norm", f"{theirs}.attention.output.LayerNorm"))
        table.update(_linear(f"{ours}/intermediate_dense", f"{theirs}.intermediate.dense"))
        table.update(_linear(f"{ours}/output_dense", f"{theirs}.output.dense"))
        table.update(_layer_norm(f"{ours}/output_layer_norm", f"{theirs}.output.LayerNorm"))
    return table


def heads_table() -> dict[str, Rule]:
    """kbert pretraining-head weight -> `cls.*` key (the decoder weight is tied to the token table, so not read)."""
    return {
        **_linear("masked_lm_head/transform_dense", "cls.predictions.transform.dense"),
        **_layer_norm("masked_lm_head/layer_norm", "cls.predictions.transform.LayerNorm"),
        "masked_lm_head/output_bias": Rule(("cls.predictions.bias",)),
        **_linear("next_sentence_head/dense", "cls.seq_relationship"),
    }


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Every tensor of a `.safetensors` file as numpy arrays; legacy LayerNorm names (`gamma`, `beta`) are renamed
    `weight`, `bias` as transformers does, and `cls.predictions.decoder.bias` stands in for a missing
    `cls.predictions.bias`."""
    try:
        tensors = safetensors.numpy.load_file(path)
    except (safetensors.SafetensorError, TypeError, ValueError) as error:
        raise ValueError(f"{path}: not a readable safetensors file: {error}") from None
    renamed = {}
    for name, array in tensors.items():
        stem, _, leaf = name.rpartition(".")
        if stem.endswith("LayerNorm") and leaf in _LEGACY_LAYER_NORM:
            name = f"{stem}.{_LEGACY_LAYER_NORM[leaf]}"
        renamed[name] = array
    if "cls.predictions.bias" not in renamed and "cls.predictions.decoder.bias" in renamed:
        renamed["cls.predictions.bias"] = renamed["cls.predictions.decoder.bias"]
    return renamed


def read_vocabulary(directory: Path) -> tuple[list[str], Path]:
    """The vocabulary of a Hugging Face directory: `vocab.txt`, else the WordPiece vocabulary in `tokenizer.json`."""
    if (directory / "vocab.txt").is_file() or not (directory / "tokenizer.json").is_file():
        return load_vocabulary(directory / "vocab.txt"), directory / "vocab.txt"
    path = directory / "tokenizer.json"
    model = json.loads(path.read_text(encoding="utf-8")).get("model", {})
    if model.get("type") != "WordPiece":
        raise ValueError(f"{path}: tokenizer model is {model.get('type')!r}, not BERT's WordPiece.")
    ids = model["vocab"]
    vocab = sorted(ids, key=ids.get)
    if [ids[token] for token in vocab] != list(range(len(vocab))):
        raise ValueError(f"{path}: WordPiece vocabulary ids are not 0..{len(vocab) - 1} without gaps.")
    return vocab, path


def _model_file(directory: Path) -> Path:
    path = directory / "model.safetensors"
    if path.is_file():
        return path
    if (directory / "pytorch_model.bin").is_file():
        raise ValueError(
            f"{directory}: holds pytorch_model.bin, a pickle file, which kbert does not read (unpickling runs code). "
            "Convert it to safetensors first, e.g. `BertForPreTraining.from_pretrained(dir).save_pretrained(dir)` "
            "with transformers, which writes model.safetensors.")
    raise FileNotFoundError(f"{directory}: no model.safetensors; pass a directory written by save_pretrained.")


def load_huggingface(directory: str | os.PathLike) -> tuple[BertPretrainer | BertBackbone, list[str]]:
    """Loads a Hugging Face BERT directory into kbert; returns the model and the vocabulary.

    A `BertForPreTraining` checkpoint gives a `BertPretrainer` (masked LM and next-sentence heads loaded); anything
    else (`BertModel`, or a task model's `bert.*` part) gives a `BertBackbone`, which needs the pooler's weights.
    """
    directory = Path(directory)
    config_path = directory / "config.json"
    config = BertConfig.from_json_file(config_path)
    check_bert_architecture(config, str(config_path))
    model_type = json.loads(config_path.read_text(encoding="utf-8")).get("model_type", "bert")
    if model_type != "bert":
        raise ValueError(f"{config_path}: model_type is {model_type!r}; only 'bert' checkpoints load into kbert.")
    vocab, vocab_path = read_vocabulary(directory)
    check_vocabulary(vocab, config.vocab_size, str(vocab_path))
    path = _model_file(directory)
    tensors = read_safetensors(path)
    prefix = "bert." if any(name.startswith("bert.") for name in tensors) else ""
    table = backbone_table(config.num_hidden_layers, prefix)
    model = backbone = BertBackbone(config)
    if all(name in tensors for name in _HEAD_TENSORS):
        decoder = tensors.get("cls.predictions.decoder.weight")
        embeddings = tensors.get(f"{prefix}embeddings.word_embeddings.weight")
        if decoder is not None and embeddings is not None and not np.array_equal(decoder, embeddings):
            raise ValueError(f"{path}: 'cls.predictions.decoder.weight' differs from the word embeddings; kbert ties "
                             "the masked-LM output to the token table and cannot load an untied decoder.")
        model = BertPretrainer(backbone)
        table.update(heads_table())
    load_by_table(model, table, tensors.get, source=f"Hugging Face checkpoint {path}")
    return model, vocab

"""`export_model`: a trained kbert model -> `<output_dir>/<name>/<version>/`, a float32 SavedModel that takes strings,
with its config, vocabulary, labels, metadata and model card beside it. Written whole or not at all."""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from kbert import precision
from kbert.export.signatures import IG_STEPS, LENGTH_BUCKET, MAX_MASKS, ClassifierServing, PretrainerServing
from kbert.export.staging import staging_dir
from kbert.io import write_json, write_text
from kbert.model_card import (
    CARD_FILE,
    CONFIG_FILE,
    FORMAT,
    LABELS_FILE,
    METADATA_FILE,
    VOCAB_FILE,
    render_card,
    version_dirs,
)
from kbert.models import BertBackbone, BertClassifier, BertPretrainer
from kbert.text.tokenizer import BertTokenizer
from kbert.text.vocab import save_vocabulary

# The pipeline tasks each kind of model answers (kbert.pipeline reads them from kbert.json).
PIPELINE_TASKS = {"pretrainer": ["fill-mask", "next-sentence", "encode"], "classifier": ["classify", "encode"]}


def export_model(model: BertPretrainer | BertClassifier, tokenizer: BertTokenizer, output_dir: str | os.PathLike, *,
                 name: str, label_names: list[str] | None = None, seq_length: int = 128,
                 model_card: dict[str, Any] | None = None) -> Path:
    """Exports `model` as the next version under `<output_dir>/<name>/` (TF Serving's layout); returns its directory.

    `label_names` (classifiers only) names each output; `model_card` (free-form, JSON values; keys `data`, `steps`,
    `metrics`, `command` get their own README sections) describes how the model was made. The SavedModel is float32
    whatever policy `model` was built under. A failure leaves earlier versions untouched and no partial directory.

    >>> export_model(classifier, tokenizer, "saved_models", name="sentiment", label_names=["neg", "pos"])
    PosixPath('saved_models/sentiment/1')
    """
    model_type = _model_type(model)
    config = model.backbone.config
    card = dict(model_card or {})
    _check_arguments(model, tokenizer, name, label_names, seq_length, card)

    exported = _float32_copy(model)
    if model_type == "pretrainer":
        serving = PretrainerServing(exported, tokenizer, seq_length)
    else:
        serving = ClassifierServing(exported, tokenizer, seq_length, list(label_names))
    signatures = serving.signatures()
    metadata = {
        "format": FORMAT, "name": name, "model_type": model_type, "tasks": PIPELINE_TASKS[model_type],
        "seq_length": seq_length, "lowercase": tokenizer.lowercase,
        "fold_full_width": tokenizer.fold_full_width, "mask_token": tokenizer.vocab[tokenizer.mask_id],
        "label_names": list(label_names) if label_names else None, "length_bucket": LENGTH_BUCKET,
        **({"max_masks": MAX_MASKS, "top_k": serving.top_k} if model_type == "pretrainer" else {"ig_steps": IG_STEPS}),
        "signatures": _describe(signatures), "model_card": card,
        "exported_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "software": {"tensorflow": tf.__version__, "keras": keras.__version__},
    }

    parent = Path(output_dir) / name
    parent.mkdir(parents=True, exist_ok=True)
    with staging_dir(parent) as staging:
        tf.saved_model.save(serving, str(staging), signatures=signatures)
        config.to_json_file(staging / CONFIG_FILE)
        save_vocabulary(tokenizer.vocab, staging / VOCAB_FILE)
        if label_names:
            write_json(staging / LABELS_FILE, list(label_names))
        write_json(staging / METADATA_FILE, metadata)
        write_text(staging / CARD_FILE, render_card(metadata, config.to_dict()))
        _make_readable(staging)
        return _publish(staging, parent)


def _model_type(model: keras.Model) -> str:
    if isinstance(model, BertPretrainer):
        return "pretrainer"
    if isinstance(model, BertClassifier):
        return "classifier"
    raise TypeError(f"export_model takes a kbert BertPretrainer or BertClassifier, got {type(model).__name__}")


def _check_arguments(model: keras.Model, tokenizer: BertTokenizer, name: str, label_names: list[str] | None,
                     seq_length: int, card: dict[str, Any]) -> None:
    config = model.backbone.config
    try:
        json.dumps(card)
    except (TypeError, ValueError) as error:
        raise TypeError(f"model_card must hold JSON values (str, numbers, lists, dicts): {error}") from None
    if not name or name in (".", "..") or name.startswith(".") or "/" in name or os.sep in name:
        raise ValueError(f"name={name!r} must be one directory name (no '/', not starting with '.'), e.g. 'sentiment'")
    if tokenizer.vocab_size != config.vocab_size:
        raise ValueError(f"the tokenizer has {tokenizer.vocab_size} tokens but the model's vocab_size is "
                         f"{config.vocab_size}; export with the vocabulary the model was trained with")
    if not 4 <= seq_length <= config.max_position_embeddings:
        raise ValueError(f"seq_length={seq_length} must be between 4 and the model's max_position_embeddings "
                         f"({config.max_position_embeddings})")
    if isinstance(model, BertPretrainer):
        if label_names is not None:
            raise ValueError("label_names are for classifiers; a BertPretrainer has none")
        return
    if label_names is None:
        raise ValueError(f"a classifier export needs label_names: {model.num_labels} names, output i's name at "
                         "index i (a fine-tuning run keeps them in labels.json)")
    if len(label_names) != model.num_labels or len(set(label_names)) != len(label_names):
        raise ValueError(f"label_names={list(label_names)} must be {model.num_labels} distinct names, one per output")
    if not all(isinstance(label, str) and label for label in label_names):
        raise ValueError(f"label_names={list(label_names)} must be non-empty strings")


def _float32_copy(model: BertPretrainer | BertClassifier) -> BertPretrainer | BertClassifier:
    """The same model rebuilt under the float32 policy with `model`'s weights (variables are float32 under every
    policy, so the copy is exact); the caller's policy is restored."""
    with precision.policy("float32"):
        backbone = BertBackbone(model.backbone.config)
        if isinstance(model, BertPretrainer):
            copy = BertPretrainer(backbone, name=model.name)
        else:
            copy = BertClassifier(backbone, model.num_labels, dropout=model.dropout, name=model.name)
    copy.set_weights(model.get_weights())
    return copy


def _describe(signatures: dict[str, tf.types.experimental.ConcreteFunction]) -> dict[str, dict]:
    """Each signature's inputs and outputs as `{"dtype", "shape"}` (`?` = batch size, `length` = packed length);
    `serving_default` is left out: it repeats the first."""
    def spec(tensor) -> dict[str, str]:
        dims = ["?" if i == 0 else "length" if size is None else str(size) for i, size in enumerate(tensor.shape)]
        return {"dtype": tensor.dtype.name, "shape": f"[{', '.join(dims)}]"}

    return {name: {"inputs": {tensor.name: spec(tensor) for tensor in function.structured_input_signature[0]},
                   "outputs": {key: spec(value) for key, value in function.structured_outputs.items()}}
            for name, function in signatures.items() if name != "serving_default"}


def _make_readable(directory: Path) -> None:
    """The usual modes (mkdtemp creates an owner-only folder), so a model server running as another user can read the
    export."""
    for path in [directory, *directory.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def _publish(staging: Path, parent: Path) -> Path:
    """Renames the finished `staging` directory to the next free version number (one atomic rename)."""
    while True:
        target = parent / str(max(version_dirs(parent), default=0) + 1)
        try:
            os.rename(staging, target)
            return target
        except OSError:
            if not target.exists():
                raise  # not a race with another export: a real failure

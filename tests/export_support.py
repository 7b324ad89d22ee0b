"""Shared by the export and pipeline tests: a tiny vocabulary and tiny models, and the answers the Keras models give
directly (the reference every exported answer is compared with)."""

import dataclasses
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from kbert.config import BertConfig
from kbert.export import export_model
from kbert.models import BertBackbone, BertClassifier, BertPretrainer
from kbert.text.tokenizer import BertTokenizer
from kbert.text.vocab import train_vocabulary

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "A good film makes you think; a bad one makes you sleep.",
    "Hello world, this is a tiny BERT model.",
    "今天天气很好，我们去公园散步吧。",
    "这部电影非常好看，演员的表演很精彩。",
    "服务态度太差了，再也不来了！",
]
SEQ_LENGTH = 32
LABELS = ["negative", "neutral", "positive"]
MODEL_CARD = {"data": "six test sentences", "steps": 0, "metrics": {"mlm_accuracy": 0.125, "nsp_accuracy": 0.5},
              "command": "pytest tests", "notes": "random weights"}


def tiny_tokenizer() -> BertTokenizer:
    return BertTokenizer(train_vocabulary(CORPUS, vocab_size=200))


def tiny_config(tokenizer: BertTokenizer) -> BertConfig:
    return BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                      intermediate_size=128, max_position_embeddings=64)


def tiny_pretrainer(tokenizer: BertTokenizer) -> BertPretrainer:
    return BertPretrainer(BertBackbone(tiny_config(tokenizer)))


def tiny_classifier(tokenizer: BertTokenizer) -> BertClassifier:
    return BertClassifier(BertBackbone(tiny_config(tokenizer)), num_labels=len(LABELS))


def softmax(logits) -> np.ndarray:
    return np.asarray(tf.nn.softmax(tf.cast(logits, tf.float32)))


def keras_fill_mask(model: BertPretrainer, tokenizer: BertTokenizer, texts: list[str]) -> list[np.ndarray]:
    """Per text, the Keras model's probabilities over the vocabulary at each [MASK], `[num_masks, vocab_size]`."""
    features = keras_features(tokenizer, texts)
    rows = [np.flatnonzero(ids == tokenizer.mask_id) for ids in features["token_ids"]]
    positions = np.zeros((len(texts), max(len(row) for row in rows)), "int32")
    for index, row in enumerate(rows):
        positions[index, :len(row)] = row
    probabilities = softmax(model({**features, "mask_positions": positions})["mlm_logits"])
    return [probabilities[index, :len(row)] for index, row in enumerate(rows)]


def assert_top_k(token_ids, scores, probabilities: np.ndarray, tokenizer: BertTokenizer) -> None:
    """`token_ids` and `scores` are the top of `probabilities` (one mask's row) among the tokenizer's ordinary
    tokens (no [UNK], [SEP], ...), best first, to 1e-5; robust to near-ties, which a random model has many of."""
    token_ids, scores = np.asarray(token_ids), np.asarray(scores)
    special = [i for i, token in enumerate(tokenizer.vocab) if token.startswith("[") and token.endswith("]")
               and len(token) > 2]
    assert not set(token_ids.tolist()) & set(special)
    np.testing.assert_allclose(scores, probabilities[token_ids], atol=1e-5, rtol=0)
    ordinary = np.delete(probabilities, special)
    np.testing.assert_allclose(scores, np.sort(ordinary)[::-1][:len(scores)], atol=1e-5, rtol=0)


def keras_features(tokenizer: BertTokenizer, texts: list[str], pairs: list[str] | None = None) -> dict:
    pairs = None if pairs is None else tf.constant(pairs)
    return {key: np.asarray(value) for key, value in tokenizer(tf.constant(texts), pairs, SEQ_LENGTH).items()}


def keras_is_next(model: BertPretrainer, tokenizer: BertTokenizer, texts: list[str], pairs: list[str]) -> np.ndarray:
    features = keras_features(tokenizer, texts, pairs)
    logits = model({**features, "mask_positions": np.zeros((len(texts), 1), "int32")})["nsp_logits"]
    return softmax(logits)[:, 0]


def keras_attributions(model: BertClassifier, features: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(probabilities, attention maps `[batch, layers, heads, seq, seq]`, gradient x input per token) computed on the
    Keras model's `with_internals()` view: the gradient of the predicted label's centred logit."""
    internals = model.backbone.with_internals()
    with tf.GradientTape() as tape:
        outputs = internals(features)
        logits = model.classifier_head(outputs["pooled_output"])
        centred = logits - tf.reduce_mean(logits, axis=-1, keepdims=True)
        target = tf.reduce_sum(tf.reduce_max(centred, axis=-1))
    embedded = outputs["hidden_states"][0]
    gradient = tape.gradient(target, embedded)
    attributions = np.asarray(tf.reduce_sum(gradient * embedded, axis=-1)) * features["padding_mask"]
    return softmax(logits), np.stack([np.asarray(m) for m in outputs["attention_maps"]], axis=1), attributions


@dataclasses.dataclass
class TinyExports:
    """A tiny pretrainer and classifier with their tokenizer, and where each was exported."""

    tokenizer: BertTokenizer
    pretrainer: BertPretrainer
    classifier: BertClassifier
    root: Path
    pretrainer_dir: Path
    classifier_dir: Path


def export_tiny_models(root: Path) -> TinyExports:
    keras.utils.set_random_seed(7)
    tokenizer = tiny_tokenizer()
    pretrainer, classifier = tiny_pretrainer(tokenizer), tiny_classifier(tokenizer)
    pretrainer_dir = export_model(pretrainer, tokenizer, root, name="tiny-lm", seq_length=SEQ_LENGTH,
                                  model_card=MODEL_CARD)
    classifier_dir = export_model(classifier, tokenizer, root, name="tiny-sentiment", label_names=LABELS,
                                  seq_length=SEQ_LENGTH)
    return TinyExports(tokenizer, pretrainer, classifier, root, pretrainer_dir, classifier_dir)

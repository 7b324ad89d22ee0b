"""What an exported model computes: `tf.Module`s whose serving signatures take raw strings and return plain tensors.

Every signature tokenizes in-graph, packs to `seq_length`, then trims the padding columns to the batch's longest
input rounded up to a multiple of `LENGTH_BUCKET` (short inputs run fast; few distinct shapes for the XLA kernels).
Inputs are named `text` (and `text_pair`), each `[batch_size]` tf.string.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from kbert.models import BertBackbone, BertClassifier, BertPretrainer
from kbert.text.tokenizer import BertTokenizer
from kbert.text.vocab import is_bracketed

MAX_MASKS = 10  # fill_mask answers at most this many [MASK]s per text ...
TOP_K = 10  # ... each with this many candidate tokens
LENGTH_BUCKET = 16
IG_STEPS = 32  # integrated gradients: points on the path from the baseline to the input (midpoint rule)

_TEXT = tf.TensorSpec([None], tf.string, name="text")
_TEXT_PAIR = tf.TensorSpec([None], tf.string, name="text_pair")
_CANDIDATES = tf.TensorSpec([None, MAX_MASKS], tf.string, name="candidates")


def _signature(*inputs: tf.TensorSpec):
    """Marks a method as a serving signature with these inputs. Traced once by `signatures()` and saved only as a
    signature (a `tf.function` attribute would be traced again by `tf.saved_model.save`)."""
    def mark(method):
        method.inputs = inputs
        return method
    return mark


class _Serving(tf.Module):
    """The signatures every export has: `encode`, `inspect` (each also for pairs) and `count_tokens`."""

    task_signatures: tuple[str, ...] = ()  # a subclass's own signatures; its first is `serving_default`

    def __init__(self, model: keras.Model, tokenizer: BertTokenizer, seq_length: int):
        super().__init__(name="kbert_serving")
        self.model = model
        self.tokenizer = tokenizer
        self.seq_length = seq_length

    def signatures(self) -> dict[str, tf.types.experimental.ConcreteFunction]:
        """Name -> concrete function, for `tf.saved_model.save(..., signatures=...)`; the first is the default."""
        names = [*self.task_signatures, "encode", "encode_pair", "inspect", "inspect_pair", "count_tokens",
                 "tokenize", "embedding_parts", "embedding_parts_pair"]
        functions = {}
        for name in names:
            method = getattr(self, name)  # no tensor-dependent Python control flow: autograph would only cost time
            function = tf.function(method, input_signature=method.inputs, autograph=False)
            functions[name] = function.get_concrete_function()
        return {"serving_default": functions[names[0]], **functions}

    @property
    def backbone(self) -> BertBackbone:
        return self.model.backbone

    def _features(self, text: tf.Tensor, text_pair: tf.Tensor | None = None) -> dict[str, tf.Tensor]:
        """Packed `token_ids`, `segment_ids`, `padding_mask`, int32 `[batch_size, length]` (see the module doc)."""
        features = self.tokenizer(text, text_pair, seq_length=self.seq_length)
        longest = tf.reduce_max(tf.reduce_sum(features["padding_mask"], axis=1))
        length = tf.clip_by_value(-(-longest // LENGTH_BUCKET) * LENGTH_BUCKET, 1, self.seq_length)
        return {key: value[:, :length] for key, value in features.items()}

    def _encode(self, features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        outputs = self.backbone(features, training=False)
        real = tf.cast(features["padding_mask"], outputs["sequence_output"].dtype)[:, :, None]
        return {"sequence_output": outputs["sequence_output"] * real, "pooled_output": outputs["pooled_output"],
                "padding_mask": features["padding_mask"]}

    @_signature(_TEXT)
    def encode(self, text):
        """-> `sequence_output` `[batch_size, length, hidden_size]` (0 on padding), `pooled_output`
        `[batch_size, hidden_size]`, `padding_mask` `[batch_size, length]`."""
        return self._encode(self._features(text))

    @_signature(_TEXT, _TEXT_PAIR)
    def encode_pair(self, text, text_pair):
        return self._encode(self._features(text, text_pair))

    def _embed(self, features: dict[str, tf.Tensor]) -> tf.Tensor:
        """The embedding output `[batch_size, length, hidden_size]`: what the first encoder layer reads."""
        return self.backbone.embeddings(features["token_ids"], features["segment_ids"], training=False)

    def _attend(self, embedded: tf.Tensor, padding_mask: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """The backbone's forward pass from `embedded`; returns the last hidden states
        `[batch_size, length, hidden_size]` and the attention maps `[batch_size, layers, heads, length, length]`."""
        outputs = self.backbone.forward({"padding_mask": padding_mask}, training=False, return_internals=True,
                                        embedded=embedded)
        return outputs["sequence_output"], tf.stack(outputs["attention_maps"], axis=1)

    def _inspect(self, features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        _, attentions = self._attend(self._embed(features), features["padding_mask"])
        return self._inspect_common(features, attentions)

    def _inspect_common(self, features: dict[str, tf.Tensor], attentions: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"tokens": self.tokenizer.id_to_token(features["token_ids"]), "attentions": attentions,
                "padding_mask": features["padding_mask"]}

    @_signature(_TEXT)
    def inspect(self, text):
        """For drawing: `tokens` tf.string `[batch_size, length]`, `padding_mask`, and `attentions`
        `[batch_size, layers, heads, length, length]` (classifiers add `probabilities` and `attributions`)."""
        return self._inspect(self._features(text))

    @_signature(_TEXT, _TEXT_PAIR)
    def inspect_pair(self, text, text_pair):
        return self._inspect(self._features(text, text_pair))

    @_signature(_TEXT)
    def count_tokens(self, text):
        """-> `num_tokens` int32 `[batch_size]`: WordPiece tokens of each text before packing (none cut)."""
        return {"num_tokens": tf.cast(self.tokenizer.tokenize(text).row_lengths(), tf.int32)}

    @_signature(_TEXT)
    def tokenize(self, text):
        """-> `tokens` tf.string `[batch_size, longest]`, each text's WordPiece tokens before packing ("" after its
        last), and `num_tokens` int32 `[batch_size]`. Runs no model: it shows what a text becomes, [UNK]s included."""
        ids = self.tokenizer.tokenize(text)
        return {"tokens": self.tokenizer.id_to_token(ids).to_tensor(default_value=""),
                "num_tokens": tf.cast(ids.row_lengths(), tf.int32)}

    def _embedding_parts(self, features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """The three terms of the embedding sum, their sum, and the normalised output the first layer reads, each
        float32 `[batch_size, length, hidden_size]` and 0 on padding; with `tokens` and the packed features."""
        embeddings = self.backbone.embeddings
        token = tf.gather(tf.convert_to_tensor(embeddings.token_embeddings.value), features["token_ids"])
        segment = tf.gather(tf.convert_to_tensor(embeddings.segment_embeddings.value), features["segment_ids"])
        table = tf.convert_to_tensor(embeddings.position_embeddings.value)
        position = tf.broadcast_to(table[None, :tf.shape(token)[1]], tf.shape(token))
        real = tf.cast(features["padding_mask"], tf.float32)[:, :, None]
        parts = {"token_embeddings": token, "segment_embeddings": segment, "position_embeddings": position,
                 "embedding_sum": token + segment + position, "embedding_output": self._embed(features)}
        return {**{key: tf.cast(value, tf.float32) * real for key, value in parts.items()},
                "tokens": self.tokenizer.id_to_token(features["token_ids"]), "segment_ids": features["segment_ids"],
                "padding_mask": features["padding_mask"]}

    @_signature(_TEXT)
    def embedding_parts(self, text):
        """BERT's input representation, token by token: `token_embeddings`, `segment_embeddings` and
        `position_embeddings` (rows of the three tables), `embedding_sum` (their sum) and `embedding_output` (the
        sum after LayerNorm: what the first encoder layer reads), float32 `[batch_size, length, hidden_size]`; with
        `tokens` tf.string, `segment_ids` and `padding_mask` `[batch_size, length]`."""
        return self._embedding_parts(self._features(text))

    @_signature(_TEXT, _TEXT_PAIR)
    def embedding_parts_pair(self, text, text_pair):
        return self._embedding_parts(self._features(text, text_pair))


class PretrainerServing(_Serving):
    """A `BertPretrainer`'s signatures: `fill_mask`, `next_sentence`, `fill_mask_scores`, plus the common ones."""

    task_signatures = ("fill_mask", "next_sentence", "fill_mask_scores")

    def __init__(self, model: BertPretrainer, tokenizer: BertTokenizer, seq_length: int):
        super().__init__(model, tokenizer, seq_length)
        # Never a candidate: [PAD], [UNK], [CLS], [SEP], [MASK] and the [unusedN] placeholders of Google's vocabs.
        excluded = [index for index, token in enumerate(tokenizer.vocab) if is_bracketed(token)]
        self.top_k = min(TOP_K, tokenizer.vocab_size - len(excluded))
        penalty = np.zeros([tokenizer.vocab_size], np.float32)
        penalty[excluded] = -1e9
        self.candidate_penalty = tf.constant(penalty)

    @_signature(_TEXT)
    def fill_mask(self, text):
        """-> for the first `MAX_MASKS` [MASK]s of each text, the `top_k` likeliest tokens: `token_ids` int32 and
        `tokens` tf.string `[batch_size, MAX_MASKS, top_k]`, `probabilities` float32 (same shape, best first),
        `mask_positions` int32 `[batch_size, MAX_MASKS]` and `num_masks` int32 `[batch_size]` (every [MASK] that fit
        in seq_length, even beyond MAX_MASKS). Slot j is valid where j < num_masks; unused slots hold 0 and ""."""
        masks = self._mask_logits(self._features(text))
        logits = masks["logits"]
        _, token_ids = tf.math.top_k(logits + self.candidate_penalty, k=self.top_k)
        top_logits = tf.gather(logits, token_ids, batch_dims=2)
        probabilities = tf.exp(top_logits - tf.reduce_logsumexp(logits, axis=-1, keepdims=True))  # softmax, top k
        keep = masks["valid"][:, :, None]
        token_ids = tf.where(keep, _pad_slots(token_ids), 0)
        return {"token_ids": token_ids, "tokens": tf.where(keep, self.tokenizer.id_to_token(token_ids), ""),
                "probabilities": tf.where(keep, _pad_slots(probabilities), 0.0),
                "mask_positions": _pad_slots(masks["positions"]), "num_masks": masks["num_masks"]}

    def _mask_logits(self, features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """The masked-LM `logits` `[batch_size, slots, vocab_size]` at the first [MASK]s of each text (only the
        `slots` some text of the batch needs), their `positions` `[batch_size, slots]`, `num_masks` `[batch_size]`
        and `valid` `[batch_size, MAX_MASKS]` (slot j holds a [MASK] of the text)."""
        is_mask = tf.equal(features["token_ids"], self.tokenizer.mask_id)
        num_masks = tf.reduce_sum(tf.cast(is_mask, tf.int32), axis=1)
        slots = tf.clip_by_value(tf.reduce_max(num_masks), 1, MAX_MASKS)
        length = tf.shape(is_mask)[1]
        columns = tf.range(length)[None, :]
        order = tf.argsort(tf.where(is_mask, columns, columns + length), axis=1, stable=True)  # masks first
        valid = tf.range(MAX_MASKS)[None, :] < num_masks[:, None]
        positions = tf.where(valid[:, :slots], order[:, :slots], 0)
        logits = self.model({**features, "mask_positions": positions}, training=False)["mlm_logits"]
        return {"logits": logits, "positions": positions, "num_masks": num_masks, "valid": valid}

    @_signature(_TEXT, _CANDIDATES)
    def fill_mask_scores(self, text, candidates):
        """How the masked-LM head rates given tokens: `candidates[i, j]` (a string, "" for none) at the j-th [MASK]
        of text i. -> `probabilities` float32 `[batch_size, MAX_MASKS]` (over the whole vocabulary, as fill_mask's),
        `ranks` int32 (1 = fill_mask's first candidate; 0 where nothing was scored: no [MASK] in slot j, or a
        candidate that is not one ordinary vocabulary token) and `num_pieces` int32 (the candidate's WordPiece
        tokens: only a one-token candidate can fill one [MASK])."""
        masks = self._mask_logits(self._features(text))
        logits = masks["logits"]
        slots = tf.shape(logits)[1]
        pieces = self.tokenizer.tokenize(tf.reshape(candidates, [-1]))  # [batch_size * MAX_MASKS, (pieces)]
        num_pieces = tf.reshape(tf.cast(pieces.row_lengths(), tf.int32), [-1, MAX_MASKS])
        first_piece = tf.reshape(pieces.to_tensor(default_value=0, shape=[None, 1])[:, 0], [-1, MAX_MASKS])
        token_ids = first_piece[:, :slots]
        chosen = tf.gather(logits, token_ids, batch_dims=2)  # [batch_size, slots]
        probabilities = tf.exp(chosen - tf.reduce_logsumexp(logits, axis=-1))
        ranks = 1 + tf.reduce_sum(tf.cast(logits + self.candidate_penalty > chosen[:, :, None], tf.int32), axis=-1)
        ordinary = _pad_slots(tf.gather(self.candidate_penalty, token_ids)) == 0.0  # padded slots: not valid anyway
        scored = masks["valid"] & (num_pieces == 1) & ordinary
        return {"probabilities": tf.where(scored, _pad_slots(probabilities), 0.0),
                "ranks": tf.where(scored, _pad_slots(ranks), 0), "num_pieces": num_pieces}

    @_signature(_TEXT, _TEXT_PAIR)
    def next_sentence(self, text, text_pair):
        """-> `is_next` float32 `[batch_size]`: the probability that `text_pair` follows `text`."""
        pooled = self.backbone(self._features(text, text_pair), training=False)["pooled_output"]
        logits = self.model.next_sentence_head(pooled, training=False)
        return {"is_next": tf.nn.softmax(logits)[:, 0]}  # label 0 = "is the continuation"


class ClassifierServing(_Serving):
    """A `BertClassifier`'s signatures: `classify` and `classify_pair`, plus the common ones; `inspect` adds
    token attributions."""

    task_signatures = ("classify", "classify_pair", "integrated_gradients", "integrated_gradients_pair")

    def __init__(self, model: BertClassifier, tokenizer: BertTokenizer, seq_length: int, label_names: list[str]):
        super().__init__(model, tokenizer, seq_length)
        self.label_names = tf.constant(label_names)

    def _classify(self, features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        probabilities = tf.nn.softmax(self.model(features, training=False)["logits"])
        batch_size = tf.shape(probabilities)[0]
        return {"probabilities": probabilities, "label": tf.gather(self.label_names, tf.argmax(probabilities, -1)),
                "label_names": tf.tile(self.label_names[None, :], [batch_size, 1])}

    @_signature(_TEXT)
    def classify(self, text):
        """-> `probabilities` float32 `[batch_size, num_labels]`, `label` tf.string `[batch_size]` (the likeliest)
        and `label_names` tf.string `[batch_size, num_labels]` (column i names probability i)."""
        return self._classify(self._features(text))

    @_signature(_TEXT, _TEXT_PAIR)
    def classify_pair(self, text, text_pair):
        return self._classify(self._features(text, text_pair))

    def _inspect(self, features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """Adds `probabilities` and `attributions` `[batch_size, length]`: gradient x input on the embedding output,
        summed over the hidden axis, of the predicted label's logit minus the mean logit (what moves the decision;
        a shift of every logit does not), 0 on padding."""
        with tf.GradientTape() as tape:
            embedded = self._embed(features)
            tape.watch(embedded)
            sequence, attentions = self._attend(embedded, features["padding_mask"])
            logits = self.model.classifier_head(self.backbone.pooler(sequence), training=False)
            centred = logits - tf.reduce_mean(logits, axis=-1, keepdims=True)
            target = tf.reduce_sum(tf.reduce_max(centred, axis=-1))  # rows are independent: one gradient for all
        gradient = tape.gradient(target, embedded)
        attributions = tf.reduce_sum(gradient * embedded, axis=-1) * tf.cast(features["padding_mask"], tf.float32)
        return {**self._inspect_common(features, attentions), "probabilities": tf.nn.softmax(logits),
                "attributions": attributions}

    def _classifier_logits(self, embedded: tf.Tensor, padding_mask: tf.Tensor) -> tf.Tensor:
        sequence, _ = self._attend(embedded, padding_mask)
        return self.model.classifier_head(self.backbone.pooler(sequence), training=False)

    def _integrated_gradients(self, features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """Integrated gradients (Sundararajan et al., 2017) of the predicted label's centred logit, per token: the
        token embeddings move from a baseline ([PAD]'s embedding for every token but [CLS] and [SEP]) to the input's
        in IG_STEPS steps while segment and position stay; each step's gradient times the move, summed over the
        hidden axis. `logit_difference` is that logit at the input minus at the baseline, which the attributions of
        a text add up to (the method's completeness) up to the integration error."""
        parts = self._embedding_parts(features)
        embeddings = self.backbone.embeddings
        token_ids, padding_mask = features["token_ids"], features["padding_mask"]
        rest = parts["segment_embeddings"] + parts["position_embeddings"]
        kept = (token_ids == self.tokenizer.cls_id) | (token_ids == self.tokenizer.sep_id) | (padding_mask == 0)
        table = tf.convert_to_tensor(embeddings.token_embeddings.value)
        baseline = tf.gather(table, tf.where(kept, token_ids, self.tokenizer.pad_id))
        move = parts["token_embeddings"] - baseline

        def centred_logits(token_part: tf.Tensor, copies: int) -> tf.Tensor:
            """[copies * batch_size, length, hidden_size] token parts -> the centred logits."""
            embedded = embeddings.layer_norm(token_part + tf.tile(rest, [copies, 1, 1]))
            logits = self._classifier_logits(embedded, tf.tile(padding_mask, [copies, 1]))
            return logits - tf.reduce_mean(logits, axis=-1, keepdims=True)

        ends = tf.split(centred_logits(tf.concat([parts["token_embeddings"], baseline], 0), 2), 2)  # input, baseline
        label = tf.argmax(ends[0], axis=-1, output_type=tf.int32)
        alphas = (tf.range(IG_STEPS, dtype=tf.float32) + 0.5) / IG_STEPS
        path = tf.reshape(baseline[None] + alphas[:, None, None, None] * move[None],
                          tf.concat([[-1], tf.shape(move)[1:]], 0))  # [IG_STEPS * batch_size, length, hidden_size]
        with tf.GradientTape() as tape:
            tape.watch(path)
            target = tf.reduce_sum(tf.gather(centred_logits(path, IG_STEPS), tf.tile(label, [IG_STEPS]),
                                             batch_dims=1))
        gradient = tf.reduce_mean(tf.reshape(tape.gradient(target, path), tf.concat([[IG_STEPS], tf.shape(move)], 0)),
                                  axis=0)
        difference = tf.gather(ends[0], label, batch_dims=1) - tf.gather(ends[1], label, batch_dims=1)
        return {"tokens": parts["tokens"], "padding_mask": padding_mask, "probabilities": tf.nn.softmax(ends[0]),
                "attributions": tf.reduce_sum(gradient * move, axis=-1) * tf.cast(padding_mask, tf.float32),
                "logit_difference": difference}

    @_signature(_TEXT)
    def integrated_gradients(self, text):
        """-> `attributions` float32 `[batch_size, length]` (see `_integrated_gradients`; 0 on [CLS], [SEP] and
        padding), `logit_difference` `[batch_size]`, `probabilities`, `tokens` and `padding_mask`. Runs IG_STEPS
        forward and backward passes per text: send a few texts at a time."""
        return self._integrated_gradients(self._features(text))

    @_signature(_TEXT, _TEXT_PAIR)
    def integrated_gradients_pair(self, text, text_pair):
        return self._integrated_gradients(self._features(text, text_pair))


def _pad_slots(x: tf.Tensor) -> tf.Tensor:
    """[batch_size, slots, ...] -> [batch_size, MAX_MASKS, ...], zeros after the computed slots."""
    padded = tf.pad(x, [[0, 0], [0, MAX_MASKS - tf.shape(x)[1]]] + [[0, 0]] * (x.shape.rank - 2))
    return tf.ensure_shape(padded, [None, MAX_MASKS, *x.shape[2:]])

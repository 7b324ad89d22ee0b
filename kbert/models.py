"""The BERT models: the backbone, a backbone with one objective's heads, and the two such models trained here:
the pretraining model (MLM + NSP) and the classifier."""

from __future__ import annotations

import dataclasses

import keras
from keras import ops

from kbert import objectives
from kbert.config import BertConfig
from kbert.layers.embeddings import BertEmbeddings
from kbert.layers.encoder import TransformerEncoderLayer
from kbert.layers.heads import Pooler
from kbert.layers.normalization import LayerNorm

BACKBONE_INPUTS = ("token_ids", "segment_ids", "padding_mask")


def _backbone_inputs() -> dict[str, keras.KerasTensor]:
    return {name: keras.Input(shape=(None,), dtype="int32", name=name) for name in BACKBONE_INPUTS}


@keras.saving.register_keras_serializable(package="kbert")
class BertBackbone(keras.Model):
    """The BERT encoder: embeddings, `num_hidden_layers` Transformer layers, pooler.

    Inputs: a dict of `token_ids`, `segment_ids`, `padding_mask`, each `[batch_size, seq_length]` int32.
    Outputs: `sequence_output` `[batch_size, seq_length, hidden_size]` and `pooled_output` `[batch_size, hidden_size]`.
    `with_internals()` gives a model over the same weights that also returns every layer's hidden states and
    attention maps.

    >>> import numpy as np
    >>> backbone = BertBackbone(BertConfig.from_preset("tiny", vocab_size=100))
    >>> ids = np.array([[2, 7, 8, 3, 0]])
    >>> out = backbone({"token_ids": ids, "segment_ids": 0 * ids, "padding_mask": (ids > 0).astype("int32")})
    >>> out["sequence_output"].shape
    TensorShape([1, 5, 128])
    """

    def __init__(self, config: BertConfig, **kwargs):
        # === Layers ===
        embeddings = BertEmbeddings(
            config.vocab_size, config.hidden_size, config.max_position_embeddings, config.type_vocab_size,
            config.position_embedding_type, dropout=config.hidden_dropout_prob, layer_norm_eps=config.layer_norm_eps,
            initializer_range=config.initializer_range, name="embeddings")
        transformer_layers = [
            TransformerEncoderLayer(
                config.hidden_size, config.num_attention_heads, config.intermediate_size, config.hidden_act,
                dropout=config.hidden_dropout_prob, attention_dropout=config.attention_probs_dropout_prob,
                layer_norm_eps=config.layer_norm_eps, initializer_range=config.initializer_range,
                layer_norm_position=config.layer_norm_position, name=f"transformer_layer_{i}")
            for i in range(config.num_hidden_layers)
        ]
        # Pre-LN layers leave their sum unnormalised: one LayerNorm after the stack.
        final_layer_norm = (LayerNorm(config.layer_norm_eps, name="final_layer_norm")
                            if config.layer_norm_position == "pre" else None)
        pooler = Pooler(config.hidden_size, config.initializer_range, name="pooler")
        layers = _Layers(embeddings, transformer_layers, final_layer_norm, pooler)

        # === Functional Model ===
        inputs = _backbone_inputs()
        outputs = layers.forward(inputs)
        super().__init__(
            inputs=inputs,
            outputs={"sequence_output": outputs["sequence_output"], "pooled_output": outputs["pooled_output"]},
            **kwargs,
        )
        self.embeddings = embeddings
        self.transformer_layers = transformer_layers
        self.final_layer_norm = final_layer_norm
        self.pooler = pooler
        self._layers_in_order = layers

        # === Config ===
        self.config = config

    def forward(self, inputs: dict, training=None, rows=None, return_internals: bool = False, embedded=None
                ) -> dict:
        """The backbone's one forward pass, for every caller that needs more than `__call__`'s two outputs.

        `inputs`: the backbone inputs. `rows` `[batch_size, num_rows]`: the last layer computes only these positions
        (so `sequence_output` is `[batch_size, num_rows, hidden_size]`; put `[CLS]` first for the pooler).
        `return_internals` adds `hidden_states` (embeddings + each layer's output) and `attention_maps` (float32
        `[batch_size, num_heads, seq_length, seq_length]` a layer). `embedded` `[batch_size, seq_length,
        hidden_size]` replaces the embedding output (attributions differentiate with respect to it). Always
        returns `embedded`, `sequence_output` and `pooled_output`.
        """
        return self._layers_in_order.forward(inputs, training, rows, return_internals, embedded)

    def with_internals(self) -> keras.Model:
        """A model sharing these weights whose outputs add `hidden_states` and `attention_maps` (see `forward`)."""
        return _WithInternals(self)

    def get_config(self):
        return {"config": self.config.to_dict(), "name": self.name, "trainable": self.trainable}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(BertConfig.from_dict(config.pop("config")), **config)


class _WithInternals(keras.Model):
    """`BertBackbone.with_internals()`: the backbone's forward pass with every internal output."""

    def __init__(self, backbone: BertBackbone):
        super().__init__(name=f"{backbone.name}_with_internals")
        self.backbone = backbone

    def call(self, inputs, training=None):
        outputs = self.backbone.forward(_backbone_features(inputs), training=training, return_internals=True)
        outputs.pop("embedded")
        return outputs


@dataclasses.dataclass(frozen=True)
class _Layers:
    """The backbone's layers in the order the forward pass runs them (also before the model object exists)."""

    embeddings: BertEmbeddings
    transformer_layers: list[TransformerEncoderLayer]
    final_layer_norm: LayerNorm | None
    pooler: Pooler

    def forward(self, inputs, training=None, rows=None, return_internals=False, embedded=None) -> dict:
        if embedded is None:
            embedded = self.embeddings(inputs["token_ids"], inputs["segment_ids"], training=training)
        x, hidden_states, attention_maps = embedded, [embedded], []
        last = len(self.transformer_layers) - 1
        for index, layer in enumerate(self.transformer_layers):
            x = layer(x, inputs["padding_mask"], rows if index == last else None,
                      return_probabilities=return_internals, training=training)
            if return_internals:
                x, probabilities = x
                attention_maps.append(probabilities)
            if self.final_layer_norm is not None and index == last:
                x = self.final_layer_norm(x)
            hidden_states.append(x)
        outputs = {"embedded": embedded, "sequence_output": x, "pooled_output": self.pooler(x)}
        if return_internals:
            outputs.update(hidden_states=hidden_states, attention_maps=attention_maps)
        return outputs


def _backbone_features(inputs: dict) -> dict:
    missing = [name for name in BACKBONE_INPUTS if name not in inputs]
    if missing:
        raise KeyError(f"Model inputs lack {missing}; got keys {sorted(inputs)}")
    return {name: inputs[name] for name in BACKBONE_INPUTS}


class BertWithHeads(keras.Model):
    """A backbone and the heads of one training objective (kbert.objectives), which computes the outputs from the
    backbone's forward pass; with `compile()`, `fit()` trains on the objective's loss and reports its ratios."""

    def __init__(self, backbone: BertBackbone, objective: objectives.Objective, **kwargs):
        super().__init__(**kwargs)
        # === Layers ===
        self.backbone = backbone
        heads = objective.heads(backbone.config)
        for name, head in heads.items():  # attributes, so checkpoints name each head
            setattr(self, name, head)
        self.head_names = tuple(heads)
        # === Objective (the loss and metrics of fit()) ===
        self.objective = objective
        self.ratio_trackers = {name: keras.metrics.Mean(name=name) for name in objective.fit_metrics()}
        self.built = True

    def call(self, inputs, training=None):
        _backbone_features(inputs)  # names a missing input
        return self.objective.outputs(self.backbone, {name: getattr(self, name) for name in self.head_names},
                                      inputs, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return _objective_loss(self.objective, self.ratio_trackers, x, y, y_pred)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        return self.get_metrics_result()


@keras.saving.register_keras_serializable(package="kbert")
class BertPretrainer(BertWithHeads):
    """BERT with its pretraining heads: masked LM (tied to the token table) and next-sentence prediction
    (`objectives.PretrainingObjective`).

    Inputs: the backbone inputs plus `mask_positions` `[batch_size, num_predictions]`. Outputs: `mlm_logits`
    `[batch_size, num_predictions, vocab_size]` (float32) and `nsp_logits` `[batch_size, 2]` (float32).
    With `compile()`, `fit()` trains on batches of the pretraining features (`mask_ids`, `mask_weights` and
    `next_sentence_labels` too) and reports `mlm_loss`, `nsp_loss`, `mlm_accuracy` and `nsp_accuracy`.
    """

    def __init__(self, backbone: BertBackbone, **kwargs):
        super().__init__(backbone, objectives.PretrainingObjective(), **kwargs)

    def get_config(self):
        return {"backbone": keras.saving.serialize_keras_object(self.backbone), "name": self.name,
                "trainable": self.trainable}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(keras.saving.deserialize_keras_object(config.pop("backbone")), **config)


@keras.saving.register_keras_serializable(package="kbert")
class BertClassifier(BertWithHeads):
    """A sequence classifier for single sentences or sentence pairs: dropout + dense on the pooled output
    (`objectives.ClassificationObjective`).

    Inputs: the backbone inputs (a pair is packed as `[CLS] A [SEP] B [SEP]` with segment ids 0/1). Output:
    `logits` `[batch_size, num_labels]` float32. Train with `fit(features, labels)`; metric `accuracy`.
    """

    def __init__(self, backbone: BertBackbone, num_labels: int, dropout: float | None = None, **kwargs):
        super().__init__(backbone, objectives.ClassificationObjective(num_labels, dropout), **kwargs)
        # === Config ===
        self.num_labels = num_labels
        self.dropout = dropout  # None: the config's hidden_dropout_prob, as the objective resolves it

    def get_config(self):
        return {"backbone": keras.saving.serialize_keras_object(self.backbone), "num_labels": self.num_labels,
                "dropout": self.dropout, "name": self.name, "trainable": self.trainable}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(keras.saving.deserialize_keras_object(config.pop("backbone")), **config)


def _objective_loss(objective: objectives.Objective, trackers: dict, x, y, y_pred):
    """fit()'s loss of one batch: the objective's, with the batch's own sums as the totals. Updates `trackers`
    (metric name -> Mean) with each ratio weighted by its denominator, so over an epoch a tracker holds the
    objective's own ratio of sums."""
    sums = objective.sums(x, y, y_pred)
    for name, tracker in trackers.items():
        top, bottom = objective.RATIOS[name]
        weight = ops.maximum(sums[bottom], 1.0)
        tracker.update_state(sums[top] / weight, sample_weight=weight)
    return objective.loss(sums, sums)

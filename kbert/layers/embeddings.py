"""The embedding sum: token + segment + position embeddings, then LayerNorm and dropout."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from kbert.layers.dropout import Dropout
from kbert.layers.initializers import bert_initializer
from kbert.layers.normalization import LayerNorm


def sinusoidal_table(num_positions: int, hidden_size: int) -> np.ndarray:
    """The fixed sin/cos table of "Attention Is All You Need", `[num_positions, hidden_size]`.

    PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(pos / 10000^(2i/d)).
    """
    positions = np.arange(num_positions, dtype=np.float64)[:, None]
    rates = np.power(10000.0, -np.arange(0, hidden_size, 2, dtype=np.float64) / hidden_size)
    table = np.zeros((num_positions, hidden_size), dtype=np.float64)
    table[:, 0::2] = np.sin(positions * rates)
    table[:, 1::2] = np.cos(positions * rates[: hidden_size // 2])
    return table.astype(np.float32)


@keras.saving.register_keras_serializable(package="kbert")
class BertEmbeddings(keras.layers.Layer):
    """Sums token, segment and position embeddings, normalises and drops out.

    Call with `token_ids` and `segment_ids`, both `[batch_size, seq_length]` int32; returns
    `[batch_size, seq_length, hidden_size]`. The token table (`token_embeddings`, `[vocab_size, hidden_size]`) is
    public so the masked-LM head can tie its output weights to it.
    """

    def __init__(
        self,
        vocab_size: int,
        hidden_size: int,
        max_position_embeddings: int = 512,
        type_vocab_size: int = 2,
        position_embedding_type: str = "learned",
        dropout: float = 0.1,
        layer_norm_eps: float = 1e-12,
        initializer_range: float = 0.02,
        **kwargs,
    ):
        # Variables are read in float32 (no autocast): the sum is exact and the token table is never cast whole.
        super().__init__(autocast=False, **kwargs)
        if position_embedding_type not in ("learned", "sinusoidal"):
            raise ValueError(
                f"position_embedding_type must be 'learned' or 'sinusoidal', got {position_embedding_type!r}")
        # === Layers ===
        self.layer_norm = LayerNorm(layer_norm_eps, dtype=self.dtype_policy, name="layer_norm")
        self.dropout = Dropout(dropout, dtype=self.dtype_policy, name="dropout")
        # === Config ===
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.max_position_embeddings = max_position_embeddings
        self.type_vocab_size = type_vocab_size
        self.position_embedding_type = position_embedding_type
        self.dropout_rate = dropout
        self.layer_norm_eps = layer_norm_eps
        self.initializer_range = initializer_range

    def build(self, token_ids_shape=None, segment_ids_shape=None):
        init = bert_initializer(self.initializer_range)
        self.token_embeddings = self.add_weight(
            shape=(self.vocab_size, self.hidden_size), initializer=init, name="token_embeddings")
        self.segment_embeddings = self.add_weight(
            shape=(self.type_vocab_size, self.hidden_size), initializer=init, name="segment_embeddings")
        if self.position_embedding_type == "learned":
            self.position_embeddings = self.add_weight(
                shape=(self.max_position_embeddings, self.hidden_size), initializer=init, name="position_embeddings")
        else:
            # The sin/cos entries have root mean square 1/sqrt(2), fifty times the learned tables' initial 0.02: after
            # the LayerNorm the token would be drowned by its position. Scaled to the learned tables' size, both
            # weigh alike (the talk's formula times a constant).
            table = sinusoidal_table(self.max_position_embeddings, self.hidden_size) * (
                self.initializer_range * np.sqrt(2.0))
            self.position_embeddings = self.add_weight(
                shape=table.shape, initializer=keras.initializers.Constant(table), trainable=False,
                name="position_embeddings")
        self.layer_norm.build((None, None, self.hidden_size))

    def call(self, token_ids, segment_ids, training=None):
        seq_length = ops.shape(token_ids)[1]
        # Summed in float32; LayerNorm (float32 inside) returns the compute dtype.
        embeddings = (
            ops.take(self.token_embeddings, token_ids, axis=0)
            + ops.take(self.segment_embeddings, segment_ids, axis=0)
            + self.position_embeddings[None, :seq_length, :]
        )
        return self.dropout(self.layer_norm(embeddings), training=training)

    def compute_output_shape(self, token_ids_shape, segment_ids_shape=None):
        return (*token_ids_shape, self.hidden_size)

    def get_config(self):
        config = super().get_config()
        config.update(
            vocab_size=self.vocab_size,
            hidden_size=self.hidden_size,
            max_position_embeddings=self.max_position_embeddings,
            type_vocab_size=self.type_vocab_size,
            position_embedding_type=self.position_embedding_type,
            dropout=self.dropout_rate,
            layer_norm_eps=self.layer_norm_eps,
            initializer_range=self.initializer_range,
        )
        return config

"""One Transformer encoder layer as BERT stacks it: attention, residual, LayerNorm, GELU feed-forward, residual,
LayerNorm."""

from __future__ import annotations

import keras
import tensorflow as tf

from kbert.config import ACTIVATIONS
from kbert.layers.attention import MultiHeadSelfAttention
from kbert.layers.dense import Dense
from kbert.layers.dropout import Dropout
from kbert.layers.normalization import LayerNorm


@keras.saving.register_keras_serializable(package="kbert")
class TransformerEncoderLayer(keras.layers.Layer):
    """Post-LayerNorm encoder layer. `activation` is `gelu` (exact, erf; Hugging Face) or `gelu_approximate`
    (tanh; Google's checkpoints).

    Call with `x` `[batch_size, seq_length, hidden_size]` and `padding_mask` `[batch_size, seq_length]`; returns the
    new hidden states (same shape) and the attention probabilities `[batch_size, num_heads, seq_length, seq_length]`.
    """

    def __init__(self, hidden_size: int, num_heads: int, intermediate_size: int, activation: str = "gelu",
                 dropout: float = 0.1, attention_dropout: float = 0.1, layer_norm_eps: float = 1e-12,
                 initializer_range: float = 0.02, **kwargs):
        super().__init__(**kwargs)
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
        policy = self.dtype_policy
        # === Layers ===
        self.attention = MultiHeadSelfAttention(hidden_size, num_heads, dropout=attention_dropout,
                                                initializer_range=initializer_range, dtype=policy, name="attention")
        self.attention_dropout = Dropout(dropout, dtype=policy, name="attention_output_dropout")
        self.attention_layer_norm = LayerNorm(layer_norm_eps, dtype=policy, name="attention_layer_norm")
        self.intermediate_dense = Dense(intermediate_size, activation=activation, initializer_range=initializer_range,
                                        dtype=policy, name="intermediate_dense")
        self.output_dense = Dense(hidden_size, initializer_range=initializer_range, dtype=policy, name="output_dense")
        self.output_dropout = Dropout(dropout, dtype=policy, name="output_dropout")
        self.output_layer_norm = LayerNorm(layer_norm_eps, dtype=policy, name="output_layer_norm")
        # === Config ===
        self.hidden_size = hidden_size
        self.num_heads = num_heads
        self.intermediate_size = intermediate_size
        self.activation = activation
        self.dropout_rate = dropout
        self.attention_dropout_rate = attention_dropout
        self.layer_norm_eps = layer_norm_eps
        self.initializer_range = initializer_range

    def build(self, x_shape, padding_mask_shape=None, query_positions_shape=None):
        hidden = (None, self.hidden_size)
        self.attention.build((None, None, self.hidden_size))
        self.attention_layer_norm.build(hidden)
        self.intermediate_dense.build(hidden)
        self.output_dense.build((None, self.intermediate_size))
        self.output_layer_norm.build(hidden)

    def call(self, x, padding_mask, query_positions=None, training=None):
        """`query_positions` `[batch_size, num_queries]` computes the outputs at those positions only (see
        `MultiHeadSelfAttention.call`)."""
        attended, probabilities = self.attention(x, padding_mask, query_positions, training=training)
        if query_positions is not None:
            x = tf.gather(x, query_positions, batch_dims=1)
        # Each dropout runs inside the LayerNorm kernel that follows it (the same mask as the Dropout layer's own).
        x = self.attention_layer_norm(attended, x, dropout_rate=self.attention_dropout.rate,
                                      dropout_seed=self.attention_dropout.step_seed(training))
        feed_forward = self.output_dense(self.intermediate_dense(x))
        x = self.output_layer_norm(feed_forward, x, dropout_rate=self.output_dropout.rate,
                                   dropout_seed=self.output_dropout.step_seed(training))
        return x, probabilities

    def compute_output_shape(self, x_shape, padding_mask_shape=None, query_positions_shape=None):
        return x_shape, (x_shape[0], self.num_heads, x_shape[1], x_shape[1])

    def get_config(self):
        config = super().get_config()
        config.update(hidden_size=self.hidden_size, num_heads=self.num_heads,
                      intermediate_size=self.intermediate_size, activation=self.activation,
                      dropout=self.dropout_rate, attention_dropout=self.attention_dropout_rate,
                      layer_norm_eps=self.layer_norm_eps, initializer_range=self.initializer_range)
        return config

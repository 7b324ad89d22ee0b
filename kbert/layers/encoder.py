"""One Transformer encoder layer: attention and a GELU feed-forward, each with dropout, a residual connection and a
LayerNorm, after the sum as in BERT (post-LN) or before the block (pre-LN)."""

from __future__ import annotations

import keras
import tensorflow as tf

from kbert.config import ACTIVATIONS, LAYER_NORM_POSITIONS
from kbert.layers.attention import MultiHeadSelfAttention
from kbert.layers.dense import Dense
from kbert.layers.dropout import Dropout
from kbert.layers.normalization import LayerNorm


@keras.saving.register_keras_serializable(package="kbert")
class TransformerEncoderLayer(keras.layers.Layer):
    """A Transformer encoder layer. `layer_norm_position` "post" is BERT's `x = LN(x + block(x))`; "pre" is
    `x = x + block(LN(x))` (trains stably at higher learning rates; the stack then needs a final LayerNorm).
    `activation` is `gelu` (exact, erf; Hugging Face) or `gelu_approximate` (tanh; Google's checkpoints).

    Call with `x` `[batch_size, seq_length, hidden_size]` and `padding_mask` `[batch_size, seq_length]`; returns the
    new hidden states (same shape), with `return_probabilities` as `(hidden_states, probabilities)`, the attention
    probabilities `[batch_size, num_heads, seq_length, seq_length]`.
    """

    def __init__(self, hidden_size: int, num_heads: int, intermediate_size: int, activation: str = "gelu",
                 dropout: float = 0.1, attention_dropout: float = 0.1, layer_norm_eps: float = 1e-12,
                 initializer_range: float = 0.02, layer_norm_position: str = "post", **kwargs):
        super().__init__(**kwargs)
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
        if layer_norm_position not in LAYER_NORM_POSITIONS:
            raise ValueError(f"layer_norm_position must be one of {LAYER_NORM_POSITIONS}, got {layer_norm_position!r}")
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
        self.layer_norm_position = layer_norm_position

    def build(self, x_shape, padding_mask_shape=None, query_positions_shape=None):
        hidden = (None, self.hidden_size)
        self.attention.build((None, None, self.hidden_size))
        self.attention_layer_norm.build(hidden)
        self.intermediate_dense.build(hidden)
        self.output_dense.build((None, self.intermediate_size))
        self.output_layer_norm.build(hidden)

    def call(self, x, padding_mask, query_positions=None, return_probabilities=False, training=None):
        """`query_positions` `[batch_size, num_queries]` computes the outputs at those positions only (see
        `MultiHeadSelfAttention.call`)."""
        block_input = self.attention_layer_norm(x) if self.layer_norm_position == "pre" else x
        attended = self.attention(block_input, padding_mask, query_positions,
                                  return_probabilities=return_probabilities, training=training)
        if return_probabilities:
            attended, probabilities = attended
        if query_positions is not None:
            x = tf.gather(x, query_positions, batch_dims=1)
        if self.layer_norm_position == "pre":  # x + dropout(block(LN(x)))
            x = x + self.attention_dropout(attended, training=training)
            feed_forward = self.output_dense(self.intermediate_dense(self.output_layer_norm(x)))
            x = x + self.output_dropout(feed_forward, training=training)
        else:  # LN(x + dropout(block(x))); the LayerNorm kernel adds the residual in its own pass
            x = self.attention_layer_norm(self.attention_dropout(attended, training=training), residual=x)
            feed_forward = self.output_dense(self.intermediate_dense(x))
            x = self.output_layer_norm(self.output_dropout(feed_forward, training=training), residual=x)
        return (x, probabilities) if return_probabilities else x

    def get_config(self):
        config = super().get_config()
        config.update(hidden_size=self.hidden_size, num_heads=self.num_heads,
                      intermediate_size=self.intermediate_size, activation=self.activation,
                      dropout=self.dropout_rate, attention_dropout=self.attention_dropout_rate,
                      layer_norm_eps=self.layer_norm_eps, initializer_range=self.initializer_range,
                      layer_norm_position=self.layer_norm_position)
        return config

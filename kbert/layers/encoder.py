"""One Transformer encoder layer as BERT stacks it: attention, residual, LayerNorm, GELU feed-forward, residual,
LayerNorm."""

from __future__ import annotations

import keras

from kbert.layers.attention import MultiHeadSelfAttention
from kbert.layers.initializers import bert_initializer


def gelu_activation(kind: str):
    """`gelu` is the exact erf form (Hugging Face); `gelu_approximate` the tanh form (Google's checkpoints)."""
    if kind not in ("gelu", "gelu_approximate"):
        raise ValueError(f"activation must be 'gelu' or 'gelu_approximate', got {kind!r}")
    approximate = kind == "gelu_approximate"
    return lambda x: keras.activations.gelu(x, approximate=approximate)


@keras.saving.register_keras_serializable(package="kbert")
class TransformerEncoderLayer(keras.layers.Layer):
    """Post-LayerNorm encoder layer.

    Call with `x` `[batch_size, seq_length, hidden_size]` and `padding_mask` `[batch_size, seq_length]`; returns the
    new hidden states (same shape) and the attention probabilities `[batch_size, num_heads, seq_length, seq_length]`.
    """

    def __init__(self, hidden_size: int, num_heads: int, intermediate_size: int, activation: str = "gelu",
                 dropout: float = 0.1, attention_dropout: float = 0.1, layer_norm_eps: float = 1e-12,
                 initializer_range: float = 0.02, **kwargs):
        super().__init__(**kwargs)
        init = bert_initializer(initializer_range)
        policy = self.dtype_policy
        # === Layers ===
        self.attention = MultiHeadSelfAttention(hidden_size, num_heads, dropout=attention_dropout,
                                                initializer_range=initializer_range, dtype=policy, name="attention")
        self.attention_dropout = keras.layers.Dropout(dropout, dtype=policy, name="attention_output_dropout")
        self.attention_layer_norm = keras.layers.LayerNormalization(epsilon=layer_norm_eps, dtype=policy,
                                                                    name="attention_layer_norm")
        self.intermediate_dense = keras.layers.Dense(intermediate_size, activation=gelu_activation(activation),
                                                     kernel_initializer=init, dtype=policy, name="intermediate_dense")
        self.output_dense = keras.layers.Dense(hidden_size, kernel_initializer=init, dtype=policy, name="output_dense")
        self.output_dropout = keras.layers.Dropout(dropout, dtype=policy, name="output_dropout")
        self.output_layer_norm = keras.layers.LayerNormalization(epsilon=layer_norm_eps, dtype=policy,
                                                                 name="output_layer_norm")
        # === Config ===
        self.hidden_size = hidden_size
        self.num_heads = num_heads
        self.intermediate_size = intermediate_size
        self.activation = activation
        self.dropout_rate = dropout
        self.attention_dropout_rate = attention_dropout
        self.layer_norm_eps = layer_norm_eps
        self.initializer_range = initializer_range

    def build(self, x_shape, padding_mask_shape=None):
        hidden = (None, None, self.hidden_size)
        self.attention.build(hidden)
        self.attention_layer_norm.build(hidden)
        self.intermediate_dense.build(hidden)
        self.output_dense.build((None, None, self.intermediate_size))
        self.output_layer_norm.build(hidden)

    def call(self, x, padding_mask, training=None):
        attended, probabilities = self.attention(x, padding_mask, training=training)
        x = self.attention_layer_norm(x + self.attention_dropout(attended, training=training))
        feed_forward = self.output_dense(self.intermediate_dense(x))
        x = self.output_layer_norm(x + self.output_dropout(feed_forward, training=training))
        return x, probabilities

    def compute_output_shape(self, x_shape, padding_mask_shape=None):
        return x_shape, (x_shape[0], self.num_heads, x_shape[1], x_shape[1])

    def get_config(self):
        config = super().get_config()
        config.update(hidden_size=self.hidden_size, num_heads=self.num_heads,
                      intermediate_size=self.intermediate_size, activation=self.activation,
                      dropout=self.dropout_rate, attention_dropout=self.attention_dropout_rate,
                      layer_norm_eps=self.layer_norm_eps, initializer_range=self.initializer_range)
        return config

"""Multi-head self-attention with a padding mask, able to hand back its attention probabilities."""

from __future__ import annotations

import keras
import tensorflow as tf

from kbert.layers import kernels
from kbert.layers.dense import Dense
from kbert.layers.dropout import Dropout


@keras.saving.register_keras_serializable(package="kbert")
class MultiHeadSelfAttention(keras.layers.Layer):
    """Scaled dot-product self-attention over `num_heads` heads, query/key/value projected by one fused matmul.

    Call with `x` `[batch_size, seq_length, hidden_size]` and `padding_mask` `[batch_size, seq_length]` (1 = real
    token); returns the attended output `[batch_size, seq_length, hidden_size]`, with `return_probabilities` also the
    attention probabilities `[batch_size, num_heads, seq_length, seq_length]` (float32, exactly 0 on padded keys).
    Softmax runs in float32.
    """

    def __init__(self, hidden_size: int, num_heads: int, dropout: float = 0.1, initializer_range: float = 0.02,
                 **kwargs):
        super().__init__(**kwargs)
        if hidden_size % num_heads:
            raise ValueError(f"hidden_size ({hidden_size}) must be divisible by num_heads ({num_heads})")
        # === Layers ===
        # The fused kernel is [hidden, 3 * hidden]: columns are query, key, value, each laid out head by head.
        self.qkv_dense = Dense(3 * hidden_size, initializer_range=initializer_range, dtype=self.dtype_policy,
                               name="qkv_dense")
        self.output_dense = Dense(hidden_size, initializer_range=initializer_range, dtype=self.dtype_policy,
                                  name="output_dense")
        self.dropout = Dropout(dropout, dtype=self.dtype_policy, name="dropout")
        # === Config ===
        self.hidden_size = hidden_size
        self.num_heads = num_heads
        self.head_size = hidden_size // num_heads
        self.dropout_rate = dropout
        self.initializer_range = initializer_range

    def build(self, x_shape, padding_mask_shape=None, query_positions_shape=None):
        self.qkv_dense.build((None, self.hidden_size))
        self.output_dense.build((None, self.hidden_size))

    def call(self, x, padding_mask, query_positions=None, return_probabilities=False, training=None):
        """With `query_positions` `[batch_size, num_queries]`, only those positions attend (keys and values still
        come from every position): outputs are `[batch_size, num_queries, ...]`. Pretraining uses this in the last
        layer, whose other positions nobody reads. Returns `(output, probabilities)` with `return_probabilities`."""
        batch_size = tf.shape(x)[0]
        heads, size, hidden = self.num_heads, self.head_size, self.hidden_size

        def split_heads(t, parts):  # [batch, length, parts * hidden] -> parts x [batch, heads, length, size]
            t = tf.reshape(t, (batch_size, tf.shape(t)[1], parts, heads, size))
            return tf.unstack(tf.transpose(t, (2, 0, 3, 1, 4)), num=parts)

        if query_positions is None:
            query, key, value = split_heads(self.qkv_dense(x), 3)
        else:
            key, value = split_heads(self.qkv_dense(x, columns=slice(hidden, None)), 2)
            picked = tf.gather(x, query_positions, batch_dims=1)
            (query,) = split_heads(self.qkv_dense(picked, columns=slice(0, hidden)), 1)
        scores = tf.matmul(query, key, transpose_b=True)  # [batch, heads, queries, keys]
        # Padded keys get -1e9 before the softmax, so their probability is exactly 0 in float32.
        key_bias = (1.0 - tf.cast(padding_mask, tf.float32)) * -1e9
        scale = size ** -0.5
        seed = self.dropout.step_seed(training)
        probabilities = None
        if return_probabilities or seed is None:  # the float32 maps (before dropout)
            probabilities = tf.nn.softmax(tf.cast(scores, tf.float32) * scale + key_bias[:, None, None, :])
        if seed is None:
            weights = tf.cast(probabilities, self.compute_dtype)
        else:  # softmax and dropout in one pass each way
            weights = kernels.attention_weights(scores, key_bias, scale, self.dropout.rate, seed)
        context = tf.transpose(tf.matmul(weights, value), (0, 2, 1, 3))  # [batch, queries, heads, size]
        context = tf.reshape(context, (batch_size, tf.shape(query)[2], hidden))
        output = self.output_dense(context)
        return (output, probabilities) if return_probabilities else output

    def get_config(self):
        config = super().get_config()
        config.update(hidden_size=self.hidden_size, num_heads=self.num_heads, dropout=self.dropout_rate,
                      initializer_range=self.initializer_range)
        return config

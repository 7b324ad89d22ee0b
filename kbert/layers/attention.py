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
    token); returns the attended output `[batch_size, seq_length, hidden_size]` and the attention probabilities
    `[batch_size, num_heads, seq_length, seq_length]` (float32, exactly 0 on padded keys). Softmax runs in float32.
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

    def call(self, x, padding_mask, query_positions=None, training=None):
        """With `query_positions` `[batch_size, num_queries]`, only those positions attend (keys and values still
        come from every position): outputs are `[batch_size, num_queries, ...]`. Pretraining uses this in the last
        layer, whose other positions nobody reads."""
        batch_size, seq_length = tf.shape(x)[0], tf.shape(x)[1]
        heads, size = self.num_heads, self.head_size
        if query_positions is None:
            qkv = tf.reshape(self.qkv_dense(x), (batch_size, seq_length, 3, heads, size))
            query, key, value = tf.unstack(tf.transpose(qkv, (2, 0, 3, 1, 4)))  # each [batch, heads, seq, size]
        else:
            kernel = tf.convert_to_tensor(self.qkv_dense.kernel.value)
            bias = tf.convert_to_tensor(self.qkv_dense.bias.value)
            rows = tf.reshape(x, (-1, self.hidden_size))
            kv = tf.nn.bias_add(tf.matmul(rows, kernel[:, self.hidden_size:]), bias[self.hidden_size:])
            key, value = tf.unstack(tf.transpose(tf.reshape(kv, (batch_size, seq_length, 2, heads, size)),
                                                 (2, 0, 3, 1, 4)))
            picked = tf.gather(x, query_positions, batch_dims=1)
            num_queries = tf.shape(query_positions)[1]
            query = tf.nn.bias_add(tf.matmul(tf.reshape(picked, (-1, self.hidden_size)), kernel[:, :self.hidden_size]),
                                   bias[:self.hidden_size])
            query = tf.transpose(tf.reshape(query, (batch_size, num_queries, heads, size)), (0, 2, 1, 3))
        scores = tf.matmul(query, key, transpose_b=True)
        # Padded keys get -1e9 before the softmax, so their probability is exactly 0 in float32.
        key_bias = (1.0 - tf.cast(padding_mask, tf.float32)) * -1e9
        # The float32 maps this layer hands back; a training step that does not read them never computes them.
        scale = size ** -0.5
        probabilities = tf.nn.softmax(tf.cast(scores, tf.float32) * scale + key_bias[:, None, None, :])
        seed = self.dropout.step_seed(training)
        if seed is None:
            weights = tf.cast(probabilities, self.compute_dtype)
        else:  # softmax and dropout in one pass each way
            weights = kernels.attention_weights(scores, key_bias, scale, self.dropout.rate, seed)
        context = tf.transpose(tf.matmul(weights, value), (0, 2, 1, 3))  # [batch, queries, heads, size]
        context = tf.reshape(context, (batch_size, tf.shape(query)[2], self.hidden_size))
        return self.output_dense(context), probabilities

    def compute_output_shape(self, x_shape, padding_mask_shape=None, query_positions_shape=None):
        return x_shape, (x_shape[0], self.num_heads, x_shape[1], x_shape[1])

    def get_config(self):
        config = super().get_config()
        config.update(hidden_size=self.hidden_size, num_heads=self.num_heads, dropout=self.dropout_rate,
                      initializer_range=self.initializer_range)
        return config

"""Multi-head self-attention with a padding mask, able to hand back its attention probabilities."""

from __future__ import annotations

import keras
from keras import ops

from kbert.layers.initializers import bert_initializer


@keras.saving.register_keras_serializable(package="kbert")
class MultiHeadSelfAttention(keras.layers.Layer):
    """Scaled dot-product self-attention over `num_heads` heads, query/key/value projected by one fused matmul.

    Call with `x` `[batch_size, seq_length, hidden_size]` and `padding_mask` `[batch_size, seq_length]` (1 = real
    token); returns the attended output `[batch_size, seq_length, hidden_size]` and the attention probabilities
    `[batch_size, num_heads, seq_length, seq_length]` (float32, 0 on padded keys). Softmax runs in float32.
    """

    def __init__(self, hidden_size: int, num_heads: int, dropout: float = 0.1, initializer_range: float = 0.02,
                 **kwargs):
        super().__init__(**kwargs)
        if hidden_size % num_heads:
            raise ValueError(f"hidden_size ({hidden_size}) must be divisible by num_heads ({num_heads})")
        # === Layers ===
        # The fused kernel is [hidden, 3 * hidden]: columns are query, key, value, each laid out head by head.
        self.qkv_dense = keras.layers.Dense(3 * hidden_size, kernel_initializer=bert_initializer(initializer_range),
                                            dtype=self.dtype_policy, name="qkv_dense")
        self.output_dense = keras.layers.Dense(hidden_size, kernel_initializer=bert_initializer(initializer_range),
                                               dtype=self.dtype_policy, name="output_dense")
        self.dropout = keras.layers.Dropout(dropout, dtype=self.dtype_policy, name="dropout")
        # === Config ===
        self.hidden_size = hidden_size
        self.num_heads = num_heads
        self.head_size = hidden_size // num_heads
        self.dropout_rate = dropout
        self.initializer_range = initializer_range

    def build(self, x_shape, padding_mask_shape=None):
        self.qkv_dense.build((None, None, self.hidden_size))
        self.output_dense.build((None, None, self.hidden_size))

    def call(self, x, padding_mask, training=None):
        batch_size, seq_length = ops.shape(x)[0], ops.shape(x)[1]
        qkv = ops.reshape(self.qkv_dense(x), (batch_size, seq_length, 3, self.num_heads, self.head_size))
        qkv = ops.transpose(qkv, (2, 0, 3, 1, 4))  # [3, batch, heads, seq, head_size]
        query, key, value = qkv[0], qkv[1], qkv[2]
        query = query * ops.cast(self.head_size ** -0.5, query.dtype)
        scores = ops.cast(ops.matmul(query, ops.transpose(key, (0, 1, 3, 2))), "float32")
        # Padded keys get -1e9 before the softmax, so their probability is exactly 0 in float32.
        key_is_padding = 1.0 - ops.cast(padding_mask, "float32")
        scores = scores + key_is_padding[:, None, None, :] * -1e9
        probabilities = ops.softmax(scores, axis=-1)
        dropped = self.dropout(ops.cast(probabilities, self.compute_dtype), training=training)
        context = ops.matmul(dropped, value)  # [batch, heads, seq, head_size]
        context = ops.reshape(ops.transpose(context, (0, 2, 1, 3)), (batch_size, seq_length, self.hidden_size))
        return self.output_dense(context), probabilities

    def compute_output_shape(self, x_shape, padding_mask_shape=None):
        return x_shape, (x_shape[0], self.num_heads, x_shape[1], x_shape[1])

    def get_config(self):
        config = super().get_config()
        config.update(hidden_size=self.hidden_size, num_heads=self.num_heads, dropout=self.dropout_rate,
                      initializer_range=self.initializer_range)
        return config

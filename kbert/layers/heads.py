"""Output heads on top of the encoder: pooler, masked-LM, next-sentence and classifier."""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from kbert.layers.dense import Dense
from kbert.layers.dropout import Dropout
from kbert.layers.normalization import LayerNorm


@keras.saving.register_keras_serializable(package="kbert")
class Pooler(keras.layers.Layer):
    """Dense + tanh on the `[CLS]` position: `[batch_size, seq_length, hidden_size]` -> `[batch_size, hidden_size]`."""

    def __init__(self, hidden_size: int, initializer_range: float = 0.02, **kwargs):
        super().__init__(**kwargs)
        self.dense = Dense(hidden_size, activation="tanh", initializer_range=initializer_range,
                           dtype=self.dtype_policy, name="dense")
        self.hidden_size = hidden_size
        self.initializer_range = initializer_range

    def build(self, sequence_shape):
        self.dense.build((None, self.hidden_size))

    def call(self, sequence_output):
        return self.dense(sequence_output[:, 0, :])

    def compute_output_shape(self, sequence_shape):
        return (sequence_shape[0], self.hidden_size)

    def get_config(self):
        config = super().get_config()
        config.update(hidden_size=self.hidden_size, initializer_range=self.initializer_range)
        return config


@keras.saving.register_keras_serializable(package="kbert")
class MaskedLMHead(keras.layers.Layer):
    """Predicts the tokens at the masked positions only, projecting onto the (tied) token embedding table.

    Call with `sequence_output` `[batch_size, seq_length, hidden_size]`, `mask_positions`
    `[batch_size, num_predictions]` and the token table `[vocab_size, hidden_size]` (the embedding layer's weights,
    passed at call time so the tie needs no shared-layer bookkeeping); returns logits
    `[batch_size, num_predictions, vocab_size]` in float32 under every precision policy.
    """

    def __init__(self, vocab_size: int, hidden_size: int, activation: str = "gelu", layer_norm_eps: float = 1e-12,
                 initializer_range: float = 0.02, **kwargs):
        super().__init__(**kwargs)
        # === Layers ===
        self.transform_dense = Dense(hidden_size, activation=activation, initializer_range=initializer_range,
                                     dtype=self.dtype_policy, name="transform_dense")
        self.layer_norm = LayerNorm(layer_norm_eps, dtype=self.dtype_policy, name="layer_norm")
        # === Config ===
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.activation = activation
        self.layer_norm_eps = layer_norm_eps
        self.initializer_range = initializer_range

    def build(self, sequence_output_shape=None, mask_positions_shape=None, token_table_shape=None):
        self.transform_dense.build((None, self.hidden_size))
        self.layer_norm.build((None, self.hidden_size))
        self.output_bias = self.add_weight(shape=(self.vocab_size,), initializer="zeros", name="output_bias")

    def call(self, sequence_output, mask_positions, token_table):
        gathered = tf.gather(sequence_output, tf.cast(mask_positions, tf.int32), batch_dims=1)
        x = self.layer_norm(self.transform_dense(gathered))
        # The logits are accumulated and returned in float32 whatever the policy: bfloat16 logits round away the
        # small differences between characters that the model learns from, which delays leaving the early plateau.
        rows = tf.cast(tf.reshape(x, (-1, self.hidden_size)), "float32")
        logits = tf.matmul(rows, tf.cast(token_table, "float32"), transpose_b=True)
        logits = tf.nn.bias_add(logits, tf.cast(self.output_bias, "float32"))
        return tf.reshape(logits, tf.concat([tf.shape(mask_positions), [self.vocab_size]], axis=0))

    def compute_output_shape(self, sequence_output_shape, mask_positions_shape, token_table_shape=None):
        return (*mask_positions_shape, self.vocab_size)

    def get_config(self):
        config = super().get_config()
        config.update(vocab_size=self.vocab_size, hidden_size=self.hidden_size, activation=self.activation,
                      layer_norm_eps=self.layer_norm_eps, initializer_range=self.initializer_range)
        return config


@keras.saving.register_keras_serializable(package="kbert")
class ClassifierHead(keras.layers.Layer):
    """Dropout, then dense to float32 logits: `[batch_size, hidden_size]` -> `[batch_size, num_classes]`.

    With `num_classes=2` and no dropout it is BERT's next-sentence head (`cls/seq_relationship`).
    """

    def __init__(self, num_classes: int, dropout: float = 0.0, initializer_range: float = 0.02, **kwargs):
        super().__init__(**kwargs)
        self.dropout = Dropout(dropout, dtype=self.dtype_policy, name="dropout")
        self.dense = Dense(num_classes, initializer_range=initializer_range, dtype=self.dtype_policy, name="dense")
        self.num_classes = num_classes
        self.dropout_rate = dropout
        self.initializer_range = initializer_range

    def build(self, pooled_shape):
        self.dense.build(pooled_shape)

    def call(self, pooled_output, training=None):
        return ops.cast(self.dense(self.dropout(pooled_output, training=training)), "float32")

    def compute_output_shape(self, pooled_shape):
        return (pooled_shape[0], self.num_classes)

    def get_config(self):
        config = super().get_config()
        config.update(num_classes=self.num_classes, dropout=self.dropout_rate,
                      initializer_range=self.initializer_range)
        return config

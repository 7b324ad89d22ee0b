"""A dense projection that always runs as one 2-D matmul (oneDNN's fastest path) with a fused bias and activation."""

from __future__ import annotations

import keras
import tensorflow as tf

from kbert.layers import kernels
from kbert.layers.initializers import bert_initializer

ACTIVATIONS = (None, "gelu", "gelu_approximate", "tanh")


@keras.saving.register_keras_serializable(package="kbert")
class Dense(keras.layers.Layer):
    """`activation(x @ kernel + bias)` on `[..., input_size]` -> `[..., units]`; weights `kernel` `[input_size, units]`
    and `bias` `[units]`. GELU is fused with the bias add into one float32 kernel."""

    def __init__(self, units: int, activation: str | None = None, initializer_range: float = 0.02, **kwargs):
        super().__init__(**kwargs)
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
        self.units = units
        self.activation = activation
        self.initializer_range = initializer_range

    def build(self, x_shape):
        self.kernel = self.add_weight(shape=(x_shape[-1], self.units), initializer=bert_initializer(
            self.initializer_range), name="kernel")
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")

    def call(self, x, columns: slice | None = None):
        """With `columns`, a slice of the output units, only those are computed (the attention's last layer
        projects queries at a few rows and keys and values at all)."""
        kernel, bias = tf.convert_to_tensor(self.kernel.value), tf.convert_to_tensor(self.bias.value)
        if columns is not None:
            kernel, bias = kernel[:, columns], bias[columns]
        leading = tf.shape(x)[:-1]
        y = tf.matmul(tf.reshape(x, [-1, tf.shape(x)[-1]]), kernel)
        if self.activation == "gelu":
            y = kernels.bias_gelu(y, bias)
        elif self.activation == "gelu_approximate":
            y = kernels.bias_gelu_approximate(y, bias)
        else:
            y = tf.nn.bias_add(y, bias)
            if self.activation == "tanh":
                y = tf.tanh(y)
        return tf.reshape(y, tf.concat([leading, tf.shape(bias)], axis=0))

    def compute_output_shape(self, x_shape):
        return (*x_shape[:-1], self.units)

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, activation=self.activation, initializer_range=self.initializer_range)
        return config

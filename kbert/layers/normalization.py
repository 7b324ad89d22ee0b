"""LayerNorm with an optional residual input, run as one fused float32 kernel."""

from __future__ import annotations

import keras
import tensorflow as tf

from kbert.layers import kernels


@keras.saving.register_keras_serializable(package="kbert")
class LayerNorm(keras.layers.Layer):
    """`LayerNorm(x + residual)` over the last axis with weights `gamma` and `beta`; float32 inside, returns the
    compute dtype. Any shape `[..., hidden_size]`."""

    def __init__(self, epsilon: float = 1e-12, **kwargs):
        # Weights stay float32: the kernel computes in float32 whatever the policy.
        super().__init__(autocast=False, **kwargs)
        self.epsilon = epsilon

    def build(self, x_shape, residual_shape=None):
        self.gamma = self.add_weight(shape=(x_shape[-1],), initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=(x_shape[-1],), initializer="zeros", name="beta")

    def call(self, x, residual=None):
        """`LayerNorm(x + residual)`, the sum made inside the kernel so that it is not written out first."""
        x = keras.ops.cast(x, self.compute_dtype)
        # Tensors, not variables, go into the compiled kernel: under MirroredStrategy a distributed variable
        # passed in loses its gradient.
        gamma, beta = tf.convert_to_tensor(self.gamma.value), tf.convert_to_tensor(self.beta.value)
        if residual is not None:
            residual = keras.ops.cast(residual, self.compute_dtype)
        return kernels.residual_layer_norm(x, residual, gamma, beta, self.epsilon)

    def compute_output_shape(self, x_shape, residual_shape=None):
        return x_shape

    def get_config(self):
        config = super().get_config()
        config.update(epsilon=self.epsilon)
        return config

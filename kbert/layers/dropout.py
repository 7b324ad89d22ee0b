"""Dropout with a cheaper random source than Keras' (a keyed hash fused by XLA: `kernels.dropout`), seeded
the Keras way."""

from __future__ import annotations

import keras
import tensorflow as tf

from kbert.layers import kernels


@keras.saving.register_keras_serializable(package="kbert")
class Dropout(keras.layers.Layer):
    """Inverted dropout at `rate` during training, identity otherwise; any shape."""

    def __init__(self, rate: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"dropout rate must be in [0, 1), got {rate}")
        self.rate = rate
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed) if rate > 0 else None

    def call(self, x, training=None):
        seed = self.step_seed(training)
        return x if seed is None else kernels.dropout(x, self.rate, seed)

    def step_seed(self, training=None):
        """This call's int32 `[2]` seed (advancing the generator), or None when nothing is dropped. A kernel that
        fuses this dropout into a bigger pass (`kernels.attention_weights`) takes it with `self.rate`."""
        if not training or self.rate == 0.0:
            return None
        # Keras keeps seed state as int64; stateless TF ops (and XLA) want int32.
        return tf.cast(tf.math.floormod(self.seed_generator.next(), 2**31 - 1), tf.int32)

    def compute_output_shape(self, x_shape):
        return x_shape

    def get_config(self):
        config = super().get_config()
        config.update(rate=self.rate, seed=self.seed)
        return config

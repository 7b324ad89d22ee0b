"""Dropout from the keyed hash (kbert.layers.kernels.dropout): the drop rate, independence within and across masks,
the gradient's mask, and the layer's training switch and seeding."""

import numpy as np
import pytest
import tensorflow as tf

from kbert.layers import kernels
from kbert.layers.dropout import Dropout

SIZE = 1 << 20


def _kept(rate, seed, shape=(SIZE,)):
    return kernels.dropout(tf.ones(shape), rate, tf.constant(seed, tf.int32)).numpy() != 0


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.9])
def test_the_drop_rate_is_the_asked_one_within_sampling_error(rate):
    kept = _kept(rate, [5, 11])
    sigma = np.sqrt(rate * (1 - rate) / SIZE)
    assert abs((1 - kept.mean()) - rate) < 5 * sigma + 1e-5


def test_kept_values_are_scaled_so_the_expectation_is_unchanged():
    x = tf.random.stateless_normal([SIZE], [1, 2])
    y = kernels.dropout(x, 0.25, tf.constant([3, 4])).numpy()
    kept = y != 0
    np.testing.assert_allclose(y[kept], x.numpy()[kept] / (1 - 0.25), rtol=1e-6)


def test_neighbouring_elements_and_the_two_halves_of_a_word_are_independent():
    kept = _kept(0.5, [7, 9]).astype(np.float64)
    for lag in (1, 2, 3, 64, 1024):  # lag 1 pairs the two 16-bit halves of one 32-bit hash
        correlation = np.corrcoef(kept[:-lag], kept[lag:])[0, 1]
        assert abs(correlation) < 5 / np.sqrt(SIZE), lag


def test_masks_of_nearby_seeds_are_unrelated():
    """Keras' seed generator steps the second word by one per call and layers differ in the first."""
    base = _kept(0.5, [100, 200]).astype(np.float64)
    for other in ([100, 201], [100, 202], [101, 200], [200, 100]):
        agreement = (base == _kept(0.5, other)).mean()
        assert abs(agreement - 0.5) < 5 * 0.5 / np.sqrt(SIZE), other
    assert (base == _kept(0.5, [100, 200])).all()  # and the same seed gives the same mask


def test_every_position_of_a_multidimensional_tensor_is_drawn_separately():
    kept = _kept(0.5, [1, 1], shape=(8, 4, 32, 32))
    assert 0.45 < kept.mean() < 0.55
    assert len({row.tobytes() for row in kept.reshape(-1, 32)}) == kept.size // 32  # no repeated rows


def test_the_gradient_flows_through_the_same_mask():
    x = tf.random.stateless_normal([64, 96], [1, 2])
    seed = tf.constant([8, 9])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = kernels.dropout(x, 0.3, seed)
    gradient = tape.gradient(y, x).numpy()
    kept = y.numpy() != 0
    np.testing.assert_allclose(gradient, np.where(kept, 1 / 0.7, 0.0), rtol=1e-5)  # the rate in 1/65536ths


@pytest.mark.parametrize("dtype", [tf.bfloat16, tf.float16])
def test_sixteen_bit_inputs_keep_their_dtype(dtype):
    y = kernels.dropout(tf.ones([1000], dtype), 0.1, tf.constant([1, 2]))
    assert y.dtype == dtype and 0.8 < float(tf.reduce_mean(tf.cast(y != 0, tf.float32))) < 1.0


def test_the_layer_drops_only_in_training_and_draws_a_new_mask_each_call():
    layer = Dropout(0.5, seed=3)
    x = tf.ones([4096])
    assert (layer(x, training=False).numpy() == 1).all()
    first, second = layer(x, training=True).numpy(), layer(x, training=True).numpy()
    assert 0.4 < (first == 0).mean() < 0.6 and (first != second).any()
    again = Dropout(0.5, seed=3)
    np.testing.assert_array_equal(again(x, training=True).numpy(), first)  # the same seed replays the same masks

"""The fused XLA kernels (kbert.layers.kernels) against the plain TensorFlow formulas they replace, value and
gradient, with and without the dropout that attention's kernel fuses; the reference runs in float64 and is
differentiated by autodiff."""

import numpy as np
import pytest
import tensorflow as tf

from kbert.layers import kernels

SEED = tf.constant([12, 34])


def _dropout_mask(shape, rate):
    """The mask `kernels.dropout` draws for SEED, scaled: what the fused kernels must reproduce."""
    return kernels.dropout(tf.ones(shape), rate, SEED).numpy().astype(np.float64)


def _value_and_gradients(function, inputs, dy):
    inputs = [tf.convert_to_tensor(value) for value in inputs]
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        y = function(*inputs)
    gradients = tape.gradient(y, inputs, output_gradients=tf.cast(dy, y.dtype))
    return [y.numpy()] + [np.zeros(v.shape) if g is None else g.numpy() for v, g in zip(inputs, gradients, strict=True)]


def _assert_all_close(got, want, rtol, atol):
    for index, (g, w) in enumerate(zip(got, want, strict=True)):
        np.testing.assert_allclose(np.asarray(g, np.float64), w, rtol=rtol, atol=atol, err_msg=f"output {index}")


def _normal(shape, seed, scale=1.0):
    return (tf.random.stateless_normal(shape, [seed, 7], dtype=tf.float64) * scale).numpy()


def _reference_layer_norm(x, residual, gamma, beta):
    h = x + (0.0 if residual is None else residual)
    mean, variance = tf.nn.moments(h, axes=[-1], keepdims=True)
    return (h - mean) * tf.math.rsqrt(variance + 1e-12) * gamma + beta


@pytest.mark.parametrize("with_residual", [True, False])
def test_layer_norm_matches_the_formula(with_residual):
    shape = (3, 17, 48)
    x, residual, dy = _normal(shape, 1, 3.0), _normal(shape, 2), _normal(shape, 3)
    gamma, beta = 1.0 + _normal((48,), 4, 0.2), _normal((48,), 5, 0.2)

    def fused(x, residual, gamma, beta):
        return kernels.residual_layer_norm(x, residual if with_residual else None, gamma, beta, 1e-12)

    def reference(x, residual, gamma, beta):
        return _reference_layer_norm(x, residual if with_residual else None, gamma, beta)

    inputs = [x, residual, gamma, beta]
    got = _value_and_gradients(fused, [v.astype(np.float32) for v in inputs], dy)
    want = _value_and_gradients(reference, inputs, dy)
    _assert_all_close(got, want, rtol=2e-4, atol=2e-4)


def test_layer_norm_gradient_in_bfloat16_is_the_float32_one_rounded():
    shape = (64, 256)
    x, residual, dy = _normal(shape, 1, 3.0), _normal(shape, 2), _normal(shape, 3)
    gamma, beta = 1.0 + _normal((256,), 4, 0.2), _normal((256,), 5, 0.2)

    def fused(dtype):
        def apply(x, residual):
            return kernels.residual_layer_norm(x, residual, gamma.astype(np.float32), beta.astype(np.float32),
                                               1e-12)
        return _value_and_gradients(apply, [tf.cast(x, dtype), tf.cast(residual, dtype)], dy)

    exact = fused(tf.float32)
    _assert_all_close(fused(tf.bfloat16), exact, rtol=0, atol=0.05)


@pytest.mark.parametrize("approximate", [False, True])
def test_bias_gelu_matches_tensorflow_gelu_with_the_bias_gradient_fused(approximate):
    x, bias, dy = _normal((5, 9, 64), 1, 2.0), _normal((64,), 2), _normal((5, 9, 64), 3)
    fused = kernels.bias_gelu_approximate if approximate else kernels.bias_gelu

    def reference(x, bias):
        return tf.nn.gelu(x + bias, approximate=approximate)

    got = _value_and_gradients(fused, [x.astype(np.float32), bias.astype(np.float32)], dy)
    _assert_all_close(got, _value_and_gradients(reference, [x, bias], dy), rtol=1e-5, atol=2e-5)


@pytest.mark.parametrize("rate", [0.0, 0.1])
def test_attention_weights_match_softmax_then_dropout(rate):
    batch, heads, length = 2, 3, 24
    scores, dy = _normal((batch, heads, length, length), 1, 4.0), _normal((batch, heads, length, length), 2)
    padding = np.ones((batch, length))
    padding[1, 15:] = 0
    key_bias = (1.0 - padding) * -1e9
    mask = _dropout_mask(scores.shape, rate) if rate else 1.0

    def fused(scores):
        return kernels.attention_weights(scores, key_bias.astype(np.float32), 0.125, rate, SEED if rate else None)

    def reference(scores):
        return tf.nn.softmax(scores * 0.125 + key_bias[:, None, None, :]) * mask

    got = _value_and_gradients(fused, [scores.astype(np.float32)], dy)
    _assert_all_close(got, _value_and_gradients(reference, [scores], dy), rtol=1e-5, atol=1e-6)
    assert (got[0][1, :, :, 15:] == 0).all()  # padded keys get no weight


@pytest.mark.parametrize("shape", [(1, 1, 4, 6), (1, 1, 5, 3), (7, 1, 2, 5)])
def test_attention_weights_with_dropout_on_one_row_an_odd_row_and_odd_rows(shape):
    """The kernels run in two halves along the first axis where they can (an empty half for one row, a whole call
    for an odd row size); the mask and the numbers must not depend on it."""
    scores, dy = _normal(shape, 1, 3.0), _normal(shape, 3)
    key_bias = np.zeros((shape[0], shape[-1]))
    mask = _dropout_mask(shape, 0.5)

    def fused(scores):
        return kernels.attention_weights(scores, key_bias.astype(np.float32), 0.5, 0.5, SEED)

    def reference(scores):
        return tf.nn.softmax(scores * 0.5 + key_bias[:, None, None, :]) * mask

    got = _value_and_gradients(fused, [scores.astype(np.float32)], dy)
    _assert_all_close(got, _value_and_gradients(reference, [scores], dy), rtol=1e-5, atol=1e-6)


def test_the_whole_batch_call_off_cpu_gives_the_halves_numbers(monkeypatch):
    """Off CPU (`halves_pay` false) each kernel runs on the whole batch: the same values, gradients and dropout."""
    shape = (6, 2, 4, 4)
    inputs = [_normal(shape, 1, 3.0).astype(np.float32)]
    key_bias = np.zeros((6, 4), np.float32)

    def fused(scores):
        return kernels.attention_weights(scores, key_bias, 0.5, 0.3, SEED)

    def layer_norm(x, residual):
        return kernels.residual_layer_norm(x, residual, tf.ones([4]), tf.zeros([4]), 1e-12)

    monkeypatch.setattr(kernels, "halves_pay", lambda: True)
    halves = _value_and_gradients(fused, inputs, _normal(shape, 3))
    halves_norm = _value_and_gradients(layer_norm, [inputs[0], inputs[0][::-1].copy()], _normal(shape, 3))
    monkeypatch.setattr(kernels, "halves_pay", lambda: False)
    whole = _value_and_gradients(fused, inputs, _normal(shape, 3))
    whole_norm = _value_and_gradients(layer_norm, [inputs[0], inputs[0][::-1].copy()], _normal(shape, 3))
    _assert_all_close(whole, [np.asarray(v, np.float64) for v in halves], rtol=1e-6, atol=1e-6)
    _assert_all_close(whole_norm, [np.asarray(v, np.float64) for v in halves_norm], rtol=1e-6, atol=1e-6)

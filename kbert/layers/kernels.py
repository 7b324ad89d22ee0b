"""Elementwise kernels of the encoder, each fused by XLA into one pass while the matmuls stay on oneDNN.

On CPUs, TensorFlow runs bfloat16 elementwise ops one slow pass at a time; compiling just these small functions
with XLA (the surrounding step need not be) computes them in float32 in a single pass, forward and backward.
"""

from __future__ import annotations

import math

import tensorflow as tf

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


@tf.function(jit_compile=True)
def bias_gelu(x, bias):
    """Exact GELU of `x + bias`, `x * Phi(x)` with the normal CDF via erf (Hugging Face's `gelu`)."""
    h = tf.cast(x, tf.float32) + tf.cast(bias, tf.float32)
    return tf.cast(0.5 * h * (1.0 + tf.math.erf(h * (1.0 / math.sqrt(2.0)))), x.dtype)


@tf.function(jit_compile=True)
def bias_gelu_approximate(x, bias):
    """The tanh GELU of `x + bias` (Google's), written as `h * sigmoid(2u)` = `0.5 h (1 + tanh(u))`, which XLA
    vectorises better than tanh."""
    h = tf.cast(x, tf.float32) + tf.cast(bias, tf.float32)
    u = _SQRT_2_OVER_PI * (h + 0.044715 * h * h * h)
    return tf.cast(h * tf.sigmoid(2.0 * u), x.dtype)


@tf.function(jit_compile=True)
def layer_norm(x, gamma, beta, epsilon):
    """LayerNorm over the last axis, computed in float32 and returned in `x.dtype`."""
    h = tf.cast(x, tf.float32)
    mean, variance = tf.nn.moments(h, axes=[-1], keepdims=True)
    return tf.cast((h - mean) * tf.math.rsqrt(variance + epsilon) * gamma + beta, x.dtype)


@tf.function(jit_compile=True)
def residual_layer_norm(x, residual, gamma, beta, epsilon):
    """LayerNorm of `x + residual` (the post-LN residual block), in float32, in one pass."""
    h = tf.cast(x, tf.float32) + tf.cast(residual, tf.float32)
    mean, variance = tf.nn.moments(h, axes=[-1], keepdims=True)
    return tf.cast((h - mean) * tf.math.rsqrt(variance + epsilon) * gamma + beta, x.dtype)


def dropout(x, rate: float, seed):
    """Inverted dropout whose random bits come from hashing each element's index with `seed`, in one XLA pass.

    TensorFlow's Philox generator was a tenth of a BERT-mini training step on CPU; a counter-based hash (`hash_bits`,
    each 32-bit word deciding two elements by its 16-bit halves) fused with the multiply costs a quarter of that
    (bench/bench_step_parts.py).
    The gradient recomputes the same mask from `seed` instead of storing it. The drop probability is
    `round(rate * 65536) / 65536`, within 8e-6 of `rate`. `seed` is an int32 `[2]` tensor.
    """
    threshold = round(rate * 65536)
    scale = 65536.0 / (65536 - threshold)

    @tf.custom_gradient
    def apply(x):
        return _hash_masked(x, seed, threshold, scale), lambda dy: _hash_masked(dy, seed, threshold, scale)

    return apply(x)


_GOLDEN = 0x9E3779B9  # 2^32 / golden ratio: the Weyl-sequence step of SplitMix


def fmix32(h):
    """murmur3's 32-bit finaliser: a bijection of uint32 whose every output bit depends on every input bit."""
    h = tf.bitwise.bitwise_xor(h, tf.bitwise.right_shift(h, 16)) * tf.constant(0x85EBCA6B, tf.uint32)
    h = tf.bitwise.bitwise_xor(h, tf.bitwise.right_shift(h, 13)) * tf.constant(0xC2B2AE35, tf.uint32)
    return tf.bitwise.bitwise_xor(h, tf.bitwise.right_shift(h, 16))


def hash_bits(counter, seed):
    """32 random-looking bits for each uint32 `counter` (SplitMix32: `fmix32` of a Weyl sequence) in the stream
    chosen by the int32 `[2]` `seed`, whose two words are mixed into one 32-bit starting point."""
    words = tf.bitcast(tf.cast(seed, tf.int32), tf.uint32)
    start = fmix32(tf.bitwise.bitwise_xor(words[0], fmix32(words[1] + tf.constant(_GOLDEN, tf.uint32))))
    return fmix32(counter * tf.constant(_GOLDEN, tf.uint32) + start)


@tf.function(jit_compile=True)
def _hash_masked(x, seed, threshold, scale):
    """`x * scale` where the element's 16 random bits are >= `threshold`, else 0."""
    size = tf.size(x)
    bits = hash_bits(tf.bitcast(tf.range((size + 1) // 2, dtype=tf.int32), tf.uint32), seed)
    halves = tf.reshape(tf.bitcast(bits, tf.uint16), [-1])[:size]
    keep = tf.reshape(halves >= tf.cast(threshold, tf.uint16), tf.shape(x))
    return tf.where(keep, x * tf.cast(scale, x.dtype), tf.zeros_like(x))


@tf.function(jit_compile=True)
def sparse_softmax_cross_entropy(logits, labels):
    """Per-row cross-entropy `logsumexp(logits) - logits[label]` in float32, fused with its gradient by XLA.

    `logits` `[..., num_classes]` in any float dtype (bfloat16 logits are never materialised in float32),
    `labels` int `[...]`; returns float32 `[...]`.
    """
    logits = tf.cast(logits, tf.float32)
    peak = tf.stop_gradient(tf.reduce_max(logits, axis=-1, keepdims=True))
    log_normaliser = tf.math.log(tf.reduce_sum(tf.exp(logits - peak), axis=-1)) + peak[..., 0]
    label_logits = tf.gather(logits, tf.cast(labels, tf.int32)[..., None], batch_dims=len(labels.shape))[..., 0]
    return log_normaliser - label_logits

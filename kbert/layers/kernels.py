"""Elementwise kernels of the encoder, each fused by XLA into one pass while the matmuls stay on oneDNN.

On CPUs, TensorFlow runs bfloat16 elementwise ops one slow pass at a time; compiling just these small functions
with XLA (the surrounding step need not be) computes them in float32 in a single pass, forward and backward.
"""

from __future__ import annotations

import functools
import math

import tensorflow as tf

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _reduce_rows(t):
    """Sums `[..., n]` over every leading axis -> `[n]` (the gradient of a broadcast bias or scale)."""
    return tf.reduce_sum(t, axis=tf.range(tf.rank(t) - 1))


def bias_gelu(x, bias):
    """Exact GELU of `x + bias`, `x * Phi(x)` with the normal CDF via erf (Hugging Face's `gelu`).

    Forward and backward are one float32 XLA pass each; the backward recomputes `x + bias` and uses the closed
    form `Phi(h) + h phi(h)`, and yields the bias gradient in the same pass (no separate BiasAddGrad).
    """
    return _with_gradient(_gelu_forward, _gelu_backward, x, bias)


def bias_gelu_approximate(x, bias):
    """The tanh GELU of `x + bias` (Google's), written as `h * sigmoid(2u)` = `0.5 h (1 + tanh(u))`, which XLA
    vectorises better than tanh; fused forward and closed-form backward like `bias_gelu`."""
    return _with_gradient(_gelu_approximate_forward, _gelu_approximate_backward, x, bias)


def _with_gradient(forward, backward, x, bias):
    @tf.custom_gradient
    def apply(x, bias):
        def gradient(dy):
            halves = _split_call(lambda x, dy, offset: backward(x, bias, dy), (x, dy))
            return _concat([dx for dx, _ in halves]), tf.add_n([d_bias for _, d_bias in halves])

        return _concat(_split_call(lambda x, offset: forward(x, bias), (x,))), gradient

    return apply(x, bias)


def _split_call(function, tensors):
    """`function(*halves, offset)` on the two halves of `tensors` along axis 0; returns each half's result.

    The halves are two independent ops, which TensorFlow's two executor threads run at once: XLA's CPU code for
    these kernels mostly uses one core, and at `base` this made a bf16 training step 1-5% faster (two A/B runs,
    bench/README.md). `offset` is the flat index of the half's first element, so that a dropout mask comes out as
    for the whole tensor. One call when a row's size is unknown or odd (the hash decides elements in pairs, so the
    offset must be even).
    """
    start = tf.zeros([], tf.int32)  # offsets are tensors, so that a new shape is not a new trace of the kernel
    row_size = tensors[0].shape[1:].num_elements()
    if row_size is None or row_size % 2 or not halves_pay():
        return [function(*tensors, start)]
    rows = tf.shape(tensors[0])[0]
    sizes = [rows // 2, rows - rows // 2]
    parts = [(None, None) if t is None else tf.split(t, sizes, axis=0) for t in tensors]
    return [function(*(part[0] for part in parts), start),
            function(*(part[1] for part in parts), sizes[0] * row_size)]


@functools.cache
def halves_pay() -> bool:
    """Whether `_split_call` splits: only on CPU-only machines, where it was measured to pay. A GPU or TPU runs
    each kernel on the whole batch. Decided once per process."""
    return not (tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU"))


def _concat(halves):
    return halves[0] if len(halves) == 1 else tf.concat(halves, axis=0)


@tf.function(jit_compile=True, reduce_retracing=True)
def _gelu_forward(x, bias):
    h = tf.cast(x, tf.float32) + tf.cast(bias, tf.float32)
    return tf.cast(0.5 * h * (1.0 + tf.math.erf(h * _INV_SQRT_2)), x.dtype)


@tf.function(jit_compile=True, reduce_retracing=True)
def _gelu_backward(x, bias, dy):
    h = tf.cast(x, tf.float32) + tf.cast(bias, tf.float32)
    slope = 0.5 * (1.0 + tf.math.erf(h * _INV_SQRT_2)) + h * _INV_SQRT_2PI * tf.exp(-0.5 * h * h)
    dh = tf.cast(dy, tf.float32) * slope
    return tf.cast(dh, x.dtype), tf.cast(_reduce_rows(dh), bias.dtype)


def _gelu_approximate_parts(x, bias):
    h = tf.cast(x, tf.float32) + tf.cast(bias, tf.float32)
    return h, tf.sigmoid(2.0 * _SQRT_2_OVER_PI * (h + 0.044715 * h * h * h))


@tf.function(jit_compile=True, reduce_retracing=True)
def _gelu_approximate_forward(x, bias):
    h, s = _gelu_approximate_parts(x, bias)
    return tf.cast(h * s, x.dtype)


@tf.function(jit_compile=True, reduce_retracing=True)
def _gelu_approximate_backward(x, bias, dy):
    h, s = _gelu_approximate_parts(x, bias)
    slope = s + h * s * (1.0 - s) * 2.0 * _SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044715 * h * h)
    dh = tf.cast(dy, tf.float32) * slope
    return tf.cast(dh, x.dtype), tf.cast(_reduce_rows(dh), bias.dtype)


def residual_layer_norm(x, residual, gamma, beta, epsilon):
    """LayerNorm of `x + residual` (the post-LN residual block; `residual` may be None), in float32.

    Forward and backward are one XLA kernel each, so the sum is never written out. The backward recomputes the
    normalised rows from the inputs and applies the closed form `rstd * (g - mean(g) - xhat * mean(g * xhat))`,
    `g = dy * gamma`, instead of differentiating `tf.nn.moments` step by step, which stored float32 intermediates
    and took more passes.
    """
    epsilon = tf.constant(epsilon, tf.float32)

    def forward():
        return _concat(_split_call(lambda x, residual, offset: _layer_norm_forward(
            x, residual, gamma, beta, epsilon), (x, residual)))

    def gradient(dy):
        halves = _split_call(lambda x, residual, dy, offset: _layer_norm_backward(
            x, residual, gamma, epsilon, dy), (x, residual, dy))
        dx = _concat([half[0] for half in halves])
        dgamma, dbeta = tf.add_n([half[1] for half in halves]), tf.add_n([half[2] for half in halves])
        return (dx, dgamma, dbeta) if residual is None else (dx, dx, dgamma, dbeta)

    if residual is None:
        @tf.custom_gradient
        def apply(x, gamma, beta):
            return forward(), gradient
        return apply(x, gamma, beta)

    @tf.custom_gradient
    def apply_residual(x, residual, gamma, beta):
        return forward(), gradient
    return apply_residual(x, residual, gamma, beta)


def _normalised(x, residual, epsilon):
    """`(h - mean) / sqrt(variance + epsilon)` of `h = x + residual` in float32, and that reciprocal std."""
    h = tf.cast(x, tf.float32)
    if residual is not None:
        h += tf.cast(residual, tf.float32)
    centred = h - tf.reduce_mean(h, axis=-1, keepdims=True)
    inverse_std = tf.math.rsqrt(tf.reduce_mean(centred * centred, axis=-1, keepdims=True) + epsilon)
    return centred * inverse_std, inverse_std


@tf.function(jit_compile=True, reduce_retracing=True)
def _layer_norm_forward(x, residual, gamma, beta, epsilon):
    normalised, _ = _normalised(x, residual, epsilon)
    return tf.cast(normalised * gamma + beta, x.dtype)


@tf.function(jit_compile=True, reduce_retracing=True)
def _layer_norm_backward(x, residual, gamma, epsilon, dy):
    normalised, inverse_std = _normalised(x, residual, epsilon)
    dy = tf.cast(dy, tf.float32)
    g = dy * gamma
    dh = inverse_std * (g - tf.reduce_mean(g, axis=-1, keepdims=True)
                        - normalised * tf.reduce_mean(g * normalised, axis=-1, keepdims=True))
    return tf.cast(dh, x.dtype), _reduce_rows(dy * normalised), _reduce_rows(dy)


def attention_weights(scores, key_bias, scale: float, dropout_rate: float = 0.0, seed=None):
    """`dropout(softmax(scores * scale + key_bias))` over the last axis, in float32, returned in `scores.dtype`.

    `scores` `[batch, heads, queries, keys]` are the raw `q k^T`; `key_bias` `[batch, keys]` float32 (0 on real
    keys, -1e9 on padding). One XLA pass forward; the backward recomputes the softmax from `scores` (no float32
    probabilities are kept) and applies `p * (g - sum(g * p))` in one more pass. The dropout mask is the one
    `dropout(..., dropout_rate, seed)` draws.
    """
    mask = _dropout_arguments(dropout_rate, seed)
    scale = tf.constant(scale, tf.float32)

    @tf.custom_gradient
    def apply(scores):
        def gradient(dy):
            return _concat(_split_call(lambda scores, key_bias, dy, offset: _attention_weights_backward(
                scores, key_bias, scale, dy, *mask, offset), (scores, key_bias, dy)))
        return _concat(_split_call(lambda scores, key_bias, offset: _attention_weights_forward(
            scores, key_bias, scale, *mask, offset), (scores, key_bias))), gradient

    return apply(scores)


def _softmax(scores, key_bias, scale):
    logits = tf.cast(scores, tf.float32) * scale + key_bias[:, None, None, :]
    exp = tf.exp(logits - tf.reduce_max(logits, axis=-1, keepdims=True))
    return exp / tf.reduce_sum(exp, axis=-1, keepdims=True)


@tf.function(jit_compile=True, reduce_retracing=True)
def _attention_weights_forward(scores, key_bias, scale, seed, threshold, dropout_scale, offset):
    p = _masked(_softmax(scores, key_bias, scale), seed, threshold, dropout_scale, offset)
    return tf.cast(p, scores.dtype)


@tf.function(jit_compile=True, reduce_retracing=True)
def _attention_weights_backward(scores, key_bias, scale, dy, seed, threshold, dropout_scale, offset):
    p = _softmax(scores, key_bias, scale)
    g = _masked(tf.cast(dy, tf.float32), seed, threshold, dropout_scale, offset)
    return tf.cast(p * (g - tf.reduce_sum(g * p, axis=-1, keepdims=True)) * scale, scores.dtype)


def _dropout_arguments(rate: float, seed) -> tuple:
    """`(seed, threshold, scale)`, what the kernels take for a dropout at `rate`: the 16-bit drop threshold and the
    inverted-dropout scale; threshold 0 (nothing dropped) without a rate or a seed."""
    if not rate or seed is None:
        return None, 0, tf.constant(1.0)
    threshold = round(rate * 65536)  # stays a Python number: threshold 0 (no mask) traces no mask code
    return seed, threshold, tf.constant(65536.0 / (65536 - threshold))


def dropout(x, rate: float, seed):
    """Inverted dropout whose random bits come from hashing each element's index with `seed`, in one XLA pass.

    TensorFlow's Philox generator was a tenth of a BERT-mini training step on CPU; a counter-based hash (`hash_bits`,
    each 32-bit word deciding two elements by its 16-bit halves) fused with the multiply costs a quarter of that
    (bench/bench_step_parts.py).
    The gradient recomputes the same mask from `seed` instead of storing it. The drop probability is
    `round(rate * 65536) / 65536`, within 8e-6 of `rate`. `seed` is an int32 `[2]` tensor.
    """
    mask = _dropout_arguments(rate, seed)

    @tf.custom_gradient
    def apply(x):
        return _hash_masked(x, *mask), lambda dy: _hash_masked(dy, *mask)

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


@tf.function(jit_compile=True, reduce_retracing=True)
def _hash_masked(x, seed, threshold, scale):
    """`_masked` as its own XLA kernel."""
    return _masked(x, seed, threshold, scale)


def _masked(x, seed, threshold, scale, offset=0):
    """`x * scale` where the element's 16 random bits are >= `threshold`, else 0; `x` itself at threshold 0."""
    if not threshold:
        return x
    return tf.where(_keep(tf.shape(x), seed, threshold, offset), x * tf.cast(scale, x.dtype), tf.zeros_like(x))


def _keep(shape, seed, threshold, offset=0):
    """The dropout keep mask of a tensor of `shape`: element i is kept when the (offset + i)-th 16 bits of the hash
    stream are >= `threshold` (each 32-bit word of `hash_bits` decides two elements, so `offset` is even)."""
    size = tf.reduce_prod(shape)
    counter = tf.range((size + 1) // 2, dtype=tf.int32) + offset // 2
    bits = hash_bits(tf.bitcast(counter, tf.uint32), seed)
    halves = tf.reshape(tf.bitcast(bits, tf.uint16), [-1])[:size]
    return tf.reshape(halves >= tf.cast(threshold, tf.uint16), shape)


@tf.function(jit_compile=True, reduce_retracing=True)
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

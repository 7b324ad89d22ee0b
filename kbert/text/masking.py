"""BERT's masked-LM corruption, vectorised over a batch with stateless random ops (tf.data redoes it each epoch)."""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

# Google's greedy pass over the shuffled words skips a word that would overshoot the budget and goes on with the
# next; each pass here takes words up to the first one that does not fit, and the next pass goes on after it.
_GREEDY_PASSES = 4


def mask_tokens(
    token_ids: tf.Tensor,
    padding_mask: tf.Tensor,
    word_starts: tf.Tensor,
    seed: tf.Tensor,
    *,
    vocab_size: int,
    mask_id: int,
    unmaskable_ids: Sequence[int],
    special_ids: Sequence[int],
    max_predictions_per_seq: int,
    masked_lm_prob: float = 0.15,
) -> dict[str, tf.Tensor]:
    """Chooses masked-LM targets like Google's `create_masked_lm_predictions` and corrupts them 80/10/10.

    About `masked_lm_prob` of each sequence's tokens (counting [CLS] and [SEP], at least 1, at most
    `max_predictions_per_seq`) are chosen, a whole unit at a time: a unit starts where `word_starts` is true and
    runs to the next start. Each chosen token becomes [MASK] 80% of the time, itself 10%, and 10% a random id
    that is not one of `special_ids`. Padding and `unmaskable_ids` ([CLS], [SEP]) are never chosen.

    token_ids, padding_mask: int32 [batch_size, seq_length]; word_starts: bool [batch_size, seq_length] (all true
    for token-level masking); seed: int [2], the stateless seed (same seed, same masks).
    Returns "token_ids" int32 [batch_size, seq_length] (corrupted), "mask_positions" and "mask_ids" int32
    [batch_size, max_predictions_per_seq] (ascending positions, 0 in unused slots), "mask_weights" float32.
    """
    batch_size, seq_length = tf.shape(token_ids)[0], tf.shape(token_ids)[1]
    order_seed, choice_seed, random_id_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
    positions = tf.range(seq_length)[tf.newaxis, :]

    candidates = padding_mask > 0
    for token in unmaskable_ids:
        candidates &= token_ids != token
    starts = candidates & word_starts
    # unit[b, t]: index of the unit token t belongs to within its row (-1 before the first unit).
    unit = tf.cumsum(tf.cast(starts, tf.int32), axis=1) - 1
    in_unit = candidates & (unit >= 0)
    flat_unit = tf.where(in_unit, unit + tf.range(batch_size)[:, tf.newaxis] * seq_length, batch_size * seq_length)
    flat_unit = tf.reshape(flat_unit, [-1])
    unit_lengths = tf.math.unsorted_segment_sum(tf.ones_like(flat_unit), flat_unit, batch_size * seq_length + 1)
    unit_lengths = tf.reshape(unit_lengths[:-1], [batch_size, seq_length])  # [b, k]: tokens in unit k
    num_units = tf.reduce_sum(tf.cast(starts, tf.int32), axis=1, keepdims=True)

    # Visit the units in a random order, taking them while the budget lasts.
    keys = tf.random.stateless_uniform([batch_size, seq_length], order_seed)
    order = tf.argsort(tf.where(positions < num_units, keys, 2.0), axis=1, stable=True)
    lengths = tf.gather(unit_lengths, order, batch_dims=1)
    num_tokens = tf.reduce_sum(padding_mask, axis=1)
    budget = tf.cast(tf.round(tf.cast(num_tokens, tf.float64) * masked_lm_prob), tf.int32)  # as Google's Python
    budget = tf.minimum(max_predictions_per_seq, tf.maximum(1, budget))[:, tf.newaxis]
    taken = tf.zeros_like(starts)
    open_ = positions < num_units
    for _ in range(_GREEDY_PASSES):
        total = tf.cumsum(tf.where(open_, lengths, 0), axis=1)
        fits = open_ & (total <= budget)
        over = open_ & ~fits
        taken |= fits
        budget -= tf.reduce_sum(tf.where(fits, lengths, 0), axis=1, keepdims=True)
        first_over = tf.argmax(tf.cast(over, tf.int32), axis=1, output_type=tf.int32)[:, tf.newaxis]
        open_ &= (positions > first_over) & tf.reduce_any(over, axis=1, keepdims=True)
    taken_units = tf.gather(taken, tf.argsort(order, axis=1), batch_dims=1)  # [b, k]: unit k chosen
    chosen = in_unit & tf.gather(taken_units, tf.maximum(unit, 0), batch_dims=1)

    # 80% [MASK], 10% a random id, 10% unchanged.
    choice = tf.random.stateless_uniform([batch_size, seq_length], choice_seed)
    special_ids = sorted(set(special_ids))
    random_ids = tf.random.stateless_uniform(
        [batch_size, seq_length], random_id_seed, minval=0, maxval=vocab_size - len(special_ids), dtype=tf.int32
    )
    for special in special_ids:  # step over the special ids: a uniform draw from the other ids
        random_ids += tf.cast(random_ids >= special, tf.int32)
    corrupted = tf.where(choice < 0.8, mask_id, tf.where(choice < 0.9, token_ids, random_ids))
    corrupted = tf.where(chosen, corrupted, token_ids)

    slots = tf.sort(tf.where(chosen, positions, seq_length + positions), axis=1)[:, :max_predictions_per_seq]
    used = slots < seq_length
    mask_positions = tf.where(used, slots, 0)
    return {
        "token_ids": corrupted,
        "mask_positions": mask_positions,
        "mask_ids": tf.where(used, tf.gather(token_ids, mask_positions, batch_dims=1), 0),
        "mask_weights": tf.cast(used, tf.float32),
    }

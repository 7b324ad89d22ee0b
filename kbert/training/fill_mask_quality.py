"""Fill-mask on held-out characters, for a pretrainer straight from training and for the character-bigram baseline
on the same characters: the figure a learner sees in the studio, and the line a masked LM must beat.

>>> corpus = load_corpus()
>>> rates = heldout_fill_mask(model, tokenizer, corpus, seq_length=64)  # a BertPretrainer and its tokenizer
>>> rates["top_1"], rates["bigram_top_1"]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import tensorflow as tf

from kbert.models import BertPretrainer
from kbert.text.bigram import BOUNDARY, CharacterBigram
from kbert.text.corpus import Corpus
from kbert.text.masked_characters import MaskedCharacter, masked_characters
from kbert.text.tokenizer import BertTokenizer
from kbert.text.vocab import is_bracketed

EXAMPLES = 1000  # held-out characters tried
TOP_K = 5


def model_guesses(model: BertPretrainer, tokenizer: BertTokenizer, examples: Sequence[MaskedCharacter],
                  seq_length: int, top_k: int = TOP_K, batch_size: int = 128) -> list[list[str]]:
    """The model's `top_k` tokens for each example's hidden character, best first; special tokens and placeholders
    are never guesses (as in the exported fill_mask)."""
    vocab = tokenizer.vocab
    penalty = tf.constant([-1e9 if is_bracketed(token) else 0.0 for token in vocab], tf.float32)
    mask = vocab[tokenizer.mask_id]
    guesses = []
    for start in range(0, len(examples), batch_size):
        texts = [example.masked(mask) for example in examples[start:start + batch_size]]
        features = tokenizer(tf.constant(texts), seq_length=seq_length)
        is_mask = tf.cast(features["token_ids"] == tokenizer.mask_id, tf.int32)
        if not bool(tf.reduce_all(tf.reduce_sum(is_mask, axis=1) == 1)):
            raise ValueError(f"some of {texts} lost its [MASK] at seq_length {seq_length}; use shorter sentences.")
        positions = tf.argmax(is_mask, axis=1, output_type=tf.int32)[:, None]
        logits = model({**features, "mask_positions": positions}, training=False)["mlm_logits"][:, 0, :]
        _, best = tf.math.top_k(tf.cast(logits, tf.float32) + penalty, k=top_k)
        guesses += [[vocab[i] for i in row] for row in best.numpy()]
    return guesses


def bigram_guesses(bigram: CharacterBigram, examples: Sequence[MaskedCharacter], top_k: int = TOP_K
                   ) -> list[list[str]]:
    """The bigram's `top_k` characters for each example, from the characters on either side of it."""
    def around(example: MaskedCharacter) -> tuple[str, str]:
        text, i = example.sentence, example.position
        return (text[i - 1] if i else BOUNDARY), (text[i + 1] if i + 1 < len(text) else BOUNDARY)

    return [bigram.top_k(*around(example), k=top_k) for example in examples]


def hit_rates(examples: Sequence[MaskedCharacter], guesses: Sequence[Sequence[str]]) -> dict[str, float]:
    """The share of examples whose answer is the first guess (`top_1`) and among all the guesses (`top_5`)."""
    count = max(len(examples), 1)
    pairs = list(zip(examples, guesses, strict=True))
    return {"top_1": sum(g[:1] == [e.answer] for e, g in pairs) / count,
            "top_5": sum(e.answer in g[:5] for e, g in pairs) / count}


def heldout_examples(corpus: Corpus, bigram: CharacterBigram, count: int = EXAMPLES, seed: int = 0
                     ) -> list[MaskedCharacter]:
    """`count` held-out characters seen in training (so both systems can name them), from sentences that are not
    training sentences."""
    return masked_characters(corpus.heldout, set(bigram.characters), count, seed,
                             exclude=set(corpus.texts("train")))


def heldout_fill_mask(model: BertPretrainer, tokenizer: BertTokenizer, corpus: Corpus, seq_length: int,
                      count: int = EXAMPLES, seed: int = 0) -> dict[str, Any]:
    """Top-1 / top-5 of the model and of a bigram counted on the corpus's train split, on the same held-out
    characters."""
    bigram = CharacterBigram.fit(corpus.texts("train"))
    examples = heldout_examples(corpus, bigram, count, seed)
    if not examples:
        return {"examples": 0}
    model_rates = hit_rates(examples, model_guesses(model, tokenizer, examples, seq_length))
    bigram_rates = hit_rates(examples, bigram_guesses(bigram, examples))
    return {"examples": len(examples), **model_rates, **{f"bigram_{key}": value for key, value in bigram_rates.items()}}

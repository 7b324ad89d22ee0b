"""BERT's WordPiece tokenizer, in-graph: strings to ids, packed model inputs, and ids back to readable text."""

import os
from collections.abc import Sequence

import tensorflow as tf
import tensorflow_text as tft

from kbert.text.normalization import CJK_CHARS, normalize
from kbert.text.vocab import SPECIAL_TOKENS, load_vocabulary

# Characters written without spaces between them, for display: CJK ideographs, CJK punctuation, full-width forms.
_TIGHT_CHAR = f"[{CJK_CHARS}\u3000-\u303f\uff00-\uffef]"


class BertTokenizer(tf.Module):
    """Google's BERT tokenization as TensorFlow ops: usable in `tf.function`, `tf.data` and SavedModels.

    Gives Hugging Face's `BertTokenizerFast` ids, and a literal "[MASK]" in the text becomes the mask id. Known
    differences: Hugging Face also honours literal [CLS]/[SEP]/[PAD]/[UNK], lower-cases a word-final Σ to σ (Google
    and we: ς), drops unassigned code points, and makes words over 100 characters [UNK] (we: over 100 bytes).

    `fold_full_width` reads full-width ASCII forms as ASCII (see `normalize`); off, as in BERT, for imported
    vocabularies, on for the ones kbert trains.

    >>> tok = BertTokenizer("vocab.txt", lowercase=True)
    >>> tok(["今天天气很好"], ["Let's go out."], seq_length=16)["token_ids"]   # [1, 16] int32
    """

    def __init__(self, vocab: Sequence[str] | str | os.PathLike, lowercase: bool = True,
                 fold_full_width: bool = False, name: str | None = None):
        super().__init__(name=name)
        source = "the vocabulary"
        if isinstance(vocab, (str, os.PathLike)):
            source, vocab = str(vocab), load_vocabulary(vocab)
        self._vocab = tuple(vocab)
        ids = {}
        for index, token in enumerate(self._vocab):
            if token in ids:
                raise ValueError(f"{source}: {token!r} is both token {ids[token]} and token {index}; keep one of them.")
            ids[token] = index
        for token in SPECIAL_TOKENS:
            if token not in ids:
                raise ValueError(
                    f"{source} has no {token!r} token; BERT needs all of {', '.join(SPECIAL_TOKENS)}. "
                    "Add the missing token on a line of its own (or train a vocabulary with train_vocabulary)."
                )
        self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id = (ids[token] for token in SPECIAL_TOKENS)
        self.lowercase = lowercase
        self.fold_full_width = fold_full_width
        # Normalisation is ours (see normalize); the wordpiece op only splits words and looks pieces up.
        self._wordpiece = tft.FastBertTokenizer(
            list(self._vocab), token_out_type=tf.int32, unknown_token=self._vocab[self.unk_id]
        )
        self._tokens = tf.constant(self._vocab)

    @property
    def vocab(self) -> list[str]:
        """The tokens; token i has id i."""
        return list(self._vocab)

    @property
    def vocab_size(self) -> int:
        return len(self._vocab)

    def tokenize(self, strings: tf.Tensor) -> tf.RaggedTensor:
        """[batch_size] tf.string -> [batch_size, (tokens)] int32 ids, without [CLS]/[SEP]."""
        pieces = tf.strings.split(tf.convert_to_tensor(strings, tf.string), sep=self._vocab[self.mask_id])
        normalized = normalize(pieces.flat_values, self.lowercase, self.fold_full_width)
        ids = self._wordpiece.tokenize(normalized)  # [pieces, (tokens)]
        # The texts were cut at each "[MASK]"; without one anywhere in the batch, the pieces are the texts.
        return tf.cond(
            ids.nrows() == pieces.nrows(), lambda: ids, lambda: _insert_masks(ids, pieces.row_splits, self.mask_id)
        )

    def pack(
        self, first: tf.RaggedTensor, second: tf.RaggedTensor | None = None, seq_length: int = 128
    ) -> dict[str, tf.Tensor]:
        """Ragged ids [batch_size, (tokens)] -> `[CLS] first [SEP] (second [SEP])` padded to [batch_size, seq_length].

        Returns int32 "token_ids", "segment_ids" (1 on `second [SEP]`) and "padding_mask" (1 on real tokens).
        Pairs are truncated longest-first like Google's `truncate_seq_pair`, so both sides keep tokens.
        """
        segments = [first] if second is None else [first, second]
        budget = seq_length - 1 - len(segments)  # room left by [CLS] and one [SEP] a segment
        if budget < 0:
            raise ValueError(
                f"seq_length={seq_length} leaves no room for [CLS] and [SEP]; use at least {seq_length - budget}."
            )
        lengths = [segment.row_lengths() for segment in segments]
        keeps = [tf.minimum(lengths[0], budget)] if second is None else _longest_first(*lengths, budget)
        columns = tf.range(seq_length, dtype=tf.int64)[None, :]  # [1, seq_length]
        token_ids = tf.where(columns == 0, self.cls_id, tf.fill([first.nrows(), seq_length], self.pad_id))
        segment_ids = tf.zeros_like(token_ids)
        start = tf.ones_like(lengths[0])[:, None]  # [batch_size, 1]: the column where the segment begins
        for index, (segment, keep) in enumerate(zip(segments, keeps, strict=True)):
            end = start + keep[:, None]  # the column of the segment's [SEP]
            dense = segment.to_tensor(shape=[None, seq_length])  # [batch_size, seq_length], rows cut to fit
            shifted = tf.gather(dense, tf.maximum(columns - start, 0), batch_dims=1)  # token j at column start + j
            token_ids = tf.where((columns >= start) & (columns < end), shifted, token_ids)
            token_ids = tf.where(columns == end, self.sep_id, token_ids)
            segment_ids = tf.where((columns >= start) & (columns <= end), index, segment_ids)
            start = end + 1
        padding_mask = tf.cast(columns < start, tf.int32)
        return {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask}

    def __call__(
        self, texts: tf.Tensor, second_texts: tf.Tensor | None = None, seq_length: int = 128
    ) -> dict[str, tf.Tensor]:
        """[batch_size] tf.string (and an optional second text each) -> the packed inputs of `pack`."""
        second = None if second_texts is None else self.tokenize(second_texts)
        return self.pack(self.tokenize(texts), second, seq_length)

    def id_to_token(self, ids: tf.Tensor | tf.RaggedTensor) -> tf.Tensor | tf.RaggedTensor:
        """int ids of any shape (dense or ragged) -> the tokens, tf.string of the same shape."""
        return tf.gather(self._tokens, ids)

    def detokenize(self, ids: tf.Tensor | tf.RaggedTensor) -> tf.Tensor:
        """[batch_size, (tokens)] ids -> [batch_size] readable text: "##" pieces joined to their word, no spaces
        between CJK characters, [PAD]/[CLS]/[SEP] dropped. Lower-casing and stripped accents stay as tokenized."""
        if not isinstance(ids, tf.RaggedTensor):
            ids = tf.RaggedTensor.from_tensor(ids)
        ids = tf.ragged.boolean_mask(ids, (ids != self.pad_id) & (ids != self.cls_id) & (ids != self.sep_id))
        tokens = tf.gather(self._tokens, ids.flat_values)
        is_suffix = tf.strings.regex_full_match(tokens, "##.+")
        is_tight = tf.strings.regex_full_match(tokens, _TIGHT_CHAR)
        follows_tight = tf.concat([[False], is_tight[:-1]], axis=0)
        starts_row = tf.ragged.range(ids.row_lengths()).flat_values == 0
        glued = starts_row | is_suffix | (is_tight & follows_tight)
        words = tf.strings.regex_replace(tokens, "^##(.)", r"\1")
        return tf.strings.reduce_join(ids.with_flat_values(tf.where(glued, "", " ") + words), axis=1)


def _longest_first(first_length: tf.Tensor, second_length: tf.Tensor, budget: int) -> list[tf.Tensor]:
    """How many tokens of each side of a pair to keep so at most `budget` remain, always cutting the longer side
    (on a tie, the second): the closed form of Google's `truncate_seq_pair` loop. Lengths: [batch_size]."""
    keep_first = tf.minimum(first_length, tf.maximum(budget - second_length, (budget + 1) // 2))
    return [keep_first, tf.minimum(second_length, budget - keep_first)]


def _insert_masks(ids: tf.RaggedTensor, text_splits: tf.Tensor, mask_id: int) -> tf.RaggedTensor:
    """Joins the pieces of each text, which were split at its "[MASK]"s, with a mask id between neighbours.

    ids: [pieces, (tokens)]; text_splits: [batch_size + 1], text i is pieces text_splits[i]:text_splits[i + 1].
    Returns [batch_size, (tokens)].
    """
    last_pieces = text_splits[1:] - 1
    mask_after = tf.tensor_scatter_nd_update(tf.ones_like(ids.row_lengths()), last_pieces[:, None], last_pieces * 0)
    masks_before = tf.concat([[0], tf.cumsum(mask_after)], axis=0)  # [pieces + 1]
    positions = tf.range(tf.size(ids.values, tf.int64)) + tf.gather(masks_before, ids.value_rowids())
    values = tf.fill([tf.size(ids.values, tf.int64) + masks_before[-1]], mask_id)
    values = tf.tensor_scatter_nd_update(values, positions[:, None], ids.values)
    splits = tf.gather(ids.row_splits + masks_before, text_splits)
    return tf.RaggedTensor.from_row_splits(values, splits, validate=False)

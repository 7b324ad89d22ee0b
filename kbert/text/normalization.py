"""BERT's text normalisation, in-graph: shared by vocabulary training and the tokenizer so both see the same words."""

import tensorflow as tf
import tensorflow_text as tft

# The code points BERT splits one per token (google-research/bert `_is_chinese_char`), as a character-class body
# that both Python's `re` and TensorFlow's RE2 accept.
CJK_CHARS = (
    "\u4e00-\u9fff\u3400-\u4dbf\U00020000-\U0002a6df\U0002a700-\U0002b73f"
    "\U0002b740-\U0002b81f\U0002b820-\U0002ceaf\uf900-\ufaff\U0002f800-\U0002fa1f"
)

# BERT drops every Unicode "other" character except tab and newlines, and U+FFFD; `\pC` covers Cc, Cf, Co, Cs.
_DROPPED = r"[^\PC\t\n\r]|\x{FFFD}"


def normalize(strings: tf.Tensor, lowercase: bool, fold_full_width: bool = False) -> tf.Tensor:
    """Drops control characters; with `lowercase`, also strips accents (NFD, then drop marks) and lower-cases.

    The same steps in the same order as Hugging Face's BertNormalizer. Unlike tensorflow-text's `lower_case`, no
    NFKC, so full-width `，` stays `，`, unless `fold_full_width` (first) reads the full-width forms of ASCII
    (`０`-`９`, `Ａ`-`ｚ`, `，？！（）`...) and the ideographic space as their ASCII twins: text typed either way then
    reaches the same tokens. strings: tf.string of any shape -> tf.string of the same shape.
    """
    if fold_full_width:
        strings = _fold_full_width(strings)
    if not lowercase:
        return tf.strings.regex_replace(strings, _DROPPED, "")
    strings = tf.strings.regex_replace(tft.normalize_utf8(strings, "NFD"), _DROPPED + r"|\p{Mn}", "")
    return tf.strings.lower(strings, encoding="utf-8")  # last: it stops at a NUL byte, which is dropped by now


def _fold_full_width(strings: tf.Tensor) -> tf.Tensor:
    """U+FF01-U+FF5E -> U+0021-U+007E and U+3000 -> space, leaving every other character as it is."""
    flat = tf.reshape(strings, [-1])
    chars = tf.strings.unicode_decode(flat, "UTF-8", errors="replace")
    points = chars.flat_values
    points = tf.where((points >= 0xFF01) & (points <= 0xFF5E), points - 0xFEE0, tf.where(points == 0x3000, 32, points))
    return tf.reshape(tf.strings.unicode_encode(chars.with_flat_values(points), "UTF-8"), tf.shape(strings))

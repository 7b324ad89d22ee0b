"""BERT's weight initializer, defined once for every layer."""

import keras


def bert_initializer(initializer_range: float) -> keras.initializers.Initializer:
    """Truncated normal with standard deviation `initializer_range` (0.02 in BERT)."""
    return keras.initializers.TruncatedNormal(stddev=initializer_range)

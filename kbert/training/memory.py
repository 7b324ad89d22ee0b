"""Whether a training step fits in this machine's memory, estimated from the config before the model is built: a run
that cannot fit is refused with the numbers instead of ending in an out-of-memory error (or the machine swapping to
a halt)."""

from __future__ import annotations

import os

import tensorflow as tf

from kbert.config import BertConfig
from kbert.training.run_config import TrainingSettings
from kbert.training.strategy import cluster_worker_count


def training_bytes(config: BertConfig, examples: int, seq_length: int, value_bytes: int, predictions: int) -> int:
    """About the peak memory of one training step of `examples` sequences of `seq_length` tokens: float32 weights,
    gradients and two Adam moments (16 bytes a parameter), plus each layer's activations kept for the backward pass
    (the matmul inputs and outputs, `[examples, seq_length, 8 hidden + 2 intermediate]`, and the attention scores
    and probabilities, `[examples, heads, seq_length, seq_length]` twice) in `value_bytes`, one layer more for the
    gradients in flight, and the float32 masked-LM logits of `predictions` positions per sequence."""
    h, inner, heads = config.hidden_size, config.intermediate_size, config.num_attention_heads
    per_layer = 4 * h * h + 2 * h * inner + 9 * h + inner
    embeddings = (config.vocab_size + config.max_position_embeddings + config.type_vocab_size) * h
    parameters = embeddings + config.num_hidden_layers * per_layer + 2 * h * h
    activations = examples * seq_length * (8 * h + 2 * inner) + 2 * examples * heads * seq_length * seq_length
    logits = examples * predictions * config.vocab_size
    return 16 * parameters + (config.num_hidden_layers + 1) * activations * value_bytes + 8 * logits


def physical_memory_bytes() -> int:
    """This machine's RAM."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_fits_in_memory(config: BertConfig, settings: TrainingSettings, precision: str) -> None:
    """Refuses, naming batch_size and seq_length, a run on CPUs whose estimated step (`training_bytes`, for this
    process's share of the batch) exceeds the machine's RAM. Runs on GPUs and TPUs are not checked here."""
    if tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU"):
        return
    examples = settings.batch_size // settings.accumulation_steps // max(1, cluster_worker_count())
    need = training_bytes(config, examples, settings.seq_length, 4 if precision == "float32" else 2,
                          getattr(settings, "max_predictions", 0))
    have = physical_memory_bytes()
    if need > have:
        raise ValueError(
            f"seq_length {settings.seq_length} with batch_size {settings.batch_size} needs about {need / 2**30:,.1f} "
            f"GiB to train this {config.num_hidden_layers}-layer model ({examples} sequences a step in memory; "
            f"attention grows with seq_length squared), more than this machine's {have / 2**30:,.1f} GiB. Lower "
            "--seq-length or --batch-size, or raise --accumulation-steps.")

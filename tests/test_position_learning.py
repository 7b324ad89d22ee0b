"""Both kinds of position embedding let a model learn where a token stands: on a task that nothing but position
solves, a model with the fixed sin/cos table learns about as fast as one with a learned table."""

import numpy as np
import tensorflow as tf

from kbert.config import BertConfig
from kbert.models import BertBackbone, BertPretrainer
from kbert.training.loop import Evaluator, LoopOptions, train
from kbert.training.optimization import WarmupLinearDecay, make_optimizer
from kbert.training.tasks import PretrainingTask

VOCAB, LENGTH, MASK_ID = 40, 17, 4


def copy_examples(count: int, seed: int) -> dict[str, np.ndarray]:
    """`[CLS]` then random tokens, four of them [MASK]; every masked token's answer is the token at position 1,
    right after `[CLS]`. A model must find position 1 (position information) and read which token stands there
    (token identity): either one drowned by the other, it guesses."""
    rng = np.random.default_rng(seed)
    tokens = np.concatenate([np.full((count, 1), 2), rng.integers(5, VOCAB, size=(count, LENGTH - 1))], axis=1)
    positions = np.sort(np.stack([rng.choice(np.arange(2, LENGTH), 4, replace=False) for _ in range(count)]), axis=1)
    answers = np.repeat(tokens[:, 1:2], 4, axis=1)
    np.put_along_axis(tokens, positions, MASK_ID, 1)
    tokens = tokens.astype("int32")
    return {"token_ids": tokens, "segment_ids": np.zeros_like(tokens), "padding_mask": np.ones_like(tokens),
            "mask_positions": positions.astype("int32"), "mask_ids": answers.astype("int32"),
            "mask_weights": np.ones(positions.shape, "float32"), "next_sentence_labels": np.zeros(count, "int32")}


def accuracy_after_training(position_embedding_type: str, tmp_path, steps: int = 150) -> float:
    tf.keras.utils.set_random_seed(0)
    config = BertConfig(vocab_size=VOCAB, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=128, max_position_embeddings=LENGTH, hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0, position_embedding_type=position_embedding_type)
    model = BertPretrainer(BertBackbone(config))
    model({name: values[:1] for name, values in copy_examples(1, 0).items()})
    optimizer = make_optimizer("adamw", WarmupLinearDecay(3e-3, 30, steps), model.trainable_variables)
    examples = copy_examples(4096, seed=1)

    def dataset_fn(context, batch_size, first_batch):
        return tf.data.Dataset.from_tensor_slices(examples).repeat().batch(batch_size, drop_remainder=True)

    task = PretrainingTask(model, MASK_ID)
    options = LoopOptions(total_steps=steps, global_batch_size=64, checkpoint_every=10 * steps, log_every=steps)
    train(task, optimizer, tf.distribute.get_strategy(), dataset_fn, options, str(tmp_path / position_embedding_type),
          {"model": model})
    heldout = tf.data.Dataset.from_tensor_slices(copy_examples(512, seed=2)).batch(128)
    return Evaluator(task, tf.distribute.get_strategy())(heldout)["mlm_accuracy"]


def test_a_sinusoidal_model_learns_positions_about_as_fast_as_a_learned_one(tmp_path):
    learned = accuracy_after_training("learned", tmp_path)
    fixed = accuracy_after_training("sinusoidal", tmp_path)
    assert learned > 0.9, f"the learned-position model should solve the task ({learned:.3f})"
    assert fixed > learned - 0.1, f"sinusoidal {fixed:.3f} vs learned {learned:.3f}"

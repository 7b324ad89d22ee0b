"""The BERT model against keras-hub's, plus padding, attention maps, precision, saving and a tiny overfit."""

import keras
import keras_hub
import numpy as np
import pytest
from conftest import random_backbone_inputs

from kbert import objectives, precision
from kbert.config import BertConfig
from kbert.convert.keras_hub import backbone_from_keras_hub, config_from_keras_hub, masked_lm_head_arrays_from_keras_hub
from kbert.layers.embeddings import sinusoidal_table
from kbert.layers.heads import MaskedLMHead
from kbert.models import BertBackbone, BertClassifier, BertPretrainer

VOCAB = 211


def tiny_config(**overrides) -> BertConfig:
    fields = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                  max_position_embeddings=32)
    fields.update(overrides)
    return BertConfig(vocab_size=VOCAB, **fields)


def hub_backbone() -> keras_hub.models.BertBackbone:
    return keras_hub.models.BertBackbone(vocabulary_size=VOCAB, num_layers=2, num_heads=4, hidden_dim=64,
                                         intermediate_dim=128, max_sequence_length=32)


def pretraining_batch(vocab_size: int, batch_size: int = 4, seq_length: int = 12, predictions: int = 3) -> dict:
    features = random_backbone_inputs(vocab_size, batch_size, seq_length)
    rng = np.random.default_rng(1)
    # Distinct positions per row, so no slot asks for two different tokens at one place.
    features["mask_positions"] = np.stack(
        [rng.permutation(np.arange(1, seq_length // 2))[:predictions] for _ in range(batch_size)]).astype("int32")
    features["mask_ids"] = rng.integers(5, vocab_size, size=(batch_size, predictions)).astype("int32")
    weights = np.ones((batch_size, predictions), "float32")
    weights[:, -1] = 0.0  # the last slot of every row is padding
    features["mask_weights"] = weights
    features["next_sentence_labels"] = (np.arange(batch_size) % 2).astype("int32")
    return features


def test_backbone_matches_keras_hub_on_padded_inputs():
    theirs = hub_backbone()
    ours = backbone_from_keras_hub(theirs)
    inputs = random_backbone_inputs(VOCAB)
    expected = theirs(inputs)
    got = ours(inputs)
    for key in ("sequence_output", "pooled_output"):
        np.testing.assert_allclose(np.asarray(got[key]), np.asarray(expected[key]), atol=1e-5, rtol=0)


def test_masked_lm_logits_match_keras_hub():
    theirs = keras_hub.models.BertMaskedLM(hub_backbone())
    ours = backbone_from_keras_hub(theirs.backbone)
    # keras-hub's BERT head uses the exact GELU and LayerNorm epsilon 1e-5 (its encoder uses tanh GELU and 1e-12).
    head = MaskedLMHead(VOCAB, 64, activation="gelu", layer_norm_eps=1e-5)
    head.build()
    arrays = masked_lm_head_arrays_from_keras_hub(theirs)
    for variable in head.weights:
        variable.assign(arrays[f"masked_lm_head/{variable.path.split('/', 1)[1]}"])
    inputs = random_backbone_inputs(VOCAB)
    positions = np.array([[1, 4, 7], [0, 2, 3], [5, 5, 1]], "int32")
    expected = theirs({**inputs, "mask_positions": positions})
    got = head(ours(inputs)["sequence_output"], positions, ours.embeddings.token_embeddings)
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), atol=1e-5, rtol=0)


def test_keras_hub_config_maps_to_ours():
    config = config_from_keras_hub(hub_backbone())
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads, config.intermediate_size) == (
        64, 2, 4, 128)
    assert config.hidden_act == "gelu_approximate"


@pytest.mark.parametrize("position_embedding_type", ["learned", "sinusoidal"])
def test_padding_does_not_change_outputs_at_real_positions(position_embedding_type):
    backbone = BertBackbone(tiny_config(position_embedding_type=position_embedding_type))
    inputs = random_backbone_inputs(VOCAB, seq_length=10)
    padded = {key: np.pad(value, ((0, 0), (0, 6))) for key, value in inputs.items()}
    short, long = backbone(inputs), backbone(padded)
    real = inputs["padding_mask"].astype(bool)
    np.testing.assert_allclose(np.asarray(long["sequence_output"])[:, :10][real],
                               np.asarray(short["sequence_output"])[real], atol=1e-5)
    np.testing.assert_allclose(np.asarray(long["pooled_output"]), np.asarray(short["pooled_output"]), atol=1e-5)


def test_attention_maps_sum_to_one_over_real_keys_and_are_zero_on_padding():
    config = tiny_config()
    backbone = BertBackbone(config)
    inputs = random_backbone_inputs(VOCAB)
    internals = backbone.with_internals()(inputs)
    assert len(internals["hidden_states"]) == config.num_hidden_layers + 1
    assert len(internals["attention_maps"]) == config.num_hidden_layers
    np.testing.assert_allclose(np.asarray(internals["sequence_output"]),
                               np.asarray(backbone(inputs)["sequence_output"]), atol=1e-6)
    padding = ~inputs["padding_mask"].astype(bool)
    for maps in internals["attention_maps"]:
        maps = np.asarray(maps)
        assert maps.shape == (3, config.num_attention_heads, 12, 12)
        np.testing.assert_allclose(maps.sum(axis=-1), 1.0, atol=1e-5)
        assert np.all(maps.transpose(0, 1, 3, 2)[padding[:, None, :, None].repeat(4, 1).repeat(12, 3)] == 0.0)


def test_sinusoidal_table_matches_attention_is_all_you_need():
    table = sinusoidal_table(50, 16)
    for pos in (0, 1, 7, 49):
        for i in range(8):
            angle = pos / 10000 ** (2 * i / 16)
            assert table[pos, 2 * i] == pytest.approx(np.sin(angle), abs=1e-6)
            assert table[pos, 2 * i + 1] == pytest.approx(np.cos(angle), abs=1e-6)


def test_sinusoidal_positions_are_fixed_and_learned_positions_train():
    fixed = BertBackbone(tiny_config(position_embedding_type="sinusoidal"))
    # The formula, scaled so that its entries are as large as a learned table's at initialisation.
    np.testing.assert_allclose(np.asarray(fixed.embeddings.position_embeddings),
                               sinusoidal_table(32, 64) * 0.02 * np.sqrt(2), rtol=1e-6)
    assert np.sqrt(np.mean(np.asarray(fixed.embeddings.position_embeddings) ** 2)) == pytest.approx(0.02, rel=1e-3)
    assert not any(w is fixed.embeddings.position_embeddings for w in fixed.trainable_weights)
    learned = BertBackbone(tiny_config())
    assert any(w is learned.embeddings.position_embeddings for w in learned.trainable_weights)


def test_gelu_forms_differ_and_both_build():
    inputs = random_backbone_inputs(VOCAB)
    exact = BertBackbone(tiny_config(hidden_act="gelu"))
    approximate = BertBackbone(tiny_config(hidden_act="gelu_approximate"))
    approximate.set_weights(exact.get_weights())
    difference = np.abs(np.asarray(exact(inputs)["sequence_output"])
                        - np.asarray(approximate(inputs)["sequence_output"]))
    assert 0 < difference.max() < 1e-2


@pytest.mark.parametrize("kind", ["backbone", "pretrainer", "classifier"])
def test_keras_file_round_trip_gives_identical_outputs(kind, tmp_path):
    backbone = BertBackbone(tiny_config(position_embedding_type="sinusoidal", layer_norm_position="pre"))
    model = {"backbone": backbone, "pretrainer": BertPretrainer(backbone),
             "classifier": BertClassifier(backbone, num_labels=3)}[kind]
    inputs = pretraining_batch(VOCAB) if kind == "pretrainer" else random_backbone_inputs(VOCAB)
    before = model(inputs)
    path = tmp_path / f"{kind}.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    after = restored(inputs)
    for key in before:
        np.testing.assert_array_equal(np.asarray(after[key]), np.asarray(before[key]))
    assert restored.get_config() == model.get_config()


def test_pretraining_loss_ignores_padded_prediction_slots():
    model = BertPretrainer(BertBackbone(tiny_config()))
    features = pretraining_batch(VOCAB)
    outputs = model(features)
    objective = objectives.PretrainingObjective()
    metrics = objective.metrics(objective.sums(features, None, outputs))
    total, mlm = metrics["loss"], metrics["mlm_loss"]
    changed = dict(features, mask_ids=features["mask_ids"].copy())
    changed["mask_ids"][:, -1] = 7  # only padded slots change
    assert objective.metrics(objective.sums(changed, None, outputs))["loss"] == pytest.approx(total, abs=1e-6)
    logits = np.asarray(outputs["mlm_logits"])
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    ids, weights = features["mask_ids"], features["mask_weights"]
    expected = -(np.take_along_axis(log_probs, ids[..., None], -1)[..., 0] * weights).sum() / weights.sum()
    assert float(mlm) == pytest.approx(expected, rel=1e-5)


def test_fit_reports_the_objectives_own_figures_over_several_batches():
    # fit()/evaluate() and the training loop share one objective: Keras' per-batch means, weighted by each
    # batch's count, come out as the objective's ratio of sums over the whole data.
    model = BertPretrainer(BertBackbone(tiny_config()))
    features = pretraining_batch(VOCAB, batch_size=8)
    features["mask_weights"][:3, 2:] = 0  # batches with different numbers of predictions
    model.compile(jit_compile=False)
    figures = model.evaluate(features, batch_size=4, return_dict=True, verbose=0)
    objective = objectives.PretrainingObjective()
    expected = objective.metrics(objective.sums(features, None, model(features)))
    for name in ("mlm_loss", "nsp_loss", "mlm_accuracy", "nsp_accuracy"):
        assert figures[name] == pytest.approx(expected[name], rel=1e-5), name


def test_tiny_model_overfits_fixed_pretraining_examples():
    model = BertPretrainer(BertBackbone(BertConfig.from_preset("tiny", vocab_size=VOCAB, max_position_embeddings=32,
                                                               hidden_dropout_prob=0.0,
                                                               attention_probs_dropout_prob=0.0)))
    features = pretraining_batch(VOCAB, batch_size=8)
    model.compile(optimizer=keras.optimizers.Adam(2e-3), jit_compile=False)
    history = model.fit(features, batch_size=8, epochs=200, verbose=0)
    assert history.history["loss"][-1] < 0.05
    assert history.history["mlm_accuracy"][-1] == 1.0
    assert history.history["nsp_accuracy"][-1] == 1.0


def test_classifier_fits_pair_labels():
    model = BertClassifier(BertBackbone(tiny_config(hidden_dropout_prob=0.0)), num_labels=2)
    inputs = random_backbone_inputs(VOCAB, batch_size=6)
    labels = np.array([0, 1, 0, 1, 1, 0])
    model.compile(optimizer=keras.optimizers.Adam(2e-3), jit_compile=False)
    history = model.fit(inputs, labels, batch_size=6, epochs=60, verbose=0)
    assert history.history["accuracy"][-1] == 1.0


def test_mixed_bfloat16_keeps_softmax_and_layer_norm_in_float32():
    precision.set_policy("mixed_bfloat16")
    backbone = BertBackbone(tiny_config())
    assert backbone.embeddings.token_embeddings.dtype == "float32"
    assert backbone.transformer_layers[0].intermediate_dense.compute_dtype == "bfloat16"
    inputs = random_backbone_inputs(VOCAB)
    internals = backbone.with_internals()(inputs)
    assert internals["attention_maps"][0].dtype == "float32"
    np.testing.assert_allclose(np.asarray(internals["attention_maps"][0]).sum(-1), 1.0, atol=1e-5)
    reference_weights = backbone.get_weights()
    precision.set_policy("float32")
    reference = BertBackbone(tiny_config())
    reference.set_weights(reference_weights)
    np.testing.assert_allclose(np.asarray(internals["sequence_output"], "float32"),
                               np.asarray(reference(inputs)["sequence_output"]), atol=0.1)


def test_mixed_bfloat16_computes_masked_lm_logits_in_float32():
    # bfloat16 keeps 8 bits of mantissa: logits near 10 would be rounded in steps of 0.06, which hides the small
    # differences between characters that pretraining learns from.
    precision.set_policy("mixed_bfloat16")
    head = MaskedLMHead(VOCAB, 64)
    head.build()
    rng = np.random.default_rng(0)
    sequence = keras.ops.cast(rng.normal(size=(2, 8, 64)), "bfloat16")
    table = rng.normal(scale=1.0, size=(VOCAB, 64)).astype("float32")
    positions = np.array([[1, 3], [2, 5]], "int32")
    logits = head(sequence, positions, table)
    assert logits.dtype == "float32"
    # With an identity table the logits are the head's transformed rows themselves. Projecting those rows onto
    # the table as the layer receives it (its inputs are cast to bfloat16) in float32 must give the head's logits
    # to float32 precision; bfloat16 logits of this size would be off by up to 0.06.
    transformed = np.asarray(head(sequence, positions, np.eye(VOCAB, 64, dtype="float32")))[..., :64]
    table_as_received = np.asarray(keras.ops.cast(keras.ops.cast(table, "bfloat16"), "float32"))
    np.testing.assert_allclose(np.asarray(logits), transformed @ table_as_received.T, atol=1e-4, rtol=0)


def test_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="mixed_bfloat16"):
        precision.set_policy("bf16")


def test_a_precision_block_restores_the_callers_policy_even_after_an_error():
    precision.set_policy("mixed_float16")
    with precision.policy("mixed_bfloat16"):
        assert precision.current_policy() == "mixed_bfloat16"
    assert precision.current_policy() == "mixed_float16"
    with pytest.raises(RuntimeError, match="inside"), precision.policy("float32"):
        assert precision.current_policy() == "float32"
        raise RuntimeError("inside the block")
    assert precision.current_policy() == "mixed_float16"
    with pytest.raises(ValueError, match="bf16"), precision.policy("bf16"):
        pass
    assert precision.current_policy() == "mixed_float16"


@pytest.mark.parametrize("layer_norm_position", ["post", "pre"])
def test_pretrainer_last_layer_shortcut_equals_the_full_backbone(layer_norm_position):
    """The pretrainer runs its last layer only at [CLS] and the masked rows; the numbers must not change."""
    model = BertPretrainer(BertBackbone(tiny_config(layer_norm_position=layer_norm_position)))
    features = pretraining_batch(VOCAB)
    outputs = model(features)
    encoded = model.backbone(random_backbone_inputs(VOCAB, batch_size=4))
    expected_mlm = model.masked_lm_head(encoded["sequence_output"], features["mask_positions"],
                                        model.backbone.embeddings.token_embeddings)
    np.testing.assert_allclose(np.asarray(outputs["mlm_logits"]), np.asarray(expected_mlm), atol=1e-5)
    np.testing.assert_allclose(np.asarray(outputs["nsp_logits"]),
                               np.asarray(model.next_sentence_head(encoded["pooled_output"])), atol=1e-5)


@pytest.mark.parametrize("layer_norm_position", ["post", "pre"])
def test_pretraining_gradients_match_finite_differences_for_every_variable(layer_norm_position):
    """Backpropagation through our own kernels (fused GELU, LayerNorm, cross-entropy, the last layer's read rows)
    agrees with central differences of the loss along a random direction in each variable."""
    import tensorflow as tf

    from kbert.training.tasks import PretrainingTask

    model = BertPretrainer(BertBackbone(tiny_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                                                    layer_norm_position=layer_norm_position)))
    batch = pretraining_batch(VOCAB)
    model(batch)
    task = PretrainingTask(model)

    def loss():
        sums = task.sums(batch, training=True)
        return task.loss(sums, task.counts(batch))

    with tf.GradientTape() as tape:
        value = loss()
    gradients = tape.gradient(value, model.trainable_variables)
    rng = np.random.default_rng(0)
    for variable, gradient in zip(model.trainable_variables, gradients, strict=True):
        direction = rng.standard_normal(variable.shape).astype("float32")
        direction /= np.linalg.norm(direction)
        original = variable.numpy()
        epsilon = 1e-2
        variable.assign(original + epsilon * direction)
        plus = float(loss())
        variable.assign(original - epsilon * direction)
        minus = float(loss())
        variable.assign(original)
        numeric = (plus - minus) / (2 * epsilon)
        analytic = float(np.sum(np.asarray(tf.convert_to_tensor(gradient)) * direction))
        # float32 resolves loss differences to ~5e-7, so the numeric slope is good to a few 1e-5.
        assert abs(numeric - analytic) <= 5e-5 + 5e-2 * abs(analytic), (variable.path, numeric, analytic)

"""Gated feed-forward blocks (`feed_forward: gated`, GEGLU) against a PyTorch encoder layer written from the formula,
sized like the dense block in presets, exported and served, refused by the importers and by a continued run."""

import dataclasses
import json

import numpy as np
import pytest
import tensorflow as tf
import torch
from export_support import assert_top_k, keras_fill_mask, tiny_config, tiny_tokenizer

from kbert.config import BertConfig
from kbert.convert.google import config_from_google
from kbert.export import export_model
from kbert.layers.encoder import TransformerEncoderLayer
from kbert.models import BertBackbone, BertPretrainer
from kbert.training.memory import training_bytes
from kbert.training.pretraining import _model_config
from kbert.training.run_config import PretrainSettings, settings_from

HIDDEN, HEADS, INTERMEDIATE, EPS = 64, 4, 96, 1e-12
TEXTS = ["The quick [MASK] fox jumps over the [MASK] dog.", "今天天气很[MASK]，我们去公园散步吧。"]


class TorchGatedLayer(torch.nn.Module):
    """A post-LN encoder layer with a GEGLU feed-forward, `LN(h + W2 (gelu(W1 h) * V h))`, from PyTorch's parts."""

    def __init__(self, ours: TransformerEncoderLayer):
        super().__init__()
        self.attention = torch.nn.MultiheadAttention(HIDDEN, HEADS, batch_first=True)
        self.norm1, self.norm2 = torch.nn.LayerNorm(HIDDEN, eps=EPS), torch.nn.LayerNorm(HIDDEN, eps=EPS)
        self.w1, self.v, self.w2 = (torch.nn.Linear(HIDDEN, INTERMEDIATE), torch.nn.Linear(HIDDEN, INTERMEDIATE),
                                    torch.nn.Linear(INTERMEDIATE, HIDDEN))

        def tensor(variable, transpose=False):
            value = np.asarray(variable)
            return torch.tensor(value.T.copy() if transpose else value)

        with torch.no_grad():
            self.attention.in_proj_weight.copy_(tensor(ours.attention.qkv_dense.kernel, True))
            self.attention.in_proj_bias.copy_(tensor(ours.attention.qkv_dense.bias))
            self.attention.out_proj.weight.copy_(tensor(ours.attention.output_dense.kernel, True))
            self.attention.out_proj.bias.copy_(tensor(ours.attention.output_dense.bias))
            for linear, dense in ((self.w1, ours.intermediate_dense), (self.v, ours.intermediate_gate_dense),
                                  (self.w2, ours.output_dense)):
                linear.weight.copy_(tensor(dense.kernel, True))
                linear.bias.copy_(tensor(dense.bias))
        self.eval()

    def forward(self, x, padding):
        x = self.norm1(x + self.attention(x, x, x, key_padding_mask=padding, need_weights=False)[0])
        return self.norm2(x + self.w2(torch.nn.functional.gelu(self.w1(x)) * self.v(x)))


def test_gated_layer_matches_a_pytorch_geglu_layer():
    ours = TransformerEncoderLayer(HIDDEN, HEADS, INTERMEDIATE, "gelu", dropout=0.0, attention_dropout=0.0,
                                   layer_norm_eps=EPS, feed_forward="gated")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 10, HIDDEN)).astype("float32")
    padding_mask = (np.arange(10)[None, :] < np.array([[10], [7], [3]])).astype("int32")
    ours(x, padding_mask)
    for dense in (ours.intermediate_dense, ours.intermediate_gate_dense):  # biases away from their initial zeros
        dense.bias.assign(0.1 * rng.standard_normal(INTERMEDIATE).astype("float32"))
    expected = TorchGatedLayer(ours)(torch.tensor(x), torch.tensor(padding_mask == 0)).detach().numpy()
    real = padding_mask.astype(bool)
    np.testing.assert_allclose(np.asarray(ours(x, padding_mask))[real], expected[real], atol=1e-5)
    dense = TransformerEncoderLayer(HIDDEN, HEADS, INTERMEDIATE, "gelu", dropout=0.0, attention_dropout=0.0)
    dense(x, padding_mask)
    assert len(ours.weights) == len(dense.weights) + 2  # the gate's kernel and bias


def test_a_gated_preset_has_the_dense_blocks_weight_count():
    for preset in ("tiny", "base"):
        dense = BertConfig.from_preset(preset, vocab_size=100)
        gated = BertConfig.from_preset(preset, vocab_size=100, feed_forward="gated")
        assert gated.intermediate_size % 8 == 0
        assert abs(3 * gated.intermediate_size - 2 * dense.intermediate_size) <= 24  # 3 x 8H/3 = 2 x 4H, rounded
    assert BertConfig.from_preset("base", vocab_size=100, feed_forward="gated").intermediate_size == 2048
    sized = BertConfig.from_preset("tiny", vocab_size=100, feed_forward="gated", intermediate_size=64)
    assert sized.intermediate_size == 64
    with pytest.raises(ValueError, match="feed_forward must be one of"):
        BertConfig(vocab_size=100, feed_forward="swiglu")


def test_the_memory_estimate_counts_the_gate():
    dense = BertConfig.from_preset("tiny", vocab_size=100)
    gated = dataclasses.replace(dense, feed_forward="gated")
    weights = {config.feed_forward: BertPretrainer(BertBackbone(config)).count_params() for config in (dense, gated)}
    estimate = {config.feed_forward: training_bytes(config, 0, 0, 4, 0) // 16 for config in (dense, gated)}
    # The estimate leaves out the masked-LM head's transform; the gate's share must be exactly the model's.
    assert estimate["gated"] - estimate["dense"] == weights["gated"] - weights["dense"] > 0


def test_an_exported_gated_pretrainer_fills_masks_as_the_keras_model_does(tmp_path):
    tokenizer = tiny_tokenizer()
    model = BertPretrainer(BertBackbone(dataclasses.replace(tiny_config(tokenizer), feed_forward="gated")))
    directory = export_model(model, tokenizer, tmp_path, name="gated", seq_length=32)
    assert json.loads((directory / "bert_config.json").read_text())["feed_forward"] == "gated"
    assert "| feed_forward | gated |" in (directory / "README.md").read_text()
    got = tf.saved_model.load(str(directory)).signatures["fill_mask"](text=tf.constant(TEXTS))
    for index, probabilities in enumerate(keras_fill_mask(model, tokenizer, TEXTS)):
        for slot, row in enumerate(probabilities):
            assert_top_k(got["token_ids"][index, slot], got["probabilities"][index, slot], row, tokenizer)


def test_the_feed_forward_setting_shapes_the_preset_model_and_is_checked():
    config = _model_config(settings_from(PretrainSettings, {"preset": "tiny", "feed_forward": "gated"}), 500)
    assert (config.feed_forward, config.intermediate_size) == ("gated", 344)
    with pytest.raises(ValueError, match="feed_forward = 'glu'; choose dense or gated"):
        settings_from(PretrainSettings, {"feed_forward": "glu"})


def test_importers_refuse_a_gated_config(tmp_path):
    path = tmp_path / "bert_config.json"
    path.write_text(json.dumps({**BertConfig(vocab_size=50).to_dict(), "feed_forward": "gated"}))
    with pytest.raises(ValueError, match=r"bert_config.json: field 'feed_forward' is 'gated', but BERT checkpoints"):
        config_from_google(path)

"""Pre-LayerNorm blocks (`layer_norm_position: pre`) against PyTorch's own pre-LN encoder layer, and importers that
refuse what BERT checkpoints cannot hold."""

import json

import numpy as np
import pytest
import torch

from kbert.config import BertConfig
from kbert.convert.google import config_from_google
from kbert.layers.encoder import TransformerEncoderLayer
from kbert.models import BertBackbone

HIDDEN, HEADS, INTERMEDIATE, EPS = 64, 4, 128, 1e-5


def torch_pre_ln_layer(ours: TransformerEncoderLayer) -> torch.nn.TransformerEncoderLayer:
    """`torch.nn.TransformerEncoderLayer(norm_first=True)` holding our layer's weights."""
    layer = torch.nn.TransformerEncoderLayer(HIDDEN, HEADS, INTERMEDIATE, dropout=0.0, activation="gelu",
                                             layer_norm_eps=EPS, batch_first=True, norm_first=True).eval()

    def tensor(variable, transpose=False):
        value = np.asarray(variable)
        return torch.tensor(value.T.copy() if transpose else value)

    with torch.no_grad():
        layer.self_attn.in_proj_weight.copy_(tensor(ours.attention.qkv_dense.kernel, True))
        layer.self_attn.in_proj_bias.copy_(tensor(ours.attention.qkv_dense.bias))
        layer.self_attn.out_proj.weight.copy_(tensor(ours.attention.output_dense.kernel, True))
        layer.self_attn.out_proj.bias.copy_(tensor(ours.attention.output_dense.bias))
        layer.linear1.weight.copy_(tensor(ours.intermediate_dense.kernel, True))
        layer.linear1.bias.copy_(tensor(ours.intermediate_dense.bias))
        layer.linear2.weight.copy_(tensor(ours.output_dense.kernel, True))
        layer.linear2.bias.copy_(tensor(ours.output_dense.bias))
        for theirs, norm in ((layer.norm1, ours.attention_layer_norm), (layer.norm2, ours.output_layer_norm)):
            theirs.weight.copy_(tensor(norm.gamma))
            theirs.bias.copy_(tensor(norm.beta))
    return layer


def test_pre_ln_layer_matches_pytorch_norm_first_encoder_layer():
    ours = TransformerEncoderLayer(HIDDEN, HEADS, INTERMEDIATE, "gelu", dropout=0.0, attention_dropout=0.0,
                                   layer_norm_eps=EPS, layer_norm_position="pre")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 10, HIDDEN)).astype("float32")
    padding_mask = (np.arange(10)[None, :] < np.array([[10], [7], [3]])).astype("int32")
    ours(x, padding_mask)
    for norm in (ours.attention_layer_norm, ours.output_layer_norm):  # not the initial ones and zeros
        norm.gamma.assign(1 + 0.1 * rng.standard_normal(HIDDEN).astype("float32"))
        norm.beta.assign(0.1 * rng.standard_normal(HIDDEN).astype("float32"))
    expected = torch_pre_ln_layer(ours)(torch.tensor(x), src_key_padding_mask=torch.tensor(padding_mask == 0))
    real = padding_mask.astype(bool)
    np.testing.assert_allclose(np.asarray(ours(x, padding_mask))[real], expected.detach().numpy()[real], atol=1e-5)


def test_pre_ln_backbone_normalises_the_last_layer_output():
    backbone = BertBackbone(BertConfig(vocab_size=50, hidden_size=HIDDEN, num_hidden_layers=2,
                                       num_attention_heads=HEADS, intermediate_size=INTERMEDIATE,
                                       layer_norm_position="pre"))
    ids = np.array([[2, 7, 8, 9, 3]])
    features = {"token_ids": ids, "segment_ids": 0 * ids, "padding_mask": np.ones_like(ids)}
    internals = backbone.forward(features, return_internals=True)
    last = backbone.transformer_layers[-1](internals["hidden_states"][-2], features["padding_mask"])
    np.testing.assert_allclose(np.asarray(internals["sequence_output"]), np.asarray(backbone.final_layer_norm(last)),
                               atol=1e-6)
    rows = np.asarray(internals["sequence_output"])[0]
    np.testing.assert_allclose(rows.mean(-1), 0, atol=1e-5)  # gamma 1, beta 0 at initialisation
    assert "final_layer_norm" in {weight.path.split("/")[0] for weight in backbone.weights}


def test_importers_refuse_configs_that_no_bert_checkpoint_holds(tmp_path):
    path = tmp_path / "bert_config.json"
    path.write_text(json.dumps({**BertConfig(vocab_size=50).to_dict(), "layer_norm_position": "pre"}))
    with pytest.raises(ValueError, match=r"bert_config.json: field 'layer_norm_position' is 'pre'"):
        config_from_google(path)

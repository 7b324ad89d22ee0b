"""BertConfig: presets, bert_config.json round trips and readable errors."""

import json

import pytest

from kbert.config import PRESETS, BertConfig


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_use_heads_of_64_and_four_times_intermediate(name):
    config = BertConfig.from_preset(name, vocab_size=1000)
    assert (config.num_hidden_layers, config.hidden_size) == PRESETS[name]
    assert config.head_size == 64
    assert config.intermediate_size == 4 * config.hidden_size


def test_preset_sizes_match_google_names():
    assert PRESETS["tiny"] == (2, 128) and PRESETS["base"] == (12, 768) and PRESETS["large"] == (24, 1024)


def test_json_round_trip(tmp_path):
    config = BertConfig.from_preset("mini", vocab_size=777, position_embedding_type="sinusoidal",
                                    hidden_act="gelu_approximate")
    path = tmp_path / "bert_config.json"
    config.to_json_file(path)
    assert BertConfig.from_json_file(path) == config
    assert [p.name for p in tmp_path.iterdir()] == ["bert_config.json"]  # no temp file left behind


def test_reads_google_bert_config(tmp_path):
    google = {"attention_probs_dropout_prob": 0.1, "directionality": "bidi", "hidden_act": "gelu",
              "hidden_dropout_prob": 0.1, "hidden_size": 768, "initializer_range": 0.02, "intermediate_size": 3072,
              "max_position_embeddings": 512, "num_attention_heads": 12, "num_hidden_layers": 12,
              "pooler_fc_size": 768, "type_vocab_size": 2, "vocab_size": 21128}
    path = tmp_path / "bert_config.json"
    path.write_text(json.dumps(google))
    config = BertConfig.from_json_file(path)
    assert config.vocab_size == 21128 and config.num_hidden_layers == 12 and config.layer_norm_eps == 1e-12


def test_reads_hugging_face_config_keys():
    config = BertConfig.from_dict({"vocab_size": 30522, "hidden_act": "gelu_new", "layer_norm_eps": 1e-12,
                                   "position_embedding_type": "absolute", "model_type": "bert"})
    assert config.hidden_act == "gelu_approximate" and config.position_embedding_type == "learned"


def test_errors_name_the_file_and_field(tmp_path):
    path = tmp_path / "bert_config.json"
    path.write_text('{"vocab_size": 10, "hidden_act": "swish"}')
    with pytest.raises(ValueError, match=r"bert_config\.json.*hidden_act.*swish"):
        BertConfig.from_json_file(path)
    path.write_text('{"hidden_size": 10,}')
    with pytest.raises(ValueError, match=r"bert_config\.json: not valid JSON \(line 1"):
        BertConfig.from_json_file(path)
    path.write_text('{"hidden_size": 64}')
    with pytest.raises(ValueError, match="vocab_size"):
        BertConfig.from_json_file(path)
    with pytest.raises(FileNotFoundError, match="missing.json"):
        BertConfig.from_json_file(tmp_path / "missing.json")
    with pytest.raises(ValueError, match="divisible"):
        BertConfig(vocab_size=10, hidden_size=100, num_attention_heads=3)
    with pytest.raises(ValueError, match="Unknown preset 'huge'"):
        BertConfig.from_preset("huge", vocab_size=10)

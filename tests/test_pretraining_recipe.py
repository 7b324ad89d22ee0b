"""Recipe settings of a pretraining run reach the model's config, and the embedded corpora keep their held-out
documents apart from everything trained on."""

import json

import pytest

from kbert.config import BertConfig
from kbert.training.pretraining import _model_config
from kbert.training.run_config import PretrainSettings, settings_from


def test_dropout_and_layer_norm_position_settings_shape_the_preset_model():
    settings = settings_from(PretrainSettings, {"preset": "mini", "seq_length": 96, "dropout": 0.05,
                                                "layer_norm_position": "pre"})
    config = _model_config(settings, vocab_size=500)
    assert (config.hidden_size, config.num_hidden_layers, config.max_position_embeddings) == (256, 4, 96)
    assert config.hidden_dropout_prob == config.attention_probs_dropout_prob == 0.05
    assert config.layer_norm_position == "pre"
    default = _model_config(settings_from(PretrainSettings, {"preset": "mini"}), vocab_size=500)
    assert (default.hidden_dropout_prob, default.attention_probs_dropout_prob) == (0.0, 0.0)
    assert (default.layer_norm_position, default.max_position_embeddings) == ("post", 64)


def test_the_default_recipe_is_the_one_that_left_the_plateau():
    # bench/README.md "Time to quality": batch 128 of 64 tokens, 10 predictions, 2e-3 after 500 warm-up steps.
    settings = settings_from(PretrainSettings, {})
    assert (settings.batch_size, settings.seq_length, settings.max_predictions) == (128, 64, 10)
    assert (settings.learning_rate, settings.warmup_steps, settings.masked_lm_prob) == (2e-3, 500, 0.15)


def test_recipe_settings_win_over_a_config_file_and_leave_the_rest(tmp_path):
    path = tmp_path / "bert_config.json"
    path.write_text(json.dumps(BertConfig(vocab_size=500, hidden_size=64, num_attention_heads=2,
                                          intermediate_size=128).to_dict()))
    config = _model_config(settings_from(PretrainSettings, {"bert_config": str(path), "dropout": 0.05}), 500)
    assert (config.hidden_size, config.hidden_dropout_prob, config.layer_norm_position) == (64, 0.05, "post")
    kept = _model_config(settings_from(PretrainSettings, {"bert_config": str(path)}), 500)
    assert kept.hidden_dropout_prob == kept.attention_probs_dropout_prob == 0.1  # the file's own dropout


@pytest.mark.parametrize(("field", "value", "message"), [("dropout", 1.0, r"dropout = 1.0; it must lie in \[0, 1\)"),
                                                         ("layer_norm_position", "middle", "choose post or pre")])
def test_bad_recipe_settings_are_refused_by_name(field, value, message):
    with pytest.raises(ValueError, match=message):
        settings_from(PretrainSettings, {field: value})


def test_news_and_reviews_holds_out_the_same_news_and_never_holds_a_sentiment_test_review(tmp_path):
    from kbert.text.corpus import load_corpus
    from kbert.text.sentiment import load_sentiment

    def texts(documents):
        return {"\n".join("".join(sentence) for sentence in document) for document in documents}

    news, both = load_corpus(data_dir="data"), load_corpus("news-and-reviews", data_dir="data")
    assert texts(news.heldout) <= texts(both.heldout) and not texts(news.heldout) & texts(both.train)
    everything = {text.replace("\n", "") for text in texts(both.train) | texts(both.heldout)}
    sentiment = load_sentiment()
    found = sum(text.strip() in everything for text in sentiment.train_texts)
    assert found > 0.9 * len(sentiment.train_texts)  # the training reviews are there, as written
    assert not {text.strip() for text in sentiment.test_texts} & everything

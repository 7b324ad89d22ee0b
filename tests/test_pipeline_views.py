"""The exports' signatures behind the studio's views, against the Keras models they came from: the embedding sum's
parts, WordPiece tokens, scores of given fill-mask candidates, the joint filling of several [MASK]s, and integrated
gradients; and a model exported without them is told apart."""

import numpy as np
import pytest
import tensorflow as tf
from export_support import LABELS, export_tiny_models, keras_features, keras_fill_mask

from kbert.pipeline import MissingSignatureError, pipeline


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    return export_tiny_models(tmp_path_factory.mktemp("saved_models"))


@pytest.fixture(scope="module")
def fill(exports):
    return pipeline("fill-mask", exports.pretrainer_dir)


@pytest.fixture(scope="module")
def classify(exports):
    return pipeline("classify", exports.classifier_dir)


def _layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, epsilon: float) -> np.ndarray:
    centred = x - x.mean(-1, keepdims=True)
    return centred / np.sqrt((centred ** 2).mean(-1, keepdims=True) + epsilon) * gamma + beta


def test_embedding_parts_are_the_three_table_rows_their_sum_and_its_layer_norm(exports, fill):
    text, pair = "今天天气很好", "The quick fox."
    got = fill.embedding_parts(text, pair)
    features = keras_features(exports.tokenizer, [text], [pair])
    n = int(features["padding_mask"].sum())
    ids, segments = features["token_ids"][0, :n], features["segment_ids"][0, :n]
    embeddings = exports.pretrainer.backbone.embeddings
    assert got["tokens"] == [t.decode() for t in exports.tokenizer.id_to_token(ids).numpy()]
    np.testing.assert_array_equal(got["segment_ids"], segments)
    assert segments[0] == 0 and segments[-1] == 1
    np.testing.assert_allclose(got["token_embeddings"], embeddings.token_embeddings.numpy()[ids], atol=1e-6)
    np.testing.assert_allclose(got["segment_embeddings"], embeddings.segment_embeddings.numpy()[segments], atol=1e-6)
    np.testing.assert_allclose(got["position_embeddings"], embeddings.position_embeddings.numpy()[:n], atol=1e-6)
    total = got["token_embeddings"] + got["segment_embeddings"] + got["position_embeddings"]
    np.testing.assert_allclose(got["embedding_sum"], total, atol=1e-6)
    norm = embeddings.layer_norm
    np.testing.assert_allclose(got["embedding_output"], _layer_norm(total, norm.gamma.numpy(), norm.beta.numpy(),
                                                                    norm.epsilon), atol=1e-4)
    hidden = exports.pretrainer.backbone.with_internals()(features)["hidden_states"][0]
    np.testing.assert_allclose(got["embedding_output"], np.asarray(hidden)[0, :n], atol=1e-4)


def test_tokenize_gives_the_wordpieces_with_unk_and_no_window(exports, classify):
    texts = ["今天天气很好", "hello 😀 " + "好" * 40]
    expected = [[t.decode() for t in row] for row in exports.tokenizer.id_to_token(
        exports.tokenizer.tokenize(tf.constant(texts))).to_list()]
    assert classify.tokenize(texts) == expected
    assert "[UNK]" in expected[1] and len(expected[1]) > 32


def test_fill_mask_scores_give_a_candidates_probability_and_rank(exports, fill):
    text = "今天天气很[MASK]，我们去公园[MASK]步吧。"
    probabilities = keras_fill_mask(exports.pretrainer, exports.tokenizer, [text])[0]  # [2, vocab_size]
    vocab = exports.tokenizer.vocab
    special = np.array([len(t) > 2 and t.startswith("[") and t.endswith("]") for t in vocab])
    top = fill(text, top_k=10)[1]
    rank, word = next((rank, c) for rank, c in enumerate(top, start=1) if not c["token"].startswith("##"))
    got = fill.score(text, ["好", word["token"]])
    first = probabilities[0, vocab.index("好")]
    assert got[0]["probability"] == pytest.approx(first, abs=1e-6)
    assert got[0]["rank"] == 1 + int(np.sum(probabilities[0][~special] > first)) and got[0]["num_pieces"] == 1
    assert got[1]["rank"] == rank and got[1]["probability"] == pytest.approx(word["score"], abs=1e-6)

    several_pieces, unknown = fill.score("[MASK] [MASK]", ["quickly", "😀"])
    assert several_pieces["rank"] == 0 and several_pieces["num_pieces"] > 1
    assert unknown["rank"] == 0 and unknown["probability"] == 0 and unknown["num_pieces"] == 1  # [UNK]: special
    with pytest.raises(ValueError, match="one per"):
        fill.score(text, ["好", "散", "步"])


def test_joint_filling_is_a_chain_of_fill_mask_answers(fill):
    text = "今天[MASK]气很[MASK]，我们去[MASK]园散步吧。"
    joint = fill.fill_jointly(text, beam_width=3)
    assert len(joint["tokens"]) == 3 and sorted(step["mask"] for step in joint["steps"]) == [0, 1, 2]
    tokens, product = [None, None, None], 1.0
    for step in joint["steps"]:  # each step's probability is fill_mask's answer with the earlier steps filled in
        pieces = text.split("[MASK]")
        partial = pieces[0] + "".join(("[MASK]" if token is None else token) + piece
                                      for token, piece in zip(tokens, pieces[1:], strict=True))
        open_masks = [index for index, token in enumerate(tokens) if token is None]
        answer = fill(partial, top_k=10)[open_masks.index(step["mask"])]
        assert step["probability"] == pytest.approx({c["token"]: c["score"] for c in answer}[step["token"]], abs=1e-6)
        tokens[step["mask"]] = step["token"]
        product *= step["probability"]
    assert tokens == joint["tokens"] and joint["probability"] == pytest.approx(product, rel=1e-5)
    assert "[MASK]" not in joint["text"]

    single = fill.fill_jointly("今天天气很[MASK]。")
    assert single["tokens"] == [fill("今天天气很[MASK]。", top_k=1)[0][0]["token"]]


def test_integrated_gradients_add_up_to_the_logit_difference_keras_gives(exports, classify):
    text = "服务态度太差了"
    got = classify.integrated_gradients(text)
    features = keras_features(exports.tokenizer, [text])
    n = int(features["padding_mask"].sum())
    ids = features["token_ids"].copy()
    ordinary = (np.arange(ids.shape[1]) > 0) & (np.arange(ids.shape[1]) < n - 1)
    ids[0, ordinary] = exports.tokenizer.pad_id  # the baseline: [PAD] under every ordinary token, same mask
    logits = [np.asarray(exports.classifier({**features, "token_ids": x})["logits"])[0]
              for x in (features["token_ids"], ids)]
    label = int(np.argmax(logits[0]))
    difference = float((logits[0] - logits[0].mean())[label] - (logits[1] - logits[1].mean())[label])
    assert got["label"] == LABELS[label] and got["logit_difference"] == pytest.approx(difference, abs=1e-4)
    assert got["attributions"][0] == 0 and got["attributions"][-1] == 0 and len(got["tokens"]) == n
    assert float(np.sum(got["attributions"])) == pytest.approx(difference, abs=0.02 * abs(difference) + 1e-4)

    one_token = classify.integrated_gradients("好")  # all of the difference goes to the only ordinary token
    assert float(one_token["attributions"][1]) == pytest.approx(one_token["logit_difference"],
                                                         abs=0.02 * abs(one_token["logit_difference"]) + 1e-4)
    pair = classify.integrated_gradients(text, "再也不来了")
    assert pair["tokens"].count("[SEP]") == 2 and pair["attributions"].shape == (len(pair["tokens"]),)


def test_an_export_without_the_newer_signatures_says_to_export_again(fill, monkeypatch):
    monkeypatch.setattr(fill, "supports", lambda signature: False)
    with pytest.raises(MissingSignatureError, match="export the model again"):
        fill.embedding_parts("今天")


def test_kbert_json_and_the_card_describe_the_new_signatures(exports):
    lm, classifier = (pipeline(task, path).metadata for task, path in (("fill-mask", exports.pretrainer_dir),
                                                                       ("classify", exports.classifier_dir)))
    assert lm["signatures"]["embedding_parts"]["outputs"]["embedding_sum"] == {"dtype": "float32",
                                                                              "shape": "[?, length, 64]"}
    assert lm["signatures"]["fill_mask_scores"]["inputs"]["candidates"] == {"dtype": "string", "shape": "[?, 10]"}
    assert set(classifier["signatures"]) >= {"integrated_gradients", "integrated_gradients_pair", "tokenize",
                                             "embedding_parts_pair"}
    assert classifier["ig_steps"] == 32 and "ig_steps" not in lm
    card = (exports.classifier_dir / "README.md").read_text()
    assert "integrated_gradients attributes the same logit" in card and "`embedding_parts`" in card

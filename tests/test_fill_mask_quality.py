"""The quality figures the benchmark and the main job report: the character bigram counted by hand, the
pretrainer's held-out fill-mask guesses against the exported fill_mask's, and accuracy at [MASK] targets."""

import collections
import math

import numpy as np
import pytest
import tensorflow as tf
from export_support import CORPUS, export_tiny_models

from kbert.pipeline import pipeline
from kbert.text.bigram import BOUNDARY, CharacterBigram
from kbert.text.masked_characters import EVERYDAY_SENTENCES, MaskedCharacter, read_marked_sentences
from kbert.training.fill_mask_quality import bigram_guesses, hit_rates, model_guesses
from kbert.training.tasks import PretrainingTask

SENTENCES = ["北京是中国的首都。", "上海是中国的城市。", "我爱北京。", "中国很大。"]


def by_hand(left: str, right: str, smoothing: float = 0.01) -> dict[str, float]:
    """P(c | left) * P(right | c) with add-`smoothing` counts, straight from the definition."""
    pairs, firsts = collections.Counter(), collections.Counter()
    for sentence in SENTENCES:
        text = BOUNDARY + sentence + BOUNDARY
        for a, b in zip(text[:-1], text[1:], strict=True):
            pairs[a, b] += 1
            firsts[a] += 1
    characters = sorted(set("".join(SENTENCES)))
    outcomes = len(characters) + 1  # every character, or the end of the sentence
    return {c: (pairs[left, c] + smoothing) / (firsts[left] + smoothing * outcomes)
            * (pairs[c, right] + smoothing) / (firsts[c] + smoothing * outcomes) for c in characters}


@pytest.mark.parametrize(("left", "right"), [("国", "首"), ("的", "都"), (BOUNDARY, "京"), ("国", BOUNDARY)])
def test_bigram_ranks_characters_as_the_definition_does(left, right):
    model = CharacterBigram.fit(SENTENCES)
    expected = by_hand(left, right)
    scores = model.log_scores(left, right)
    # The same ranking, and scores that differ from the log-probabilities only by a constant (P(c | left)'s
    # denominator, the same for every candidate).
    shift = {scores[model.index[c]] - math.log(p) for c, p in expected.items()}
    assert max(shift) - min(shift) < 1e-9
    top = model.top_k(left, right, k=3)
    assert [expected[c] for c in top] == pytest.approx(sorted(expected.values(), reverse=True)[:3])  # ties in any order


def test_bigram_guesses_use_the_neighbours_of_the_hidden_character():
    model = CharacterBigram.fit(SENTENCES)
    examples = [MaskedCharacter("北京是中国的首都。", 5, 0), MaskedCharacter("我爱北京。", 0, 0)]
    guesses = bigram_guesses(model, examples, top_k=2)
    assert guesses[0] == model.top_k("国", "首", k=2) and guesses[0][0] == "的"
    assert guesses[1] == model.top_k(BOUNDARY, "爱", k=2)
    assert hit_rates(examples, guesses) == {"top_1": 0.5 * (guesses[1][0] == "我") + 0.5,
                                            "top_5": 0.5 * ("我" in guesses[1]) + 0.5}


def test_model_guesses_are_the_exported_fill_masks_top_tokens(tmp_path):
    exports = export_tiny_models(tmp_path)
    sentence = CORPUS[3]
    examples = [MaskedCharacter(sentence, position, 0) for position in (0, 2, 5, 9)]
    guesses = model_guesses(exports.pretrainer, exports.tokenizer, examples, seq_length=32, top_k=5)
    exported = pipeline("fill-mask", exports.pretrainer_dir)([example.masked() for example in examples], top_k=5)
    assert guesses == [[answer["token"] for answer in masks[0]] for masks in exported]
    assert not {token for row in guesses for token in row} & {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}


def test_mask_accuracy_counts_only_targets_that_show_mask():
    vocab, mask_id = 12, 4
    logits = np.full((1, 3, vocab), -5.0, "float32")
    logits[0, 0, 7] = logits[0, 1, 8] = logits[0, 2, 6] = 5.0  # predicts 7, 8, 6
    batch = {"token_ids": np.array([[2, 4, 8, 4, 3]], "int32"), "mask_positions": np.array([[1, 2, 3]], "int32"),
             "mask_ids": np.array([[7, 8, 9]], "int32"), "mask_weights": np.ones((1, 3), "float32"),
             "next_sentence_labels": np.zeros(1, "int32")}

    def model(inputs, training=False):
        return {"mlm_logits": tf.constant(logits), "nsp_logits": tf.zeros((1, 2))}

    task = PretrainingTask(model, mask_id)
    metrics = task.metrics(task.sums(batch, training=False))
    assert metrics["mlm_accuracy"] == pytest.approx(2 / 3)  # right at positions 1 and 2
    assert metrics["mlm_mask_accuracy"] == pytest.approx(1 / 2)  # of the [MASK]s (1 and 3), right at 1 only
    unmasked = PretrainingTask(model)
    assert "mlm_mask_accuracy" not in unmasked.metrics(unmasked.sums(batch, training=False))


def test_marked_sentences_are_read_with_their_topic_and_a_bad_line_is_named(tmp_path):
    path = tmp_path / "everyday.tsv"
    path.write_text("# comment\n\n天气\t今天天气很【好】。\n购物\t多少钱？\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"everyday.tsv:4: expected 'topic<TAB>sentence' with one character"):
        read_marked_sentences(path)
    path.write_text("天气\t今天天气很【好】。\n", encoding="utf-8")
    ((topic, example),) = read_marked_sentences(path)
    assert (topic, example.masked(), example.answer) == ("天气", "今天天气很[MASK]。", "好")


def test_the_shipped_everyday_sentences_all_parse():
    examples = read_marked_sentences(EVERYDAY_SENTENCES)
    assert len(examples) >= 40 and len({topic for topic, _ in examples}) >= 6

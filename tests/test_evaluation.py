"""The evaluation report (kbert.reports.evaluation): a tiny pretraining run on a small Chinese corpus, exported with a
tiny classifier, evaluated end to end; the sampling, metric and error-message pieces checked on their own."""

import json
import math
import random
import re

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score

from kbert.export import export_model
from kbert.models import BertBackbone, BertClassifier
from kbert.pipeline import pipeline
from kbert.reports.evaluation import (
    checkpoint_prefixes,
    classification_scores,
    evaluate_models,
    pretraining_curve,
    sentence_pairs,
    sentiment_comparison,
    tfidf_logistic_regression,
)
from kbert.text.bigram import CharacterBigram
from kbert.text.corpus import DEFAULT_CORPUS, EMBEDDED_CORPORA, load_corpus
from kbert.text.masked_characters import masked_characters
from kbert.text.normalization import CJK_CHARS
from kbert.text.sentiment import LABEL_NAMES, SentimentData
from kbert.text.vocab import load_vocabulary
from kbert.training import pretraining
from kbert.training.fill_mask_quality import bigram_guesses, hit_rates
from kbert.training.run_config import PretrainSettings

CHARACTERS = "天地人山水日月风云花草树木春夏秋冬东西南北上下大小多少来去年时国家学生工作中心文化经济社会发展"
SHORT_REVIEWS = [("天地好人", 1), ("山水差", 0), ("日月快快", 1)]
MODEL_CARD = {"command": "pytest tests/test_evaluation.py", "data": "a small made-up corpus", "steps": 4,
              "tokens_seen": 2048, "hardware": "the test machine"}


def _corpus_text(documents: int = 500, seed: int = 0) -> str:
    """Documents of six sentences, each keeping to a few characters of its own so that the model has something to
    learn; Google's layout (a blank line between documents)."""
    rng = random.Random(seed)
    lines = []
    for _ in range(documents):
        topic = rng.sample(CHARACTERS, 8)
        lines += ["".join(rng.choice(topic) for _ in range(rng.randint(12, 30))) + "。" for _ in range(6)]
        lines.append("")
    return "\n".join(lines)


def _reviews(count: int, seed: int) -> tuple[list[str], list[int]]:
    rng = random.Random(seed)
    labels = [i % 2 for i in range(count)]
    words = {0: "差坏慢", 1: "好美快"}
    texts = ["".join(rng.sample(CHARACTERS, 6)) + rng.choice(words[label]) + "".join(rng.sample(CHARACTERS, 3))
             for label in labels]
    return texts, labels


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A pretraining run of 4 steps (checkpoints at 2 and 4), its export with a model card, and a random classifier
    exported with the sentiment labels."""
    root = tmp_path_factory.mktemp("evaluation")
    (root / "corpus.txt").write_text(_corpus_text(), encoding="utf-8")
    settings = PretrainSettings(output_dir=str(root / "run"), corpus=str(root / "corpus.txt"),
                                data_dir=str(root / "data"), vocab_size=200, seq_length=64, max_predictions=8,
                                batch_size=8, steps=4, checkpoint_every=2, keep_checkpoints=5, eval_every=1000,
                                log_every=1, precision="float32", strategy="default")
    pretraining.pretrain(settings)
    restored = pretraining.restore_run(settings.output_dir)
    model, tokenizer = restored.model, restored.tokenizer
    pretrained = export_model(model, tokenizer, root / "models", name="zh", seq_length=64, model_card=MODEL_CARD)
    classifier = BertClassifier(BertBackbone(model.backbone.config), num_labels=len(LABEL_NAMES))
    classifier_dir = export_model(classifier, tokenizer, root / "models", name="sentiment",
                                  label_names=list(LABEL_NAMES), seq_length=32)
    train_texts, train_labels = _reviews(40, seed=1)
    test_texts, test_labels = _reviews(20, seed=2)
    train_labels[0] = 1  # a majority (positive) in training to tell the majority baseline apart
    sentiment = SentimentData(train_texts, train_labels, test_texts, test_labels)
    return {"root": root, "run": settings.output_dir, "pretrained": pretrained, "classifier": classifier_dir,
            "sentiment": sentiment, "corpus": load_corpus(settings.corpus, settings.data_dir)}


@pytest.fixture(scope="module")
def report(models):
    """The whole report, written where its figure lies in another folder."""
    output, figure = models["root"] / "report" / "EVALUATION.md", models["root"] / "figures" / "curve.png"
    everyday = models["root"] / "everyday.tsv"
    everyday.write_text("# two made-up sentences\n天气\t春天的【花】草树木。\n学校\t学生工作中【心】。\n",
                        encoding="utf-8")
    short = models["root"] / "short_reviews.tsv"
    short.write_text("text\tlabel\n" + "".join(f"{text}\t{LABEL_NAMES[label]}\n" for text, label in SHORT_REVIEWS),
                     encoding="utf-8")
    results = evaluate_models(models["run"], str(models["pretrained"]), str(models["classifier"]), str(output),
                              str(figure), "python bench/evaluate_models.py --seed 3", seed=3, shown=6,
                              fill_mask_sample=40, pairs=30, sentiment=models["sentiment"], everyday=str(everyday),
                              speed=(str(models["root"] / "figures" / "speed.png"), "python bench/time_to_quality.py"),
                              short_reviews=str(short))
    return results, output, figure


def test_curve_has_the_initial_model_and_every_checkpoint_with_perplexity_exp_of_mlm_loss(models, report):
    rows = report[0]["pretraining"]["rows"]
    assert [row["step"] for row in rows] == [0, 2, 4]
    assert [row["checkpoint"] for row in rows[1:]] == [prefix for _, prefix in checkpoint_prefixes(models["run"])]
    for row in rows:
        assert row["mlm_perplexity"] == pytest.approx(math.exp(row["mlm_loss"]))
    # The newest checkpoint's figures are what the run's own held-out evaluation wrote.
    run_evaluation = json.loads((models["root"] / "run" / "eval.json").read_text())
    for key in ("mlm_accuracy", "mlm_loss", "nsp_accuracy"):
        assert rows[-1][key] == pytest.approx(run_evaluation[key], rel=1e-5)
    guessing = report[0]["pretraining"]["references"]  # the run's eval.json adds the bigram's fill-mask figures
    assert guessing == pytest.approx({key: run_evaluation["references"][key] for key in guessing})
    vocab_size = len(load_vocabulary(models["root"] / "run" / "vocab.txt"))
    assert 0.8 * vocab_size < rows[0]["mlm_perplexity"] < 1.25 * vocab_size  # untrained: about uniform guesses


def test_a_run_directory_without_checkpoints_is_refused_naming_it(models, tmp_path):
    empty = tmp_path / "not-started"
    empty.mkdir()
    (empty / "settings.json").write_text((models["root"] / "run" / "settings.json").read_text())
    with pytest.raises(FileNotFoundError, match=re.escape(str(empty)) + " holds no checkpoints"):
        pretraining_curve(str(empty))
    with pytest.raises(FileNotFoundError, match="no such directory"):
        checkpoint_prefixes(str(tmp_path / "missing"))


def test_without_its_run_the_report_reads_the_corpus_from_the_model_card_and_leaves_out_the_curve(models, report,
                                                                                                   tmp_path):
    # A fresh clone has the exported models but not the run's checkpoints: the report must still regenerate, with
    # the same fill-mask, bigram and sentence-pair figures as where the run is at hand.
    restored = pretraining.restore_run(models["run"])
    card = {**MODEL_CARD, "data": pretraining.describe_data({"corpus": str(models["root"] / "corpus.txt")})}
    pretrained = export_model(restored.model, restored.tokenizer, tmp_path / "models", name="zh", seq_length=64,
                              model_card=card)
    output, figure = tmp_path / "EVALUATION.md", tmp_path / "curve.png"
    results = evaluate_models(None, str(pretrained), str(models["classifier"]), str(output), str(figure),
                              "python bench/evaluate_models.py --seed 3", seed=3, shown=6, fill_mask_sample=40,
                              pairs=30, sentiment=models["sentiment"], data_dir=str(models["root"] / "data"))
    with_run = report[0]
    for key in ("sample_rates", "bigram_rates"):
        assert results["fill_mask"][key] == with_run["fill_mask"][key]
    assert results["next_sentence"] == with_run["next_sentence"]
    assert results["corpus"] == with_run["corpus"]
    assert results["pretraining"] is None and not figure.exists()
    text = output.read_text(encoding="utf-8")
    assert "\n## Pretraining\n\nNo pretraining run was given" in text and "pretraining run |" not in text
    assert "For comparison, the held-out NSP accuracy" not in text
    assert f"| character bigram | {results['fill_mask']['bigram_rates']['top_1']:.4f} |" in text


def test_without_its_run_a_model_card_that_names_no_corpus_is_refused_naming_the_model(models, tmp_path):
    with pytest.raises(ValueError, match=re.escape(str(models["pretrained"])) + r".*does not name a corpus"):
        evaluate_models(None, str(models["pretrained"]), str(models["classifier"]), str(tmp_path / "E.md"),
                        str(tmp_path / "curve.png"), "python bench/evaluate_models.py")
    assert not (tmp_path / "E.md").exists()


def test_the_corpus_a_model_card_describes_is_the_one_it_was_trained_on(tmp_path):
    for name in EMBEDDED_CORPORA:
        assert pretraining.described_corpus(pretraining.describe_data({"corpus": name})) == name
    assert pretraining.described_corpus(pretraining.describe_data({"corpus": None})) == DEFAULT_CORPUS
    path = str(tmp_path / "my corpus.txt")
    assert pretraining.described_corpus(pretraining.describe_data({"corpus": path})) == path


def test_fill_mask_characters_come_from_held_out_sentences_never_seen_in_training(models):
    corpus = models["corpus"]
    vocab = load_vocabulary(models["pretrained"] / "vocab.txt")
    examples = masked_characters(corpus.heldout, vocab, 40, seed=5, exclude=set(corpus.texts("train")))
    heldout_sentences = {(d, "".join(words)) for d, document in enumerate(corpus.heldout) for words in document}
    training_sentences = set(corpus.texts("train"))
    assert len(examples) == 40
    for example in examples:
        assert (example.document, example.sentence) in heldout_sentences
        assert example.sentence not in training_sentences
        assert 12 <= len(example.sentence) <= 60
        assert example.answer == example.sentence[example.position]
        assert example.answer in vocab and re.fullmatch(f"[{CJK_CHARS}]", example.answer)
        masked = example.masked("[MASK]")
        assert masked.count("[MASK]") == 1 and masked.replace("[MASK]", example.answer) == example.sentence
    distinct = len({example.sentence for example in examples[:10]})
    assert distinct == 10  # one character per sentence before any sentence gives a second
    assert examples == masked_characters(corpus.heldout, vocab, 40, seed=5, exclude=training_sentences)
    assert examples != masked_characters(corpus.heldout, vocab, 40, seed=6, exclude=training_sentences)


def test_fill_mask_answers_are_the_original_characters_and_top_1_counts_within_top_5(models, report):
    fill = report[0]["fill_mask"]
    assert len(fill["shown"]) == 6 and fill["sample_rates"]["examples"] == 40
    model = pipeline("fill-mask", models["pretrained"])
    for answer in fill["shown"]:
        example = answer["example"]
        assert [guess["token"] for guess in answer["top"]] == [
            guess["token"] for guess in model(example.masked(), top_k=5)[0]]
        assert answer["top_1"] == (answer["top"][0]["token"] == example.answer)
        assert answer["top_k"] == (example.answer in [guess["token"] for guess in answer["top"]])
        assert answer["top_k"] or not answer["top_1"]
    for rates in (fill["shown_rates"], fill["sample_rates"]):
        assert 0 <= rates["top_1"] <= rates["top_k"] <= 1


def test_report_sets_the_bigram_and_everyday_sentences_beside_the_model(models, report):
    results, output, _ = report
    corpus = models["corpus"]
    bigram = CharacterBigram.fit(corpus.texts("train"))
    examples = [answer["example"] for answer in results["fill_mask"]["shown"]]
    expected = hit_rates(examples, bigram_guesses(bigram, examples))
    shown_bigram = hit_rates(examples[:6], bigram_guesses(bigram, examples[:6]))
    assert shown_bigram == expected
    everyday = results["everyday"]
    assert everyday["topics"] == ["天气", "学校"]
    assert [a["example"].masked() for a in everyday["answers"]] == ["春天的[MASK]草树木。", "学生工作中[MASK]。"]
    text = output.read_text(encoding="utf-8")
    sample = results["fill_mask"]["bigram_rates"]
    assert f"| character bigram | {sample['top_1']:.4f} | {sample['top_5']:.4f} |" in text
    assert "## Everyday sentences" in text and "| 天气 | 春天的\\[MASK\\]草树木。 | 花 |" in text
    assert "![time to quality](../figures/speed.png)" in text and "    python bench/time_to_quality.py" in text


def test_accuracy_and_f1_match_scikit_learn():
    rng = np.random.default_rng(0)
    labels, predictions = rng.integers(0, 2, 200).tolist(), rng.integers(0, 2, 200).tolist()
    for predicted in (predictions, [0] * 200):  # the second never predicts the positive class
        scores = classification_scores(labels, predicted, num_labels=2, positive=1)
        assert scores["accuracy"] == pytest.approx(accuracy_score(labels, predicted))
        assert scores["macro_f1"] == pytest.approx(f1_score(labels, predicted, average="macro", labels=[0, 1],
                                                            zero_division=0))
        assert scores["positive_f1"] == pytest.approx(f1_score(labels, predicted, pos_label=1, zero_division=0))


def test_sentiment_compares_the_classifier_with_majority_and_tfidf_baselines(models, report):
    sentiment, data = report[0]["sentiment"], models["sentiment"]
    assert sentiment["test_examples"] == 20 and sentiment["train_examples"] == 40
    assert sentiment["majority_label"] == "positive"
    assert sentiment["majority"]["accuracy"] == pytest.approx(data.test_labels.count(1) / 20)
    assert sentiment["majority"]["positive_f1"] > 0 and sentiment["majority"]["macro_f1"] < 0.5
    predicted = [LABEL_NAMES.index(r["label"]) for r in pipeline("classify", models["classifier"])(data.test_texts)]
    assert sentiment["classifier"] == pytest.approx(classification_scores(data.test_labels, predicted, 2, 1))
    assert sentiment["tfidf"]["accuracy"] > sentiment["majority"]["accuracy"]  # one character decides the label


def test_short_reviews_get_each_systems_probability_and_a_row_in_the_report(models, report):
    results, output, _ = report
    short, data = results["sentiment"]["short_reviews"], models["sentiment"]
    texts = [text for text, _ in SHORT_REVIEWS]
    assert short["texts"] == texts and short["labels"] == [LABEL_NAMES[label] for _, label in SHORT_REVIEWS]
    ours = [r["scores"]["positive"] for r in pipeline("classify", models["classifier"])(texts)]
    assert short["positive"]["classifier"] == pytest.approx(ours)
    baseline = tfidf_logistic_regression().fit(data.train_texts, data.train_labels)
    assert short["positive"]["tfidf"] == pytest.approx(baseline.predict_proba(texts)[:, 1].tolist())
    right = sum((p >= 0.5) == bool(label) for p, (_, label) in zip(ours, SHORT_REVIEWS, strict=True))
    assert short["right"]["classifier"] == right
    text = output.read_text(encoding="utf-8")
    assert f"| 山水差 | negative | {ours[1]:.3f} | {short['positive']['tfidf'][1]:.3f} |" in text
    assert f"Right: kbert {short['right']['classifier']} of 3, TF-IDF + LR {short['right']['tfidf']} of 3." in text


def test_short_reviews_with_a_label_the_classifier_lacks_are_refused_naming_the_file(models, tmp_path):
    short = tmp_path / "short.tsv"
    short.write_text("text\tlabel\n天地好人\tpositive\n山水差\tneutral\n", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"{re.escape(str(short))} has label\(s\) 'neutral'"):
        sentiment_comparison(pipeline("classify", models["classifier"]), models["sentiment"], str(short))


def test_sentence_pairs_are_half_consecutive_sentences_half_from_another_document():
    documents = [[[f"d{d}s{s}"] for s in range(size)] for d, size in enumerate([5, 1, 4, 2, 6])]
    pairs = sentence_pairs(documents, count=20, seed=1)
    assert len(pairs) == 20 and sum(pair.is_next for pair in pairs) == 10
    for pair in pairs:
        (d, i), (e, j) = pair.first_at, pair.second_at
        assert pair.first == f"d{d}s{i}" and pair.second == f"d{e}s{j}"
        assert i + 1 < len(documents[d])  # every first sentence has a successor
        assert (e, j) == (d, i + 1) if pair.is_next else e != d
    assert pairs == sentence_pairs(documents, count=20, seed=1)
    assert len(sentence_pairs(documents, count=1000)) == 2 * 13  # as many pairs as consecutive sentences allow
    with pytest.raises(ValueError, match="two documents"):
        sentence_pairs([[["one"], ["two"]]])


def test_next_sentence_figures_count_the_pairs(report):
    pairs = report[0]["next_sentence"]
    assert pairs["examples"] == 30 and pairs["is_next"] == pairs["not_next"] == 15 and pairs["documents"] >= 2
    assert pairs["accuracy"] == pytest.approx((pairs["is_next_correct"] + pairs["not_next_correct"]) / 30)


def test_report_has_every_section_the_model_card_and_a_png_linked_relative_to_it(report):
    results, output, figure = report
    text = output.read_text(encoding="utf-8")
    for heading in ("# Evaluation of the demo models", "## What was evaluated", "## Pretraining", "## Fill-mask",
                    "## Sentiment", "## Sentence pairs"):
        assert f"\n{heading}\n" in f"\n{text}"
    assert "    python bench/evaluate_models.py --seed 3\n" in text
    assert "| `tokens_seen` | 2048 |" in text and "| `hardware` | the test machine |" in text
    assert "](../figures/curve.png)" in text
    assert text.count("\n| ") - text.count("\n|---") >= 3 + 6 + 3  # curve rows, fill-mask rows, sentiment rows
    assert f"| 4 | {results['pretraining']['rows'][-1]['mlm_accuracy']:.4f} |" in text
    data = figure.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    import matplotlib.image

    assert matplotlib.image.imread(figure).shape[:2] == (700, 1000)

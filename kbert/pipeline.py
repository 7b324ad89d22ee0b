"""Inference from an exported model directory alone: `pipeline(task, model_dir)` answers fill-mask, next-sentence,
classify or encode, in batches. Needs TensorFlow and tensorflow-text only, never the training code.

>>> fill = pipeline("fill-mask", "saved_models/zh")         # a model's directory (its latest version) or a version
>>> fill("今天天气很[MASK]，我们去公园[MASK]。", top_k=3)     # one list per [MASK], best first
[[{"token": "好", "token_id": 1962, "score": 0.62}, ...], [{"token": "玩", ...}, ...]]

This module is callable: after `from kbert import pipeline` or `import kbert.pipeline`, `pipeline(task, model_dir)`
and `kbert.pipeline(task, model_dir)` call `pipeline` below. `import kbert` alone imports no TensorFlow.
"""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the tokenizer ops the SavedModels' graphs use)

from kbert.io import read_json
from kbert.model_card import (
    CARD_FILE,
    CONFIG_FILE,
    FORMAT,
    METADATA_FILE,
    SAVED_MODEL_FILE,
    VOCAB_FILE,
    version_dirs,
)

Texts = str | Sequence[str]


class ModelLoadError(Exception):
    """A model directory that is missing, incomplete or unreadable; the message names the path and what is wrong."""


class MissingSignatureError(Exception):
    """The export predates a signature a method needs; exporting the model again adds it."""


def resolve_model_dir(model_dir: str | os.PathLike) -> Path:
    """A version directory as given, or the highest-numbered version under a model's directory."""
    path = Path(model_dir)
    if not path.is_dir():
        raise ModelLoadError(f"{path}: no such directory; pass a directory written by kbert.export.export_model "
                             "(saved_models/<name> or saved_models/<name>/<version>)")
    if (path / SAVED_MODEL_FILE).is_file():
        return path
    versions = version_dirs(path)
    if not versions:
        raise ModelLoadError(f"{path}: no {SAVED_MODEL_FILE} and no numbered version directories in it; pass a "
                             "directory written by kbert.export.export_model")
    return versions[max(versions)]


def _read_export_json(path: Path) -> Any:
    try:
        return read_json(path)
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"{path}: cannot read it ({error}); re-export the model") from error


# kbert.json's fields that inference reads, with the JSON types they must have (`int` excludes booleans).
_METADATA_FIELDS = {"name": (str,), "model_type": (str,), "tasks": (list,), "seq_length": (int,), "lowercase": (bool,),
                    "mask_token": (str,), "label_names": (list, type(None)), "model_card": (dict,)}
_PRETRAINER_FIELDS = {"max_masks": (int,), "top_k": (int,)}
_MODEL_TYPES = ("pretrainer", "classifier")
_TYPE_NAMES = {str: "a string", int: "an integer", bool: "true or false", list: "a list", dict: "an object",
               type(None): "null"}


def read_export(path: Path) -> dict[str, Any]:
    """The metadata (kbert.json) of the export in version directory `path`, after checking that its files are all
    there and that each field inference reads has the right type; ModelLoadError names what is wrong."""
    missing = [name for name in (SAVED_MODEL_FILE, "variables", METADATA_FILE, CONFIG_FILE, VOCAB_FILE)
               if not (path / name).exists()]
    if missing:
        raise ModelLoadError(f"{path}: missing {', '.join(missing)}; not a complete kbert export, export the model "
                             "again")
    file = path / METADATA_FILE
    metadata = _read_export_json(file)
    if not isinstance(metadata, dict):
        raise ModelLoadError(f"{file}: holds {_TYPE_NAMES.get(type(metadata), type(metadata).__name__)}, not the "
                             "object of a kbert export; export the model again")
    if metadata.get("format") != FORMAT:
        raise ModelLoadError(f"{file}: not a {FORMAT} metadata file (format {metadata.get('format')!r}); export the "
                             "model again")
    fields = {**_METADATA_FIELDS, **(_PRETRAINER_FIELDS if metadata.get("model_type") == "pretrainer" else {})}
    for field, types_ in fields.items():
        value = metadata.get(field)
        if field not in metadata or not isinstance(value, types_) or (int in types_ and isinstance(value, bool)):
            found = "missing" if field not in metadata else f"{value!r:.40}"
            raise ModelLoadError(f"{file}: field {field!r} must be {' or '.join(_TYPE_NAMES[t] for t in types_)}, "
                                 f"got {found}; export the model again")
    problems = []
    if metadata["model_type"] not in _MODEL_TYPES:
        problems.append(f"'model_type' must be one of {', '.join(_MODEL_TYPES)}, got {metadata['model_type']!r:.40}")
    if not metadata["tasks"] or not all(task in TASKS for task in metadata["tasks"]):
        problems.append(f"'tasks' must list tasks among {', '.join(TASKS)}, got {metadata['tasks']!r:.80}")
    for field in ("seq_length", *(_PRETRAINER_FIELDS if metadata["model_type"] == "pretrainer" else ())):
        if metadata[field] < 1:
            problems.append(f"{field!r} must be positive, got {metadata[field]}")
    labels = metadata["label_names"]
    if metadata["model_type"] == "classifier" and not (labels and all(isinstance(x, str) for x in labels)):
        problems.append(f"'label_names' must list a classifier's labels as strings, got {labels!r:.80}")
    if problems:
        raise ModelLoadError(f"{file}: {'; '.join(problems)}; export the model again")
    return metadata


class Pipeline:
    """Loads one exported model (once) and answers one task; every task can also `inspect` and check `truncated`."""

    task = ""
    signature_names: tuple[str, ...] = ()

    def __init__(self, model_dir: str | os.PathLike, batch_size: int = 32):
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size} must be at least 1")
        self.path = resolve_model_dir(model_dir)
        self.batch_size = batch_size
        self.metadata = read_export(self.path)
        if self.task not in self.metadata["tasks"]:
            raise ValueError(f"{self.path} holds a {self.metadata['model_type']}, which answers "
                             f"{', '.join(self.metadata['tasks'])}, not {self.task}")
        self._config = _read_export_json(self.path / CONFIG_FILE)
        vocab_size = self._config.get("vocab_size") if isinstance(self._config, dict) else None
        if not isinstance(vocab_size, int) or isinstance(vocab_size, bool):
            raise ModelLoadError(f"{self.path / CONFIG_FILE}: field 'vocab_size' must be an integer, got "
                                 f"{vocab_size!r:.40}; export the model again")
        try:
            self._model = tf.saved_model.load(str(self.path))
        except Exception as error:  # TensorFlow raises many types for a damaged SavedModel
            raise ModelLoadError(f"{self.path}: TensorFlow cannot load the SavedModel "
                                 f"({type(error).__name__}: {error}); export the model again") from error
        needed = (*self.signature_names, "inspect", "inspect_pair", "count_tokens")
        absent = [name for name in needed if name not in self._model.signatures]
        if absent:
            raise ModelLoadError(f"{self.path}: the SavedModel lacks the signatures {', '.join(absent)}; "
                                 "export the model again")

    @property
    def seq_length(self) -> int:
        """Inputs longer than this many tokens (with [CLS] and [SEP]) are cut."""
        return self.metadata["seq_length"]

    @property
    def info(self) -> dict[str, Any]:
        """kbert.json's fields, plus the model `config` (bert_config.json), `vocab_size`, `metrics`, the model card
        text (`card`), `path` and `version`."""
        card_path = self.path / CARD_FILE
        return {**self.metadata, "config": self._config, "vocab_size": self._config["vocab_size"],
                "metrics": self.metadata["model_card"].get("metrics", {}),
                "card": card_path.read_text(encoding="utf-8") if card_path.is_file() else "",
                "path": str(self.path), "version": int(self.path.name) if self.path.name.isdecimal() else None}

    def supports(self, signature: str) -> bool:
        """Whether the export has `signature` (models exported by an older kbert lack the newer ones)."""
        return signature in self._model.signatures

    def _require(self, signature: str) -> None:
        if not self.supports(signature):
            raise MissingSignatureError(f"{self.path} was exported without the {signature!r} signature (by an older "
                                        "kbert); export the model again to use it")

    def tokenize(self, texts: Sequence[str]) -> list[list[str]]:
        """Each text's WordPiece tokens, without [CLS]/[SEP] and uncut by the window; [UNK] where the vocabulary has
        no piece for a word."""
        self._require("tokenize")
        texts, _ = _as_texts(texts, "texts")
        tokens = []
        for _, outputs in self._run("tokenize", texts):
            tokens += [[token.decode("utf-8") for token in row[:count]]
                       for row, count in zip(outputs["tokens"], outputs["num_tokens"], strict=True)]
        return tokens

    def embedding_parts(self, text: str, text_pair: str | None = None) -> dict[str, Any]:
        """The input representation of the `n` real tokens: `tokens`, `segment_ids` `[n]`, and float32 `[n,
        hidden_size]` arrays `token_embeddings`, `segment_embeddings`, `position_embeddings`, `embedding_sum` (the
        three added) and `embedding_output` (the sum after LayerNorm: what the first encoder layer reads)."""
        name = "embedding_parts" if text_pair is None else "embedding_parts_pair"
        self._require(name)
        outputs = self._run_one(name, text, text_pair)
        n = int(outputs["padding_mask"][0].sum())
        parts = {key: outputs[key][0, :n] for key in ("token_embeddings", "segment_embeddings", "position_embeddings",
                                                      "embedding_sum", "embedding_output", "segment_ids")}
        return {"tokens": [token.decode("utf-8") for token in outputs["tokens"][0, :n]], **parts}

    def truncated(self, text: str, text_pair: str | None = None) -> bool:
        """Whether `text` (and `text_pair`) lose tokens to fit in `seq_length`."""
        texts = [_checked_text(text, "text")] + ([] if text_pair is None else [_checked_text(text_pair, "text_pair")])
        num_tokens = int(self._model.signatures["count_tokens"](text=tf.constant(texts))["num_tokens"].numpy().sum())
        return num_tokens > self.seq_length - 1 - len(texts)  # room left by [CLS] and a [SEP] per text

    def inspect(self, text: str, text_pair: str | None = None) -> dict[str, Any]:
        """What the model sees and attends to, trimmed to the `n` real tokens: `tokens` (n strings, with [CLS] and
        [SEP]), `attentions` `[layers, heads, n, n]`; classifiers add `attributions` `[n]` (gradient x input of the
        predicted label, per token), `scores` ({label: probability}) and `label`."""
        name = "inspect" if text_pair is None else "inspect_pair"
        outputs = self._run_one(name, text, text_pair)
        n = int(outputs["padding_mask"][0].sum())
        result = {"tokens": [token.decode("utf-8") for token in outputs["tokens"][0, :n]],
                  "attentions": outputs["attentions"][0, :, :, :n, :n]}
        if "attributions" in outputs:
            result["attributions"] = outputs["attributions"][0, :n]
            result.update(self._scores(outputs["probabilities"][0]))
        return result

    def _scores(self, probabilities: np.ndarray) -> dict[str, Any]:
        labels = self.metadata["label_names"]
        return {"label": labels[int(np.argmax(probabilities))],
                "scores": {label: float(p) for label, p in zip(labels, probabilities, strict=True)}}

    def _run_one(self, name: str, text: str, text_pair: str | None) -> dict[str, np.ndarray]:
        """Signature `name`'s outputs for one text (and its second text), each checked first."""
        pairs = None if text_pair is None else [_checked_text(text_pair, "text_pair")]
        return next(self._run(name, [_checked_text(text, "text")], pairs))[1]

    def _run(self, name: str, texts: list[str], pairs: list[str] | None = None
             ) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
        """Calls signature `name` on `batch_size` texts at a time; yields (index of the batch's first text, outputs)."""
        function = self._model.signatures[name]
        for start in range(0, len(texts), self.batch_size):
            inputs = {"text": tf.constant(texts[start:start + self.batch_size])}
            if pairs is not None:
                inputs["text_pair"] = tf.constant(pairs[start:start + self.batch_size])
            yield start, {key: value.numpy() for key, value in function(**inputs).items()}


def _checked_text(text: object, what: str) -> str:
    """`text` if it is a string with something to read in it: an empty text would still get a confident-looking
    answer, and a lone surrogate cannot be encoded for the model. The errors name `what`."""
    if isinstance(text, (bytes, bytearray)):
        raise TypeError(f"{what} is bytes; pass str (decode it first, e.g. {what}.decode('utf-8'))")
    if not isinstance(text, str):
        raise TypeError(f"{what} is a {type(text).__name__}; pass a string")
    if not text.strip():
        raise ValueError(f"{what} is empty{' (only whitespace)' if text else ''}; pass some text to read")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(f"{what} holds a lone surrogate, U+{ord(text[error.start]):04X} at character {error.start}, "
                         "which is not a Unicode character (text decoded with errors='surrogateescape', or half of "
                         "an emoji cut off?); remove or replace it") from None
    return text


def _as_texts(value: Texts, what: str) -> tuple[list[str], bool]:
    """(the texts as a list, whether a single string was given); every text is checked (`_checked_text`), and a bad
    one is named by its index, with the indices of any others."""
    if isinstance(value, (str, bytes, bytearray)):
        return [_checked_text(value, what)], True
    texts = list(value)
    if not texts:
        raise ValueError(f"{what} is empty; pass a string or a non-empty list of strings")
    problems = []
    for index, text in enumerate(texts):
        try:
            _checked_text(text, f"{what}[{index}]")
        except (TypeError, ValueError) as error:
            problems.append((index, error))
    if problems:
        index, error = problems[0]
        others = [f"{what}[{i}]" for i, _ in problems[1:]]
        more = f" (bad too: {', '.join(others[:10])}{', ...' if len(others) > 10 else ''})" if others else ""
        raise type(error)(f"{error}{more}; the other {len(texts) - len(problems):,} texts are fine, nothing was run")
    return texts, False


def _as_pairs(texts: Texts, pairs: Texts | None, what: tuple[str, str]) -> tuple[list[str], list[str] | None, bool]:
    first, single = _as_texts(texts, what[0])
    if pairs is None:
        return first, None, single
    second, single_second = _as_texts(pairs, what[1])
    if len(second) != len(first) or single != single_second:
        raise ValueError(f"{what[0]} and {what[1]} must match: both strings or lists of the same length "
                         f"(got {len(first)} and {len(second)} texts)")
    return first, second, single


class FillMaskPipeline(Pipeline):
    """Predicts the token under each [MASK]; several [MASK]s in one text are answered together, one list each."""

    task = "fill-mask"
    signature_names = ("fill_mask",)

    def __call__(self, texts: Texts, top_k: int = 5) -> list:
        """-> per text, one list per [MASK] (in text order) of `top_k` `{"token", "token_id", "score"}`, best first;
        a single string gives that text's answer alone."""
        batch, single = _as_texts(texts, "texts")
        limit, max_masks, mask = self.metadata["top_k"], self.metadata["max_masks"], self.metadata["mask_token"]
        if not 1 <= top_k <= limit:
            raise ValueError(f"top_k={top_k} must be between 1 and {limit} (the candidates {self.path} returns)")
        counts = [text.count(mask) for text in batch]
        for index, (text, count) in enumerate(zip(batch, counts, strict=True)):
            if count == 0:
                raise ValueError(f"texts[{index}] has no {mask} to fill: {text!r}; write {mask} where a token "
                                 "should be predicted")
            if count > max_masks:
                raise ValueError(f"texts[{index}] has {count} {mask}s; {self.path} answers at most {max_masks} "
                                 "per text")
        results = []
        for start, outputs in self._run("fill_mask", batch):
            for row, num_masks in enumerate(outputs["num_masks"]):
                index = start + row
                if num_masks < counts[index]:
                    raise ValueError(f"texts[{index}]: only {num_masks} of its {counts[index]} {mask}s fall within "
                                     f"the first {self.seq_length} tokens; shorten the text")
                results.append([[{"token": outputs["tokens"][row, slot, k].decode("utf-8"),
                                  "token_id": int(outputs["token_ids"][row, slot, k]),
                                  "score": float(outputs["probabilities"][row, slot, k])} for k in range(top_k)]
                                for slot in range(counts[index])])
        return results[0] if single else results

    def score(self, text: str, candidates: Sequence[str]) -> list[dict[str, Any]]:
        """How likely the model finds `candidates[j]` at the j-th [MASK] of `text`: per candidate `{"candidate",
        "probability", "rank", "num_pieces"}`, rank 1 being fill_mask's first answer; a candidate that is not one
        ordinary token of the vocabulary (several WordPieces, [UNK], a special token) gets rank 0 and probability 0."""
        self._require("fill_mask_scores")
        text = _checked_text(text, "text")
        limit = self.metadata["max_masks"]
        if not 1 <= len(candidates) <= min(limit, text.count(self.metadata["mask_token"])):
            raise ValueError(f"{len(candidates)} candidates for a text with {text.count(self.metadata['mask_token'])} "
                             f"{self.metadata['mask_token']}s; give one per [MASK], at most {limit}")
        row = [*candidates, *[""] * (limit - len(candidates))]
        outputs = self._model.signatures["fill_mask_scores"](text=tf.constant([text]), candidates=tf.constant([row]))
        return [{"candidate": candidate, "probability": float(outputs["probabilities"][0, j]),
                 "rank": int(outputs["ranks"][0, j]), "num_pieces": int(outputs["num_pieces"][0, j])}
                for j, candidate in enumerate(candidates)]

    def fill_jointly(self, text: str, beam_width: int = 5) -> dict[str, Any]:
        """The likeliest filling of all the [MASK]s of `text` together, not each on its own: a beam search that
        fills the most confident [MASK] first, then predicts the others again with it in place. -> `tokens` (one per
        [MASK], in text order), `probability` (the product of the probabilities of each step, chain-rule style),
        `steps` (`{"mask", "token", "probability"}` in the order they were filled) and `text` (filled in; a "##"
        piece joins the word before it)."""
        mask = self.metadata["mask_token"]
        count = _checked_text(text, "text").count(mask)
        if count == 0:
            raise ValueError(f"{text!r} has no {mask} to fill")
        beam_width = min(max(int(beam_width), 1), self.metadata["top_k"])
        beams = [([None] * count, 0.0, [])]  # (token per [MASK] or None, log-probability, steps)
        for _ in range(count):
            answers = self([_filled(text, mask, tokens) for tokens, _, _ in beams], top_k=beam_width)
            grown = []
            for (tokens, log_p, steps), answer in zip(beams, answers, strict=True):
                open_masks = [index for index, token in enumerate(tokens) if token is None]
                best = max(range(len(open_masks)), key=lambda slot: answer[slot][0]["score"])
                for candidate in answer[best]:
                    filled = list(tokens)
                    filled[open_masks[best]] = candidate["token"]
                    grown.append((filled, log_p + float(np.log(max(candidate["score"], 1e-30))),
                                  [*steps, {"mask": open_masks[best], "token": candidate["token"],
                                            "probability": candidate["score"]}]))
            unique = {tuple(tokens): (tokens, log_p, steps) for tokens, log_p, steps in sorted(grown, key=_score)}
            beams = sorted(unique.values(), key=_score, reverse=True)[:beam_width]  # one beam per filling, its best
        tokens, log_p, steps = beams[0]
        return {"tokens": tokens, "probability": float(np.exp(log_p)), "steps": steps,
                "text": _filled(text, mask, tokens)}


def _score(beam: tuple) -> float:
    return beam[1]


def _filled(text: str, mask: str, tokens: Sequence[str | None]) -> str:
    """`text` with its i-th `mask` replaced by `tokens[i]` (a "##" piece without the ##; None keeps the mask)."""
    pieces = text.split(mask)
    filled = [pieces[0]]
    for token, piece in zip(tokens, pieces[1:], strict=True):
        filled += [mask if token is None else token.removeprefix("##"), piece]
    return "".join(filled)


class NextSentencePipeline(Pipeline):
    """The probability that the second text follows the first (BERT's next-sentence head)."""

    task = "next-sentence"
    signature_names = ("next_sentence",)

    def __call__(self, first: Texts, second: Texts) -> dict[str, float] | list[dict[str, float]]:
        """-> `{"is_next": probability}` per pair (one dict for two strings, else a list)."""
        texts, pairs, single = _as_pairs(first, second, ("first", "second"))
        results = [{"is_next": float(p)} for _, outputs in self._run("next_sentence", texts, pairs)
                   for p in outputs["is_next"]]
        return results[0] if single else results


class ClassifyPipeline(Pipeline):
    """Label probabilities for texts or text pairs (a fine-tuned classifier)."""

    task = "classify"
    signature_names = ("classify", "classify_pair")

    def __call__(self, texts: Texts, text_pairs: Texts | None = None) -> dict[str, Any] | list[dict[str, Any]]:
        """-> `{"label": likeliest label, "scores": {label: probability}}` per text (one dict for a string)."""
        texts, pairs, single = _as_pairs(texts, text_pairs, ("texts", "text_pairs"))
        name = "classify" if pairs is None else "classify_pair"
        results = [self._scores(p) for _, outputs in self._run(name, texts, pairs) for p in outputs["probabilities"]]
        return results[0] if single else results

    def integrated_gradients(self, text: str, text_pair: str | None = None) -> dict[str, Any]:
        """Integrated-gradients attributions of the predicted label, per token: `tokens` (n, with [CLS]/[SEP]),
        `attributions` `[n]` (0 on [CLS]/[SEP]), `logit_difference` (what they add up to), `scores` and `label`.
        The baseline and steps are in the model card (`ig_steps` in kbert.json)."""
        name = "integrated_gradients" if text_pair is None else "integrated_gradients_pair"
        self._require(name)
        outputs = self._run_one(name, text, text_pair)
        n = int(outputs["padding_mask"][0].sum())
        return {"tokens": [token.decode("utf-8") for token in outputs["tokens"][0, :n]],
                "attributions": outputs["attributions"][0, :n],
                "logit_difference": float(outputs["logit_difference"][0]), **self._scores(outputs["probabilities"][0])}


class EncodePipeline(Pipeline):
    """Embeddings: the pooled `[CLS]` vector and every token's last hidden state."""

    task = "encode"
    signature_names = ("encode", "encode_pair")

    def __call__(self, texts: Texts, text_pairs: Texts | None = None) -> dict[str, np.ndarray]:
        """-> `pooled` `[batch_size, hidden_size]`, `sequence` `[batch_size, seq_length, hidden_size]` and
        `padding_mask` `[batch_size, seq_length]` (1 on real tokens); a single string is a batch of one."""
        texts, pairs, _ = _as_pairs(texts, text_pairs, ("texts", "text_pairs"))
        pooled, sequence, padding_mask = [], [], []
        for _, outputs in self._run("encode" if pairs is None else "encode_pair", texts, pairs):
            extra = self.seq_length - outputs["padding_mask"].shape[1]  # the export trims padding; put it back
            pooled.append(outputs["pooled_output"])
            sequence.append(np.pad(outputs["sequence_output"], [(0, 0), (0, extra), (0, 0)]))
            padding_mask.append(np.pad(outputs["padding_mask"], [(0, 0), (0, extra)]))
        return {"pooled": np.concatenate(pooled), "sequence": np.concatenate(sequence),
                "padding_mask": np.concatenate(padding_mask)}


TASKS = {cls.task: cls for cls in (FillMaskPipeline, NextSentencePipeline, ClassifyPipeline, EncodePipeline)}


def pipeline(task: str, model_dir: str | os.PathLike, batch_size: int = 32) -> Pipeline:
    """The pipeline for `task` (fill-mask, next-sentence, classify, encode) over the export at `model_dir`."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    return TASKS[task](model_dir, batch_size=batch_size)


def list_models(root: str | os.PathLike = "saved_models") -> list[dict[str, Any]]:
    """Every exported model version under `root` (`<root>/<name>/<version>/`), by name then version: `name`,
    `version`, `path`, `kind` (kbert.json's model_type: pretrainer or classifier), `tasks` (the pipeline tasks it
    answers), `metrics` and `problem`: None, or why the version cannot be used (its `kind` is then None, `tasks` and
    `metrics` empty), so one damaged export hides nothing else."""
    root = Path(root)
    models = []
    for parent in sorted(root.iterdir()) if root.is_dir() else []:
        for version, path in sorted(version_dirs(parent).items()):
            found = {"name": parent.name, "version": version, "path": str(path)}
            try:
                metadata = read_export(path)
            except ModelLoadError as error:
                models.append({**found, "kind": None, "tasks": [], "metrics": {}, "problem": str(error)})
                continue
            metrics = metadata["model_card"].get("metrics", {})
            models.append({**found, "kind": metadata["model_type"], "tasks": metadata["tasks"],
                           "metrics": metrics if isinstance(metrics, dict) else {}, "problem": None})
    return models


class _CallableModule(types.ModuleType):
    """This module's type: calling the module calls `pipeline` (`kbert.pipeline` is this module once imported)."""

    def __call__(self, task: str, model_dir: str | os.PathLike, batch_size: int = 32) -> Pipeline:
        return pipeline(task, model_dir, batch_size)


sys.modules[__name__].__class__ = _CallableModule

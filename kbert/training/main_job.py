"""The main job (`python train.py`): pretrain the default model on the embedded corpus, evaluate it on held-out
text, fine-tune and test the review-sentiment classifier, export it, and print a summary table."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

from kbert.io import write_json
from kbert.training.exporting import DEFAULT_MODELS_DIR, export_run
from kbert.training.finetuning import finetune
from kbert.training.pretraining import pretrain
from kbert.training.progress import format_duration, format_table
from kbert.training.run_config import FinetuneSettings, PretrainSettings, settings_from, settings_section
from kbert.training.runtime import JobResult
from kbert.training.strategy import make_strategy

DEFAULT_OUTPUT_DIR = "runs/default"
EXPORT_NAMES = {"pretrain": "zh", "finetune": "sentiment"}  # job -> model name under the models directory
# The main job's fine-tuning learning rate: the default model is BERT-tiny, which wants a far larger one than
# BERT-base's 2e-5 to 5e-5 (bench/README.md, "Time to quality").
FINETUNE_DEFAULTS = {"learning_rate": 1e-3}
# The next-sentence loss at a quarter of its weight: the masked LM leaves its plateau sooner and ends higher, with
# held-out NSP within 0.01 (bench/README.md, "The next-sentence loss's weight").
PRETRAIN_DEFAULTS = {"nsp_weight": 0.25}
SECTIONS = ("pretrain", "finetune")


@dataclasses.dataclass(frozen=True)
class MainJob:
    """The main job's output directory, its two jobs' settings (their directories lie inside it) and where the
    models are exported to."""

    output_dir: str
    pretrain: PretrainSettings
    finetune: FinetuneSettings
    models_dir: str = DEFAULT_MODELS_DIR


def main_job_settings(output_dir: str = DEFAULT_OUTPUT_DIR, sections: Mapping[str, Any] | None = None,
                      overrides: Mapping[str, Any] | None = None, models_dir: str = DEFAULT_MODELS_DIR) -> MainJob:
    """The two jobs' settings: defaults, then a settings file's `pretrain:` and `finetune:` sections, then
    `overrides` that apply to both (such as strategy); checked before anything runs."""
    sections = dict(sections or {})
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        raise ValueError(f"settings file: unknown section(s) {', '.join(unknown)}; the main job reads 'pretrain' "
                         "and 'finetune' (run a subcommand to give one job's settings at the top level).")
    pretrain_values, finetune_values = (settings_section(sections, name, "settings file") for name in SECTIONS)
    overrides = dict(overrides or {})
    pretraining = settings_from(PretrainSettings, {"output_dir": os.path.join(output_dir, "pretrain"),
                                                   **PRETRAIN_DEFAULTS, **pretrain_values, **overrides},
                                "pretrain settings")
    finetuning = settings_from(FinetuneSettings, {
        "output_dir": os.path.join(output_dir, "finetune"), "init_checkpoint": pretraining.output_dir,
        "seq_length": pretraining.seq_length, **FINETUNE_DEFAULTS, **finetune_values, **overrides}, "finetune settings")
    return MainJob(output_dir, pretraining, finetuning, models_dir)


def run_main_job(job: MainJob) -> str:
    """Pretrains, fine-tunes, exports; returns the summary table (the figures also go to `summary.json`)."""
    strategy = make_strategy(job.pretrain.strategy, job.pretrain.tpu)
    pretrained = pretrain(job.pretrain, strategy)
    finetuned = finetune(job.finetune, strategy)
    exports = export_models(job)
    write_json(os.path.join(job.output_dir, "summary.json"),
               {"pretrain": dataclasses.asdict(pretrained), "finetune": dataclasses.asdict(finetuned),
                "exports": exports})
    return summary_table(pretrained, finetuned, exports)


def export_models(job: MainJob) -> dict[str, str]:
    """Exports the pretrained model (fill-mask, next sentence) and the classifier for the app; says where."""
    return {name: str(export_run(getattr(job, job_name).output_dir, job.models_dir, name))
            for job_name, name in EXPORT_NAMES.items()}


def summary_table(pretrained: JobResult, finetuned: JobResult, exports: Mapping[str, str]) -> str:
    """The figures of both jobs, each beside what guessing would score, and where the models went."""
    rows = [("pretrain", "steps", pretrained.steps, ""),
            ("pretrain", "training time", format_duration(pretrained.seconds), "")]
    held = pretrained.evaluation
    if held:
        refs = pretrained.references
        rows.append(("pretrain", "held-out MLM accuracy", held["mlm_accuracy"],
                     f"{refs['mlm_accuracy_most_frequent_token']:.4f} always the most frequent token"))
        if "mlm_mask_accuracy" in held:
            rows.append(("pretrain", "held-out MLM accuracy at [MASK]", held["mlm_mask_accuracy"], ""))
        if "fill_mask_top_1" in held:
            where = f"character bigram, same {refs['fill_mask_examples']} held-out characters"
            rows += [("pretrain", "held-out fill-mask top-1", held["fill_mask_top_1"],
                      f"{refs['bigram_fill_mask_top_1']:.4f} {where}"),
                     ("pretrain", "held-out fill-mask top-5", held["fill_mask_top_5"],
                      f"{refs['bigram_fill_mask_top_5']:.4f} {where}")]
        rows += [("pretrain", "held-out NSP accuracy", held["nsp_accuracy"],
                  f"{refs['nsp_accuracy_majority_label']:.4f} always the majority label"),
                 ("pretrain", "held-out loss (MLM + NSP)", held["loss"], "")]
    rows += [("finetune", "steps", finetuned.steps, ""),
             ("finetune", "training time", format_duration(finetuned.seconds), "")]
    if finetuned.evaluation:
        rows.append(("finetune", "test accuracy", finetuned.evaluation["accuracy"],
                     f"{finetuned.references['accuracy_majority_label']:.4f} always the majority label"))
    rows += [("export", name, where, "") for name, where in exports.items()]
    return format_table(("job", "figure", "value", "reference"), rows)

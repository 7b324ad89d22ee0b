"""Writes EVALUATION.md and its learning-curve PNG for the demo models: held-out masked-LM and next-sentence figures
of every checkpoint of the pretraining run, fill-mask and next-sentence answers of the exported pretrainer on
held-out text, and the exported sentiment classifier against a majority-class and a TF-IDF baseline (on the
demo's test reviews and on short reviews written for it).

    .venv/bin/python bench/evaluate_models.py [--pretrain-run runs/zh-mini] [--pretrained-model saved_models/zh-mini]
        [--classifier saved_models/zh-mini-sentiment] [--output EVALUATION.md] [--figure bench/evaluation_curve.png]

Every figure in the report is computed by this command (see kbert/reports/evaluation.py); the report says how to
rerun it.
Needs scikit-learn (requirements-dev.txt).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from kbert.reports.evaluation import evaluate_models  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pretrain-run", default="runs/zh-mini",
                        help="a run directory of train.py pretrain (default: %(default)s)")
    parser.add_argument("--pretrained-model", default="saved_models/zh-mini",
                        help="the exported pretrainer: a model's directory (its latest version) or a version "
                             "(default: %(default)s)")
    parser.add_argument("--classifier", default="saved_models/zh-mini-sentiment",
                        help="the exported sentiment classifier (default: %(default)s)")
    parser.add_argument("--output", default="EVALUATION.md", help="the report (default: %(default)s)")
    parser.add_argument("--figure", default="bench/evaluation_curve.png",
                        help="the learning-curve PNG, linked from the report (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the sentences and pairs drawn (default: %(default)s)")
    parser.add_argument("--fill-mask-corpus", default="peoples-daily-199801",
                        help="the embedded corpus whose held-out characters fill-mask is tried on (default: "
                             "%(default)s, as bench/time_to_quality.py scores them)")
    parser.add_argument("--everyday", default="kbert/text/everyday_zh.tsv",
                        help="everyday sentences with one character marked 【x】 (default: %(default)s)")
    parser.add_argument("--short-reviews", default="kbert/text/everyday_reviews_zh.tsv",
                        help="short reviews (text<TAB>label) the classifier is also tried on (default: %(default)s)")
    parser.add_argument("--speed-figure", default="bench/time_to_quality.png",
                        help="the time-to-quality PNG to show, if it exists (default: %(default)s)")
    parser.add_argument("--speed-command", default="python bench/time_to_quality.py ...",
                        help="the command that drew --speed-figure, quoted in the report")
    args = parser.parse_args()
    command = ["python", "bench/evaluate_models.py", "--pretrain-run", args.pretrain_run, "--pretrained-model",
               args.pretrained_model, "--classifier", args.classifier, "--output", args.output, "--figure",
               args.figure, "--seed", str(args.seed), "--fill-mask-corpus", args.fill_mask_corpus, "--everyday",
               args.everyday, "--short-reviews", args.short_reviews, "--speed-figure", args.speed_figure,
               "--speed-command", args.speed_command]
    results = evaluate_models(args.pretrain_run, args.pretrained_model, args.classifier, args.output, args.figure,
                              shlex.join(command), seed=args.seed, fill_mask_corpus=args.fill_mask_corpus,
                              everyday=args.everyday, short_reviews=args.short_reviews,
                              speed=(args.speed_figure, args.speed_command) if os.path.exists(args.speed_figure)
                              else None)
    final = results["pretraining"]["rows"][-1]
    print(f"wrote {args.output} and {args.figure} in {results['seconds']:.0f}s: step {final['step']} held-out MLM "
          f"accuracy {final['mlm_accuracy']:.4f}, fill-mask top-1 {results['fill_mask']['sample_rates']['top_1']:.4f} "
          f"(bigram {results['fill_mask']['bigram_rates']['top_1']:.4f}), "
          f"sentiment accuracy {results['sentiment']['classifier']['accuracy']:.4f}")


if __name__ == "__main__":
    main()

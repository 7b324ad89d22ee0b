"""Writes EVALUATION.md for the demo models: fill-mask and next-sentence answers of the exported pretrainer on
held-out text, the exported sentiment classifier against a majority-class and a TF-IDF baseline (on the demo's test
reviews and on short reviews written for it) and, given the pretraining run, the held-out masked-LM and next-sentence
figures of its every checkpoint with their learning-curve PNG.

    .venv/bin/python bench/evaluate_models.py [--pretrained-model saved_models/zh-mini]
        [--classifier saved_models/zh-mini-sentiment] [--output EVALUATION.md]
        [--pretrain-run RUN_DIR --figure bench/evaluation_curve.png]

The shipped models need nothing else: their cards name the corpus they were trained on. The pretraining run's
checkpoints are not in git, so the curve can be drawn only where the run was trained.

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

# The time-to-quality curve of the shipped zh-mini's recipe, and the command (bench/README) that drew it.
SHIPPED_RECIPE_FIGURE = "bench/time_to_quality_v6.png"
SHIPPED_RECIPE_CURVE = (".venv/bin/python bench/time_to_quality.py /work/exp/m16k /work/exp/m16k_p2e4k "
                        "/work/exp/m16k_nsp025 /work/exp/m16k_nsp025_p2 --measure-speed --figure "
                        f"{SHIPPED_RECIPE_FIGURE}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pretrain-run",
                        help="the pretrainer's run directory (train.py pretrain --output-dir): adds the held-out "
                             "figures of its every checkpoint (default: none)")
    parser.add_argument("--pretrained-model", default="saved_models/zh-mini",
                        help="the exported pretrainer: a model's directory (its latest version) or a version "
                             "(default: %(default)s)")
    parser.add_argument("--classifier", default="saved_models/zh-mini-sentiment",
                        help="the exported sentiment classifier (default: %(default)s)")
    parser.add_argument("--output", default="EVALUATION.md", help="the report (default: %(default)s)")
    parser.add_argument("--figure", default="bench/evaluation_curve.png",
                        help="the learning-curve PNG of --pretrain-run, linked from the report (default: %(default)s)")
    parser.add_argument("--corpus",
                        help="the pretrainer's training corpus, for the bigram's counts and the held-out sentence "
                             "pairs (default: the run's, else the one the model card names)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the sentences and pairs drawn (default: %(default)s)")
    parser.add_argument("--fill-mask-corpus", default="peoples-daily-199801",
                        help="the embedded corpus whose held-out characters fill-mask is tried on (default: "
                             "%(default)s, as bench/time_to_quality.py scores them)")
    parser.add_argument("--everyday", default="kbert/text/everyday_zh.tsv",
                        help="everyday sentences with one character marked 【x】 (default: %(default)s)")
    parser.add_argument("--short-reviews", default="kbert/text/everyday_reviews_zh.tsv",
                        help="short reviews (text<TAB>label) the classifier is also tried on (default: %(default)s)")
    parser.add_argument("--speed-figure", default=SHIPPED_RECIPE_FIGURE,
                        help="the time-to-quality PNG to show, if it exists (default: %(default)s, the shipped "
                             "zh-mini's recipe)")
    parser.add_argument("--speed-command", default=SHIPPED_RECIPE_CURVE,
                        help="the command that drew --speed-figure, quoted in the report (default: the one that "
                             "drew the default figure)")
    args = parser.parse_args()
    run = ["--pretrain-run", args.pretrain_run, "--figure", args.figure] if args.pretrain_run else []
    corpus = ["--corpus", args.corpus] if args.corpus else []
    command = ["python", "bench/evaluate_models.py", *run, "--pretrained-model", args.pretrained_model,
               "--classifier", args.classifier, "--output", args.output, *corpus, "--seed", str(args.seed),
               "--fill-mask-corpus", args.fill_mask_corpus, "--everyday", args.everyday, "--short-reviews",
               args.short_reviews, "--speed-figure", args.speed_figure, "--speed-command", args.speed_command]
    results = evaluate_models(args.pretrain_run, args.pretrained_model, args.classifier, args.output, args.figure,
                              shlex.join(command), seed=args.seed, fill_mask_corpus=args.fill_mask_corpus,
                              everyday=args.everyday, short_reviews=args.short_reviews, corpus=args.corpus,
                              speed=(args.speed_figure, args.speed_command) if os.path.exists(args.speed_figure)
                              else None)
    fill, curve = results["fill_mask"], results["pretraining"]
    wrote = f"{args.output} and {args.figure}" if curve else args.output
    final = (f"step {curve['rows'][-1]['step']} held-out MLM accuracy {curve['rows'][-1]['mlm_accuracy']:.4f}, "
             if curve else "")
    print(f"wrote {wrote} in {results['seconds']:.0f}s: {final}fill-mask top-1 / top-5 "
          f"{fill['sample_rates']['top_1']:.4f} / {fill['sample_rates']['top_k']:.4f} (bigram "
          f"{fill['bigram_rates']['top_1']:.4f} / {fill['bigram_rates']['top_5']:.4f}), next sentence "
          f"{results['next_sentence']['accuracy']:.4f}, sentiment accuracy "
          f"{results['sentiment']['classifier']['accuracy']:.4f} (TF-IDF + LR "
          f"{results['sentiment']['tfidf']['accuracy']:.4f})")


if __name__ == "__main__":
    main()

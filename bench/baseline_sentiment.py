"""The bar a fine-tuned classifier should clear: TF-IDF over character n-grams + logistic regression, trained and
tested on the same review-sentiment split as `python train.py`'s classifier.

    .venv/bin/python bench/baseline_sentiment.py [--run-dir runs/default/finetune]

Prints the baseline's test accuracy and, given a fine-tuning run, the run's accuracy on the same test split.
Needs scikit-learn (requirements-dev.txt).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from kbert.reports.evaluation import tfidf_logistic_regression  # noqa: E402
from kbert.text.sentiment import load_sentiment  # noqa: E402


def baseline_accuracy() -> dict:
    """Fits the baseline (kbert.reports.evaluation.tfidf_logistic_regression) on the demo's training reviews;
    returns its accuracy on the test reviews."""
    data = load_sentiment()
    model = tfidf_logistic_regression()
    began = time.monotonic()
    model.fit(data.train_texts, data.train_labels)
    accuracy = float((model.predict(data.test_texts) == data.test_labels).mean())
    return {"accuracy": accuracy, "train_examples": len(data.train_texts), "test_examples": len(data.test_texts),
            "seconds": time.monotonic() - began}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", help="a fine-tuning run on the demo data, to compare with (its eval.json)")
    args = parser.parse_args()
    baseline = baseline_accuracy()
    print(f"TF-IDF + logistic regression: test accuracy {baseline['accuracy']:.4f} "
          f"({baseline['train_examples']} training / {baseline['test_examples']} test reviews, "
          f"{baseline['seconds']:.1f}s)")
    if args.run_dir:
        with open(os.path.join(args.run_dir, "eval.json"), encoding="utf-8") as file:
            evaluation = json.load(file)
        print(f"fine-tuned kbert ({args.run_dir}, step {evaluation['step']}): test accuracy "
              f"{evaluation['accuracy']:.4f} on {evaluation['examples']} reviews")


if __name__ == "__main__":
    main()

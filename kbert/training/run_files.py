"""The files a run directory keeps beside its checkpoints (bert_config.json, vocab.txt, labels.json), read back for
evaluation and export and checked against one another, so an edited file is named instead of failing deep inside
TensorFlow."""

from __future__ import annotations

import os

from kbert.config import BertConfig
from kbert.io import read_json
from kbert.model_card import CONFIG_FILE, LABELS_FILE, VOCAB_FILE
from kbert.text.vocab import load_vocabulary


def read_model_files(run_dir: str) -> tuple[BertConfig, list[str]]:
    """The run's model config and vocabulary, which must agree on the vocabulary size."""
    config_path, vocab_path = os.path.join(run_dir, CONFIG_FILE), os.path.join(run_dir, VOCAB_FILE)
    config = BertConfig.from_json_file(config_path)
    vocab = load_vocabulary(vocab_path)
    if len(vocab) != config.vocab_size:
        raise ValueError(f"{vocab_path} has {len(vocab):,} tokens but {config_path} says vocab_size is "
                         f"{config.vocab_size:,}: one of them was edited or replaced after training. Restore the "
                         "run's own files.")
    return config, vocab


def read_label_names(run_dir: str) -> list[str]:
    """The run's label names (labels.json: output i's name at index i): distinct, non-empty strings."""
    path = os.path.join(run_dir, LABELS_FILE)
    names = read_json(path)
    if (not isinstance(names, list) or len(names) < 2 or len(set(map(str, names))) != len(names)
            or not all(isinstance(name, str) and name for name in names)):
        raise ValueError(f"{path} must list the classifier's label names, output i's at index i: two or more "
                         f"distinct non-empty strings; it holds {names!r:.200}. Restore the file the run wrote.")
    return names

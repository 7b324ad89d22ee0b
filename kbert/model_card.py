"""What an export directory holds beside its SavedModel: the file names, the numbered versions, the metadata
(`kbert.json`) and the model card (`README.md`). No TensorFlow here, so the pipeline and the app read it cheaply.

    saved_models/<name>/<version>/    saved_model.pb, variables/ (TF Serving's layout), and
        bert_config.json  vocab.txt  labels.json (classifiers)  kbert.json  README.md
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CONFIG_FILE = "bert_config.json"
VOCAB_FILE = "vocab.txt"
LABELS_FILE = "labels.json"
METADATA_FILE = "kbert.json"
CARD_FILE = "README.md"
SAVED_MODEL_FILE = "saved_model.pb"
FORMAT = "kbert-export/1"

# The model card keys rendered in their own sections; any other key is listed under "Other".
_CARD_SECTIONS = {"data": "Data", "steps": "Steps", "metrics": "Metrics", "command": "Command",
                  "settings": "Settings (the run's, defaults included)",
                  "started_from": "Started from (the run whose weights this one began with)"}
# Keys about how long and on what the model trained, rendered together in one "Training" table.
_TRAINING_KEYS = ("examples_seen", "tokens_seen", "training_time", "hardware", "precision")
_CONFIG_ROWS = ("num_hidden_layers", "hidden_size", "num_attention_heads", "intermediate_size", "vocab_size",
                "max_position_embeddings", "hidden_act", "position_embedding_type", "layer_norm_position")


def version_dirs(parent: Path) -> dict[int, Path]:
    """The numbered version directories under `parent` (`1`, `2`, …), by number; others (temporary ones) ignored."""
    if not parent.is_dir():
        return {}
    return {int(child.name): child for child in parent.iterdir() if child.name.isdecimal() and child.is_dir()}


def render_card(metadata: dict[str, Any], config: dict[str, Any]) -> str:
    """The README.md of an export: what the model is, how it was made (the `model_card` dict), its signatures."""
    card = metadata["model_card"]
    lines = [f"# {metadata['name']}", "",
             f"A kbert {metadata['model_type']} exported as a TensorFlow SavedModel (TF Serving layout "
             f"`{metadata['name']}/<version>/`). Tokenization runs inside the graph: every signature takes raw "
             f"strings. Exported {metadata['exported_at']}.", "", "## Model", "", "| field | value |", "|---|---|"]
    lines += [f"| {key} | {config[key]} |" for key in _CONFIG_ROWS]
    lines += [f"| seq_length | {metadata['seq_length']} |", f"| lowercase | {metadata['lowercase']} |"]
    if metadata["label_names"]:
        lines.append(f"| labels | {', '.join(metadata['label_names'])} |")
    training = {key: card[key] for key in _TRAINING_KEYS if key in card}
    for key, title in _CARD_SECTIONS.items():
        if key in card:
            lines += ["", f"## {title}", "", *_render_value(card[key], code=key == "command")]
        if key == "steps" and training:
            lines += ["", "## Training", "", *_render_value(training)]
    others = {key: value for key, value in card.items() if key not in _CARD_SECTIONS and key not in _TRAINING_KEYS}
    if others:
        lines += ["", "## Other", "", *_render_value(others)]
    default = next(iter(metadata["signatures"]))
    lines += ["", "## Signatures", "",
              f"`serving_default` is `{default}`. `?` is the batch size; `length` is the batch's longest input rounded "
              f"up to a multiple of {metadata['length_bucket']}, at most seq_length."]
    if "max_masks" in metadata:
        lines[-1] += (f" fill_mask answers the first {metadata['max_masks']} [MASK]s of each text with their top "
                      f"{metadata['top_k']} tokens, best first: slot j is valid where j < num_masks.")
    if metadata["label_names"]:
        lines[-1] += (" inspect's attributions are gradient x input on the embedding output, summed over the hidden "
                      "axis, of the predicted label's logit minus the mean logit.")
    if "ig_steps" in metadata:
        lines[-1] += (" integrated_gradients attributes the same logit by moving each token embedding from [PAD]'s "
                      f"to its own in {metadata['ig_steps']} steps ([CLS], [SEP], segment and position stay); a "
                      "text's attributions add up to logit_difference.")
    if "embedding_parts" in metadata["signatures"]:
        lines[-1] += (" embedding_parts gives each token's token, segment and position embeddings, their sum and "
                      "the sum after LayerNorm; tokenize gives the WordPiece tokens without running the model.")
    lines += ["", "| signature | inputs | outputs |", "|---|---|---|"]
    for name, spec in metadata["signatures"].items():
        lines.append(f"| `{name}` | {_render_specs(spec['inputs'])} | {_render_specs(spec['outputs'])} |")
    lines += ["", "## Use", "", "```python", "from kbert import pipeline",
              f"model = pipeline({metadata['tasks'][0]!r}, \"path/to/{metadata['name']}\")  # the latest version",
              "", "# or without kbert:", "import tensorflow as tf, tensorflow_text  # registers the tokenizer ops",
              "loaded = tf.saved_model.load(\"path/to/version\")",
              f"loaded.signatures[{default!r}](text=tf.constant([...]))", "```", ""]
    return "\n".join(lines)


def _render_value(value: Any, code: bool = False) -> list[str]:
    if isinstance(value, dict):
        return ["| name | value |", "|---|---|", *(f"| {key} | {_inline(item)} |" for key, item in value.items())]
    return [f"    {value}"] if code else [_inline(value)]


def _inline(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _render_specs(specs: dict[str, dict]) -> str:
    return "<br>".join(f"`{name}` {spec['dtype']} {spec['shape']}" for name, spec in specs.items())

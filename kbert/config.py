"""BertConfig: the architecture of a BERT model, its presets, and Google's `bert_config.json` format."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from kbert.io import read_json, write_text

ACTIVATIONS = ("gelu", "gelu_approximate")
POSITION_EMBEDDING_TYPES = ("learned", "sinusoidal")
LAYER_NORM_POSITIONS = ("post", "pre")  # BERT's LayerNorm after each residual sum, or before each block

# name: (num_hidden_layers, hidden_size); heads = H / 64, intermediate = 4 H, as in Google's BERT release.
PRESETS = {
    "tiny": (2, 128),
    "mini": (4, 256),
    "small": (4, 512),
    "medium": (8, 512),
    "base": (12, 768),
    "large": (24, 1024),
}

# Google's and Hugging Face's spellings of the activation names, mapped to ours.
_ACTIVATION_ALIASES = {"gelu": "gelu", "gelu_new": "gelu_approximate", "gelu_pytorch_tanh": "gelu_approximate",
                       "gelu_approximate": "gelu_approximate"}
# Hugging Face's `position_embedding_type` "absolute" is BERT's learned table.
_POSITION_ALIASES = {"absolute": "learned", "learned": "learned", "sinusoidal": "sinusoidal"}


@dataclasses.dataclass(frozen=True)
class BertConfig:
    """Every number that fixes a BERT model's shape and regularisation; field names follow `bert_config.json`."""

    vocab_size: int
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    position_embedding_type: str = "learned"
    # Options beyond Google's BERT; their defaults are BERT, so Google and Hugging Face checkpoints load unchanged.
    layer_norm_position: str = "post"

    def __post_init__(self) -> None:
        if self.hidden_act not in ACTIVATIONS:
            raise ValueError(f"hidden_act must be one of {ACTIVATIONS}, got {self.hidden_act!r}")
        if self.position_embedding_type not in POSITION_EMBEDDING_TYPES:
            raise ValueError(
                f"position_embedding_type must be one of {POSITION_EMBEDDING_TYPES}, "
                f"got {self.position_embedding_type!r}"
            )
        if self.layer_norm_position not in LAYER_NORM_POSITIONS:
            raise ValueError(
                f"layer_norm_position must be one of {LAYER_NORM_POSITIONS}, got {self.layer_norm_position!r}")
        for name in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                     "intermediate_size", "max_position_embeddings", "type_vocab_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be divisible by "
                f"num_attention_heads ({self.num_attention_heads})"
            )

    @property
    def head_size(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @classmethod
    def from_preset(cls, name: str, vocab_size: int, **overrides: Any) -> BertConfig:
        """A preset (`tiny` … `large`): heads = H/64 and intermediate = 4H, any field overridable."""
        if name not in PRESETS:
            raise ValueError(f"Unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
        layers, hidden = PRESETS[name]
        fields = dict(vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=layers,
                      num_attention_heads=hidden // 64, intermediate_size=4 * hidden)
        fields.update(overrides)
        return cls(**fields)

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> BertConfig:
        """Reads Google's `bert_config.json` keys (and Hugging Face's `config.json`, which shares them)."""
        known = {f.name for f in dataclasses.fields(cls)}
        fields = {key: value for key, value in values.items() if key in known}
        if "layer_norm_eps" not in values and "layer_norm_epsilon" in values:
            fields["layer_norm_eps"] = values["layer_norm_epsilon"]
        if "vocab_size" not in fields:
            raise ValueError(f"{source}: missing required field 'vocab_size'")
        if "hidden_act" in fields:
            act = fields["hidden_act"]
            if act not in _ACTIVATION_ALIASES:
                raise ValueError(f"{source}: field 'hidden_act' is {act!r}; supported: {sorted(_ACTIVATION_ALIASES)}")
            fields["hidden_act"] = _ACTIVATION_ALIASES[act]
        if "position_embedding_type" in fields:
            kind = fields["position_embedding_type"]
            if kind not in _POSITION_ALIASES:
                raise ValueError(
                    f"{source}: field 'position_embedding_type' is {kind!r}; supported: {sorted(_POSITION_ALIASES)}"
                )
            fields["position_embedding_type"] = _POSITION_ALIASES[kind]
        try:
            return cls(**fields)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{source}: {error}") from error

    @classmethod
    def from_json_file(cls, path: str | os.PathLike) -> BertConfig:
        """Loads a `bert_config.json` (Google) or `config.json` (Hugging Face)."""
        try:
            values = read_json(path)
        except FileNotFoundError:
            raise FileNotFoundError(f"No BERT config at {path}") from None
        if not isinstance(values, dict):
            raise ValueError(f"{path}: expected a JSON object of config fields")
        return cls.from_dict(values, source=str(path))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json_file(self, path: str | os.PathLike) -> None:
        """Writes `bert_config.json` atomically (a crash never leaves half a file)."""
        write_text(path, json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

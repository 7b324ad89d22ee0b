"""keras-hub BERT presets saved on disk load into kbert and compute what the keras-hub model computes."""

import json

import keras_hub
import numpy as np
import pytest
from conftest import random_backbone_inputs

from kbert.convert import load_checkpoint
from kbert.convert.keras_hub import load_keras_hub_preset
from kbert.models import BertBackbone

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(92)]


def hub_backbone() -> keras_hub.models.BertBackbone:
    return keras_hub.models.BertBackbone(vocabulary_size=len(VOCAB), num_layers=2, num_heads=4, hidden_dim=64,
                                         intermediate_dim=128, max_sequence_length=32)


@pytest.mark.parametrize("saved", ["backbone", "masked_lm_task"])
def test_preset_on_disk_gives_keras_hub_outputs(saved, tmp_path):
    backbone = hub_backbone()
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=VOCAB)
    if saved == "backbone":
        backbone.save_to_preset(tmp_path)
        tokenizer.save_to_preset(tmp_path)
    else:
        preprocessor = keras_hub.models.BertMaskedLMPreprocessor(tokenizer, sequence_length=16)
        keras_hub.models.BertMaskedLM(backbone, preprocessor=preprocessor).save_to_preset(tmp_path)
    model, vocab = load_checkpoint(tmp_path)
    assert isinstance(model, BertBackbone)
    assert vocab == VOCAB
    inputs = random_backbone_inputs(len(VOCAB))
    expected, got = backbone(inputs), model(inputs)
    for key in ("sequence_output", "pooled_output"):
        np.testing.assert_allclose(np.asarray(got[key]), np.asarray(expected[key]), atol=1e-5, rtol=0)


def test_other_keras_hub_models_are_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"class_name": "DistilBertBackbone", "config": {}}))
    with pytest.raises(ValueError, match="DistilBertBackbone"):
        load_keras_hub_preset(tmp_path)

"""Hugging Face BERT checkpoints load into kbert and compute what transformers computes on the same inputs."""

import json
import shutil

import numpy as np
import pytest
import safetensors.numpy
import torch
import transformers
from conftest import random_backbone_inputs

from kbert.convert import load_checkpoint
from kbert.convert.huggingface import load_huggingface
from kbert.models import BertBackbone, BertPretrainer

VOCAB = [f"[unused{i}]" for i in range(97)]
VOCAB[:5] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
# Row 0 is all real tokens, rows 1 and 2 end in padding; position 10 of row 2 is a padded position.
MASK_POSITIONS = np.array([[1, 4, 11], [0, 3, 8], [2, 5, 10]], "int32")


def hf_config(**overrides) -> transformers.BertConfig:
    fields = dict(vocab_size=len(VOCAB), hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                  intermediate_size=128, max_position_embeddings=32)
    return transformers.BertConfig(**{**fields, **overrides})


def randomized(model: torch.nn.Module) -> torch.nn.Module:
    """Every parameter random (LayerNorm scales near 1), so no bias or scale is left at a value that hides a bug."""
    torch.manual_seed(0)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            parameter.normal_(0.0, 0.1).add_(1.0 if name.endswith("LayerNorm.weight") else 0.0)
    return model.eval()


def save(model: torch.nn.Module, directory, vocab_txt: bool = True) -> None:
    model.save_pretrained(directory)
    if vocab_txt:
        (directory / "vocab.txt").write_text("".join(token + "\n" for token in VOCAB), encoding="utf-8")
    else:
        transformers.BertTokenizer(vocab={token: i for i, token in enumerate(VOCAB)}).save_pretrained(directory)


def torch_inputs(inputs: dict) -> dict:
    return {"input_ids": torch.tensor(inputs["token_ids"], dtype=torch.long),
            "token_type_ids": torch.tensor(inputs["segment_ids"], dtype=torch.long),
            "attention_mask": torch.tensor(inputs["padding_mask"], dtype=torch.long)}


@pytest.fixture(scope="module")
def pretraining_checkpoint(tmp_path_factory):
    """A saved `BertForPreTraining` and its MLM logits at `MASK_POSITIONS` and NSP logits."""
    directory = tmp_path_factory.mktemp("hf_pretraining")
    reference = randomized(transformers.BertForPreTraining(hf_config()))
    save(reference, directory)
    inputs = random_backbone_inputs(len(VOCAB))
    with torch.no_grad():
        outputs = reference(**torch_inputs(inputs))
    mlm = np.take_along_axis(outputs.prediction_logits.numpy(), MASK_POSITIONS[..., None], axis=1)
    return directory, inputs, mlm, outputs.seq_relationship_logits.numpy()


def assert_pretrainer_matches(model, vocab, checkpoint) -> None:
    _, inputs, expected_mlm, expected_nsp = checkpoint
    assert isinstance(model, BertPretrainer)
    assert vocab == VOCAB
    got = model({**inputs, "mask_positions": MASK_POSITIONS})
    np.testing.assert_allclose(np.asarray(got["mlm_logits"]), expected_mlm, atol=1e-4, rtol=0)
    np.testing.assert_allclose(np.asarray(got["nsp_logits"]), expected_nsp, atol=1e-4, rtol=0)


def test_pretraining_checkpoint_gives_hugging_face_mlm_and_nsp_logits(pretraining_checkpoint):
    directory = pretraining_checkpoint[0]
    assert "cls.predictions.decoder.weight" not in safetensors.numpy.load_file(directory / "model.safetensors")
    model, vocab = load_checkpoint(directory)
    assert model.backbone.config.hidden_act == "gelu"
    assert_pretrainer_matches(model, vocab, pretraining_checkpoint)


def test_legacy_layer_norm_names_and_stored_decoder_load_the_same(pretraining_checkpoint, tmp_path):
    """Checkpoints converted from Google's keep `LayerNorm.gamma/beta` and may store the tied decoder and its bias."""
    shutil.copytree(pretraining_checkpoint[0], tmp_path, dirs_exist_ok=True)
    tensors = safetensors.numpy.load_file(tmp_path / "model.safetensors")
    legacy = {name.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): array
              for name, array in tensors.items()}
    legacy["cls.predictions.decoder.weight"] = tensors["bert.embeddings.word_embeddings.weight"]
    legacy["cls.predictions.decoder.bias"] = legacy.pop("cls.predictions.bias")
    safetensors.numpy.save_file(legacy, tmp_path / "model.safetensors")
    assert_pretrainer_matches(*load_huggingface(tmp_path), pretraining_checkpoint)


@pytest.mark.parametrize("hidden_act", ["gelu", "gelu_new"])
def test_headless_bert_model_gives_hugging_face_sequence_and_pooled_outputs(hidden_act, tmp_path):
    reference = randomized(transformers.BertModel(hf_config(hidden_act=hidden_act)))
    save(reference, tmp_path, vocab_txt=False)
    inputs = random_backbone_inputs(len(VOCAB))
    with torch.no_grad():
        expected = reference(**torch_inputs(inputs))
    model, vocab = load_huggingface(tmp_path)
    assert isinstance(model, BertBackbone) and vocab == VOCAB
    got = model(inputs)
    real = inputs["padding_mask"].astype(bool)
    np.testing.assert_allclose(np.asarray(got["sequence_output"])[real],
                               expected.last_hidden_state.numpy()[real], atol=1e-4, rtol=0)
    np.testing.assert_allclose(np.asarray(got["pooled_output"]), expected.pooler_output.numpy(), atol=1e-4, rtol=0)


def test_shape_mismatch_names_tensor_shapes_and_file(pretraining_checkpoint, tmp_path):
    shutil.copytree(pretraining_checkpoint[0], tmp_path, dirs_exist_ok=True)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "intermediate_size": 96}))
    with pytest.raises(ValueError) as error:
        load_huggingface(tmp_path)
    message = str(error.value)
    for part in ("bert.encoder.layer.0.intermediate.dense.weight", "(128, 64)", "(96, 64)",
                 str(tmp_path / "model.safetensors"), "transformer_layer_0/intermediate_dense/kernel"):
        assert part in message


def test_pickle_checkpoint_is_refused_with_a_way_to_convert(pretraining_checkpoint, tmp_path):
    shutil.copytree(pretraining_checkpoint[0], tmp_path, dirs_exist_ok=True)
    (tmp_path / "model.safetensors").rename(tmp_path / "pytorch_model.bin")
    with pytest.raises(ValueError, match="pytorch_model.bin.*safetensors"):
        load_huggingface(tmp_path)


def test_untied_decoder_is_refused(pretraining_checkpoint, tmp_path):
    shutil.copytree(pretraining_checkpoint[0], tmp_path, dirs_exist_ok=True)
    tensors = safetensors.numpy.load_file(tmp_path / "model.safetensors")
    tensors["cls.predictions.decoder.weight"] = tensors["bert.embeddings.word_embeddings.weight"] + 1.0
    safetensors.numpy.save_file(tensors, tmp_path / "model.safetensors")
    with pytest.raises(ValueError, match="cls.predictions.decoder.weight"):
        load_huggingface(tmp_path)


def test_other_model_types_are_refused(pretraining_checkpoint, tmp_path):
    shutil.copytree(pretraining_checkpoint[0], tmp_path, dirs_exist_ok=True)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "model_type": "roberta"}))
    with pytest.raises(ValueError, match="model_type is 'roberta'"):
        load_huggingface(tmp_path)


def test_vocabulary_larger_than_the_model_is_refused(pretraining_checkpoint, tmp_path):
    shutil.copytree(pretraining_checkpoint[0], tmp_path, dirs_exist_ok=True)
    (tmp_path / "vocab.txt").write_text("".join(token + "\n" for token in [*VOCAB, "extra"]), encoding="utf-8")
    with pytest.raises(ValueError, match="98 tokens, but the model's vocab_size is 97"):
        load_huggingface(tmp_path)

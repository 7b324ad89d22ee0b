"""Google BERT checkpoints, written by TensorFlow's own v1 Saver under Google's names, load into kbert and compute
what Hugging Face's BertForPreTraining (tanh GELU) computes with the same weights."""

import json
import re

import numpy as np
import pytest
import tensorflow as tf
import torch
import transformers
from conftest import random_backbone_inputs

from kbert.convert import load_checkpoint
from kbert.convert.google import load_google_checkpoint
from kbert.models import BertBackbone, BertPretrainer

HIDDEN, LAYERS, HEADS, INTERMEDIATE, POSITIONS, VOCAB_SIZE = 64, 2, 4, 128, 32, 97
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(VOCAB_SIZE - 5)]
GOOGLE_CONFIG = {
    "attention_probs_dropout_prob": 0.1, "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": HIDDEN,
    "initializer_range": 0.02, "intermediate_size": INTERMEDIATE, "max_position_embeddings": POSITIONS,
    "num_attention_heads": HEADS, "num_hidden_layers": LAYERS, "type_vocab_size": 2, "vocab_size": VOCAB_SIZE,
}
# Each encoder layer's dense projections: [input size, output size].
LAYER_DENSES = {"attention/self/query": (HIDDEN, HIDDEN), "attention/self/key": (HIDDEN, HIDDEN),
                "attention/self/value": (HIDDEN, HIDDEN), "attention/output/dense": (HIDDEN, HIDDEN),
                "intermediate/dense": (HIDDEN, INTERMEDIATE), "output/dense": (INTERMEDIATE, HIDDEN)}
MASK_POSITIONS = np.array([[1, 4, 11], [0, 3, 8], [2, 5, 10]], "int32")  # 10 is a padded position of row 2


def google_variables() -> dict[str, np.ndarray]:
    """Random weights under the names and shapes of Google's `modeling.py` and `run_pretraining.py`."""
    rng = np.random.default_rng(0)
    shapes = {
        "bert/embeddings/word_embeddings": (VOCAB_SIZE, HIDDEN),
        "bert/embeddings/token_type_embeddings": (2, HIDDEN),
        "bert/embeddings/position_embeddings": (POSITIONS, HIDDEN),
        "bert/pooler/dense/kernel": (HIDDEN, HIDDEN), "bert/pooler/dense/bias": (HIDDEN,),
        "cls/predictions/transform/dense/kernel": (HIDDEN, HIDDEN), "cls/predictions/transform/dense/bias": (HIDDEN,),
        "cls/predictions/output_bias": (VOCAB_SIZE,),
        "cls/seq_relationship/output_weights": (2, HIDDEN), "cls/seq_relationship/output_bias": (2,),
    }
    layer_norms = ["bert/embeddings/LayerNorm", "cls/predictions/transform/LayerNorm"]
    for i in range(LAYERS):
        layer = f"bert/encoder/layer_{i}"
        for dense, (size_in, size_out) in LAYER_DENSES.items():
            shapes[f"{layer}/{dense}/kernel"] = (size_in, size_out)
            shapes[f"{layer}/{dense}/bias"] = (size_out,)
        layer_norms += [f"{layer}/attention/output/LayerNorm", f"{layer}/output/LayerNorm"]
    for norm in layer_norms:
        shapes[f"{norm}/gamma"] = shapes[f"{norm}/beta"] = (HIDDEN,)
    variables = {name: rng.normal(0.0, 0.1, shape).astype("float32") for name, shape in shapes.items()}
    for norm in layer_norms:
        variables[f"{norm}/gamma"] += 1.0
    return variables


def write_google_checkpoint(directory, variables: dict[str, np.ndarray], global_step: int | None = None,
                            config: dict = GOOGLE_CONFIG) -> None:
    """Saves `variables` with `tf.compat.v1.train.Saver` in a graph, as Google's TF1 code did, plus the config and
    vocab.txt. With `global_step`, writes `model.ckpt-N` and a `checkpoint` file, as fine-tuning runs do."""
    with tf.Graph().as_default():
        graph_variables = {name: tf.compat.v1.Variable(value, name=name) for name, value in variables.items()}
        saver = tf.compat.v1.train.Saver(var_list=graph_variables)
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            if global_step is None:
                saver.save(session, str(directory / "bert_model.ckpt"), write_meta_graph=False)
            else:
                saver.save(session, str(directory / "model.ckpt"), global_step=global_step, write_meta_graph=False)
    (directory / "bert_config.json").write_text(json.dumps(config))
    (directory / "vocab.txt").write_text("".join(token + "\n" for token in VOCAB), encoding="utf-8")


def hugging_face_state(variables: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Google names -> Hugging Face names by the usual renaming; dense kernels are stored [out, in] in torch."""
    state = {}
    for name, value in variables.items():
        hf = re.sub(r"layer_(\d+)", r"layer.\1", name).replace("/", ".")
        hf = re.sub(r"\.(gamma|kernel|output_weights)$", ".weight", hf)
        hf = re.sub(r"\.(beta|output_bias)$", ".bias", hf)
        if hf.endswith("_embeddings"):
            hf += ".weight"
        state[hf] = torch.tensor(value.T if name.endswith("/kernel") else value)
    return state


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A Google checkpoint directory, its variables, inputs, and Hugging Face's outputs with the same weights."""
    directory = tmp_path_factory.mktemp("google")
    variables = google_variables()
    write_google_checkpoint(directory, {**variables, "global_step": np.int64(1000),
                                        "bert/pooler/dense/kernel/adam_m": variables["bert/pooler/dense/kernel"]})
    config = {**GOOGLE_CONFIG, "hidden_act": "gelu_new"}  # Google's "gelu" is transformers' "gelu_new"
    reference = transformers.BertForPreTraining(transformers.BertConfig(**config)).eval()
    loaded = reference.load_state_dict(hugging_face_state(variables), strict=False)
    assert not loaded.unexpected_keys
    assert set(loaded.missing_keys) <= {"cls.predictions.decoder.weight", "cls.predictions.decoder.bias"}
    inputs = random_backbone_inputs(VOCAB_SIZE)
    torch_inputs = {"input_ids": torch.tensor(inputs["token_ids"], dtype=torch.long),
                    "token_type_ids": torch.tensor(inputs["segment_ids"], dtype=torch.long),
                    "attention_mask": torch.tensor(inputs["padding_mask"], dtype=torch.long)}
    with torch.no_grad():
        pretraining = reference(**torch_inputs)
        encoded = reference.bert(**torch_inputs)
    return {"directory": directory, "variables": variables, "inputs": inputs,
            "mlm": np.take_along_axis(pretraining.prediction_logits.numpy(), MASK_POSITIONS[..., None], axis=1),
            "nsp": pretraining.seq_relationship_logits.numpy(), "pooled": encoded.pooler_output.numpy(),
            "sequence": encoded.last_hidden_state.numpy()}


def test_google_checkpoint_gives_hugging_face_logits_with_tanh_gelu(checkpoint):
    model, vocab = load_google_checkpoint(checkpoint["directory"])
    assert isinstance(model, BertPretrainer)
    assert model.backbone.config.hidden_act == "gelu_approximate"
    assert vocab == VOCAB
    got = model({**checkpoint["inputs"], "mask_positions": MASK_POSITIONS})
    np.testing.assert_allclose(np.asarray(got["mlm_logits"]), checkpoint["mlm"], atol=1e-4, rtol=0)
    np.testing.assert_allclose(np.asarray(got["nsp_logits"]), checkpoint["nsp"], atol=1e-4, rtol=0)


def test_checkpoint_prefix_loads_the_same_weights(checkpoint):
    from_directory, _ = load_google_checkpoint(checkpoint["directory"])
    from_prefix, _ = load_checkpoint(checkpoint["directory"] / "bert_model.ckpt")
    for ours, theirs in zip(from_prefix.weights, from_directory.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))


def test_fine_tuned_checkpoint_without_heads_loads_as_a_backbone(checkpoint, tmp_path):
    """Fine-tuning runs save `model.ckpt-N` with a `checkpoint` file, no `cls/` heads, and their own classifier."""
    encoder = {name: value for name, value in checkpoint["variables"].items() if name.startswith("bert/")}
    write_google_checkpoint(tmp_path, {**encoder, "output_weights": np.zeros((3, HIDDEN), "float32")},
                            global_step=10)
    model, _ = load_checkpoint(tmp_path)
    assert isinstance(model, BertBackbone)
    got = model(checkpoint["inputs"])
    real = checkpoint["inputs"]["padding_mask"].astype(bool)
    np.testing.assert_allclose(np.asarray(got["sequence_output"])[real], checkpoint["sequence"][real], atol=1e-4)
    np.testing.assert_allclose(np.asarray(got["pooled_output"]), checkpoint["pooled"], atol=1e-4)


def test_shape_mismatch_names_checkpoint_tensor_shapes_and_file(checkpoint, tmp_path):
    write_google_checkpoint(tmp_path, checkpoint["variables"], config={**GOOGLE_CONFIG, "intermediate_size": 96})
    with pytest.raises(ValueError) as error:
        load_google_checkpoint(tmp_path)
    message = str(error.value)
    for part in ("bert/encoder/layer_0/intermediate/dense/kernel", "(64, 128)", "(64, 96)",
                 str(tmp_path / "bert_model.ckpt"), "transformer_layer_0/intermediate_dense/kernel"):
        assert part in message


def test_missing_checkpoint_tensor_is_named(checkpoint, tmp_path):
    variables = dict(checkpoint["variables"])
    del variables["bert/encoder/layer_1/attention/self/value/bias"]
    write_google_checkpoint(tmp_path, variables)
    with pytest.raises(ValueError, match="no tensor 'bert/encoder/layer_1/attention/self/value/bias'"):
        load_google_checkpoint(tmp_path)


def test_directory_without_a_checkpoint_says_what_it_looked_for(tmp_path):
    with pytest.raises(FileNotFoundError, match="bert_model.ckpt.index"):
        load_google_checkpoint(tmp_path)

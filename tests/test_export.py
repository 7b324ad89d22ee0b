"""export_model: TF Serving's layout with config, vocabulary, labels and model card; the Keras model's answers from a
process that cannot import kbert; saved_model_cli; XLA kernels kept; float32 from mixed precision; atomic versions;
argument errors."""

import json
import re
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from export_support import (
    LABELS,
    MODEL_CARD,
    SEQ_LENGTH,
    assert_top_k,
    export_tiny_models,
    keras_attributions,
    keras_features,
    keras_fill_mask,
    keras_is_next,
    softmax,
    tiny_classifier,
    tiny_pretrainer,
    tiny_tokenizer,
)
from tensorflow.core.protobuf import saved_model_pb2

from kbert import precision
from kbert.config import BertConfig
from kbert.export import export_model, writer
from kbert.models import BertBackbone, BertPretrainer
from kbert.text.tokenizer import BertTokenizer
from kbert.text.vocab import load_vocabulary

TEXTS = ["The quick [MASK] fox jumps over the [MASK] dog.", "今天天气很[MASK]，我们去公园散步吧。"]
PAIRS = ["A good film makes you think.", "这部电影非常好看。"]

# Run in a fresh interpreter where importing kbert fails: the export must stand on TensorFlow and tensorflow-text.
FRESH_PROCESS = r"""
import json, sys

class RefuseKbert:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "kbert":
            raise ImportError(f"{name} must not be needed to serve an export")

sys.meta_path.insert(0, RefuseKbert())
import numpy as np
import tensorflow as tf
import tensorflow_text  # registers the tokenizer ops

lm_dir, classifier_dir, texts_file, output_file = sys.argv[1:]
texts, pairs = (tf.constant(column) for column in json.load(open(texts_file)))
lm, classifier = tf.saved_model.load(lm_dir), tf.saved_model.load(classifier_dir)
outputs = {}
for prefix, model, calls in (
    ("lm", lm, {"fill_mask": {"text": texts}, "next_sentence": {"text": texts, "text_pair": pairs},
                "encode_pair": {"text": texts, "text_pair": pairs}}),
    ("classifier", classifier, {"classify": {"text": texts}, "classify_pair": {"text": texts, "text_pair": pairs},
                                "inspect_pair": {"text": texts, "text_pair": pairs}}),
):
    for name, inputs in calls.items():
        for key, value in model.signatures[name](**inputs).items():
            outputs[f"{prefix}/{name}/{key}"] = value.numpy()
np.savez(output_file, **outputs)
"""


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    return export_tiny_models(tmp_path_factory.mktemp("saved_models"))


def test_export_writes_a_numbered_version_with_config_vocab_labels_and_card(exports):
    lm, classifier = exports.pretrainer_dir, exports.classifier_dir
    assert lm == exports.root / "tiny-lm" / "1" and classifier == exports.root / "tiny-sentiment" / "1"
    for directory in (lm, classifier):
        assert (directory / "saved_model.pb").is_file() and (directory / "variables").is_dir()
        assert BertConfig.from_json_file(directory / "bert_config.json") == exports.pretrainer.backbone.config
        assert load_vocabulary(directory / "vocab.txt") == exports.tokenizer.vocab
    assert json.loads((classifier / "labels.json").read_text()) == LABELS
    assert not (lm / "labels.json").exists()

    metadata = json.loads((lm / "kbert.json").read_text())
    assert metadata["model_type"] == "pretrainer" and metadata["tasks"] == ["fill-mask", "next-sentence", "encode"]
    assert metadata["seq_length"] == SEQ_LENGTH and metadata["lowercase"] and metadata["model_card"] == MODEL_CARD
    assert metadata["signatures"]["fill_mask"]["outputs"]["probabilities"] == {"dtype": "float32",
                                                                               "shape": "[?, 10, 10]"}
    card = (lm / "README.md").read_text()
    for text in ("# tiny-lm", "## Data", "six test sentences", "    pytest tests", "| mlm_accuracy | 0.125 |",
                 "| notes | random weights |", "`fill_mask`", "`next_sentence`", "`text_pair` string [?]"):
        assert text in card
    assert "labels | negative, neutral, positive" in (classifier / "README.md").read_text()


def test_saved_model_cli_lists_every_signature(exports):
    cli = Path(sys.executable).parent / "saved_model_cli"
    shown = subprocess.run([str(cli), "show", "--dir", str(exports.classifier_dir), "--all"], capture_output=True,
                           text=True, check=True).stdout
    for name in ("serving_default", "classify", "classify_pair", "encode", "encode_pair", "inspect", "inspect_pair",
                 "count_tokens"):
        assert f"signature_def['{name}']" in shown
    for tensor in ("inputs['text']", "inputs['text_pair']", "outputs['probabilities']", "outputs['label_names']",
                   "outputs['attributions']", "outputs['attentions']", "outputs['pooled_output']"):
        assert tensor in shown


def test_a_process_that_cannot_import_kbert_gets_the_keras_models_answers(exports, tmp_path):
    texts_file, output_file = tmp_path / "texts.json", tmp_path / "outputs.npz"
    texts_file.write_text(json.dumps([TEXTS, PAIRS]))
    subprocess.run([sys.executable, "-c", FRESH_PROCESS, str(exports.pretrainer_dir), str(exports.classifier_dir),
                    str(texts_file), str(output_file)], check=True, cwd=tmp_path)
    got = dict(np.load(output_file, allow_pickle=True))  # tf.string outputs are object arrays
    tokenizer, pretrainer, classifier = exports.tokenizer, exports.pretrainer, exports.classifier

    for index, probabilities in enumerate(keras_fill_mask(pretrainer, tokenizer, TEXTS)):
        assert got["lm/fill_mask/num_masks"][index] == len(probabilities)
        for slot, row in enumerate(probabilities):
            assert_top_k(got["lm/fill_mask/token_ids"][index, slot], got["lm/fill_mask/probabilities"][index, slot],
                         row, tokenizer)
    np.testing.assert_allclose(got["lm/next_sentence/is_next"], keras_is_next(pretrainer, tokenizer, TEXTS, PAIRS),
                               atol=1e-5, rtol=0)
    features = keras_features(tokenizer, TEXTS, PAIRS)
    encoded = pretrainer.backbone(features)
    length = got["lm/encode_pair/padding_mask"].shape[1]
    np.testing.assert_array_equal(got["lm/encode_pair/padding_mask"], features["padding_mask"][:, :length])
    np.testing.assert_allclose(got["lm/encode_pair/pooled_output"], encoded["pooled_output"], atol=1e-5, rtol=0)
    real = features["padding_mask"][:, :length, None] == 1
    np.testing.assert_allclose(got["lm/encode_pair/sequence_output"],
                               np.asarray(encoded["sequence_output"])[:, :length] * real, atol=1e-5, rtol=0)

    single = softmax(classifier(keras_features(tokenizer, TEXTS))["logits"])
    np.testing.assert_allclose(got["classifier/classify/probabilities"], single, atol=1e-5, rtol=0)
    assert [label.decode() for label in got["classifier/classify/label"]] == [LABELS[i] for i in single.argmax(-1)]
    np.testing.assert_array_equal(got["classifier/classify/label_names"].astype(str), [LABELS] * len(TEXTS))
    probabilities, attentions, attributions = keras_attributions(classifier, features)
    np.testing.assert_allclose(got["classifier/classify_pair/probabilities"], probabilities, atol=1e-5, rtol=0)
    np.testing.assert_allclose(got["classifier/inspect_pair/probabilities"], probabilities, atol=1e-5, rtol=0)
    np.testing.assert_allclose(got["classifier/inspect_pair/attentions"], attentions[..., :length, :length],
                               atol=1e-5, rtol=0)
    np.testing.assert_allclose(got["classifier/inspect_pair/attributions"], attributions[:, :length],
                               atol=1e-4 * np.abs(attributions).max(), rtol=1e-4)
    tokens = tokenizer.id_to_token(features["token_ids"][:, :length]).numpy()
    np.testing.assert_array_equal(got["classifier/inspect_pair/tokens"], tokens)


def test_xla_kernels_stay_compiled_in_the_saved_graph(exports):
    saved = saved_model_pb2.SavedModel.FromString((exports.pretrainer_dir / "saved_model.pb").read_bytes())
    compiled = {re.sub(r"^__inference_(.+)_\d+$", r"\1", function.signature.name)
                for function in saved.meta_graphs[0].graph_def.library.function if function.attr["_XlaMustCompile"].b}
    assert {"_layer_norm_forward", "_gelu_forward"} <= compiled


def test_mixed_precision_model_exports_in_float32(tmp_path):
    tokenizer = tiny_tokenizer()
    precision.set_policy("mixed_bfloat16")
    mixed = tiny_pretrainer(tokenizer)
    directory = export_model(mixed, tokenizer, tmp_path, name="mixed", seq_length=SEQ_LENGTH)
    assert precision.current_policy() == "mixed_bfloat16"  # the caller's policy is restored

    precision.set_policy("float32")
    reference = BertPretrainer(BertBackbone(mixed.backbone.config))
    reference.set_weights(mixed.get_weights())
    dtypes = tf.train.load_checkpoint(str(directory / "variables" / "variables")).get_variable_to_dtype_map()
    assert {dtype for name, dtype in dtypes.items() if name != "_CHECKPOINTABLE_OBJECT_GRAPH"} == {tf.float32}
    got = tf.saved_model.load(str(directory)).signatures["fill_mask"](text=tf.constant(TEXTS))
    for index, probabilities in enumerate(keras_fill_mask(reference, tokenizer, TEXTS)):
        for slot, row in enumerate(probabilities):
            assert_top_k(got["token_ids"][index, slot], got["probabilities"][index, slot], row, tokenizer)


def test_failed_export_leaves_the_previous_version_and_no_partial_directory(exports, monkeypatch):
    parent, tokenizer, model = exports.classifier_dir.parent, exports.tokenizer, exports.classifier
    before = {path.relative_to(parent): path.read_bytes() for path in parent.rglob("*") if path.is_file()}

    def fail(*args, **kwargs):
        raise OSError("disk full")

    # The SavedModel, config, vocabulary and labels are written by now; the model card is not.
    monkeypatch.setattr(writer, "render_card", fail)
    with pytest.raises(OSError, match="disk full"):
        export_model(model, tokenizer, exports.root, name=parent.name, label_names=LABELS, seq_length=SEQ_LENGTH)
    assert [path.name for path in parent.iterdir()] == ["1"]
    assert {path.relative_to(parent): path.read_bytes() for path in parent.rglob("*") if path.is_file()} == before

    monkeypatch.undo()
    second = export_model(model, tokenizer, exports.root, name=parent.name, label_names=LABELS, seq_length=SEQ_LENGTH)
    assert second == parent / "2" and (second / "README.md").is_file()
    assert sorted(path.name for path in parent.iterdir()) == ["1", "2"]


def _bad_arguments():
    tokenizer = tiny_tokenizer()
    pretrainer, classifier = tiny_pretrainer(tokenizer), tiny_classifier(tokenizer)
    smaller_vocab = BertTokenizer(tokenizer.vocab[:-1])
    return [
        (classifier, tokenizer, {}, "a classifier export needs label_names: 3 names"),
        (classifier, tokenizer, {"label_names": ["a", "b"]}, r"label_names=\['a', 'b'\] must be 3 distinct names"),
        (classifier, tokenizer, {"label_names": ["a", "a", "b"]}, "must be 3 distinct names"),
        (pretrainer, tokenizer, {"label_names": LABELS}, "label_names are for classifiers"),
        (pretrainer, tokenizer, {"seq_length": 65}, r"seq_length=65 must be between 4 and the model's "
                                                    r"max_position_embeddings \(64\)"),
        (pretrainer, tokenizer, {"name": "a/b"}, "name='a/b' must be one directory name"),
        (pretrainer, smaller_vocab, {}, f"the tokenizer has {tokenizer.vocab_size - 1} tokens but the model's "
                                        f"vocab_size is {tokenizer.vocab_size}"),
        (pretrainer, tokenizer, {"model_card": {"steps": object()}}, "model_card must hold JSON values"),
        (pretrainer.backbone, tokenizer, {}, "takes a kbert BertPretrainer or BertClassifier, got BertBackbone"),
    ]


def test_bad_arguments_are_refused_before_anything_is_written(tmp_path):
    for model, tokenizer, overrides, message in _bad_arguments():
        arguments = {"name": "model", "seq_length": SEQ_LENGTH, **overrides}
        with pytest.raises((ValueError, TypeError), match=message):
            export_model(model, tokenizer, tmp_path, **arguments)
    assert list(tmp_path.iterdir()) == []
    assert keras.config.dtype_policy().name == "float32"


def test_fill_mask_never_offers_special_tokens(tmp_path):
    """A model that most wants [UNK] and [SEP] at a mask still answers with ordinary tokens; the scores stay
    probabilities over the whole vocabulary, so they no longer sum to 1 over the candidates."""
    tokenizer = tiny_tokenizer()
    pretrainer = tiny_pretrainer(tokenizer)
    bias = pretrainer.masked_lm_head.output_bias
    bias.assign(tf.tensor_scatter_nd_update(bias, [[tokenizer.unk_id], [tokenizer.sep_id]], [30.0, 29.0]))
    directory = export_model(pretrainer, tokenizer, tmp_path, name="lm", seq_length=SEQ_LENGTH)
    got = tf.saved_model.load(str(directory)).signatures["fill_mask"](text=tf.constant(TEXTS))
    tokens = {token.decode() for token in got["tokens"].numpy().ravel()} - {""}
    assert tokens and not tokens & {"[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]"}
    assert float(tf.reduce_max(tf.reduce_sum(got["probabilities"], axis=-1))) < 1e-6

"""Full-width folding: text typed with full-width or ASCII letters, digits and punctuation reaches the same tokens
in a vocabulary kbert trains, in the graph and in an exported model; BERT's own behaviour stays the default."""

import json

import numpy as np
import tensorflow as tf
from export_support import tiny_config

from kbert.export import export_model
from kbert.models import BertBackbone, BertPretrainer
from kbert.pipeline import pipeline
from kbert.text.tokenizer import BertTokenizer
from kbert.text.vocab import train_vocabulary

# As People's Daily writes: full-width digits, letters and punctuation.
CORPUS = ["１９９８年，ＷＴＯ与中国！", "今天是１月１日（星期四）。", "他说：“好！”", "第２版：经济？"]
FULL, HALF = "１９９８年，ＷＴＯ（中国）！", "1998年,WTO(中国)!"


def ids(tokenizer: BertTokenizer, text: str) -> list[int]:
    return tokenizer.tokenize(tf.constant([text])).flat_values.numpy().tolist()


def test_both_forms_reach_the_same_tokens_and_none_is_unknown():
    vocab = train_vocabulary(CORPUS, vocab_size=100, fold_full_width=True)
    tokenizer = BertTokenizer(vocab, fold_full_width=True)
    assert ids(tokenizer, FULL) == ids(tokenizer, HALF)
    assert tokenizer.unk_id not in ids(tokenizer, HALF)
    assert "," in vocab and "，" not in vocab and "1" in vocab and "１" not in vocab


def test_bert_behaviour_is_the_default_each_form_its_own_token():
    vocab = train_vocabulary(CORPUS, vocab_size=100)
    tokenizer = BertTokenizer(vocab)
    assert "，" in vocab and "," not in vocab
    assert tokenizer.unk_id not in ids(tokenizer, FULL)
    assert ids(tokenizer, HALF).count(tokenizer.unk_id) >= 4  # 1, 9, 8 and the ASCII punctuation are unknown


def test_an_exported_model_folds_as_it_was_trained(tmp_path):
    vocab = train_vocabulary(CORPUS, vocab_size=100, fold_full_width=True)
    tokenizer = BertTokenizer(vocab, fold_full_width=True)
    model = BertPretrainer(BertBackbone(tiny_config(tokenizer)))
    path = export_model(model, tokenizer, tmp_path, name="folded", seq_length=32,
                        model_card={"data": "four lines", "steps": 0, "command": "pytest"})
    assert json.loads((path / "kbert.json").read_text())["fold_full_width"] is True
    fill = pipeline("fill-mask", path)
    full, half = fill(["１９９８年[MASK]ＷＴＯ！", "1998年[MASK]WTO!"], top_k=3)
    np.testing.assert_allclose([a["score"] for a in full[0]], [a["score"] for a in half[0]], atol=1e-6)

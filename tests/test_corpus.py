import gzip
import json
import logging
import os

import pytest

from kbert.text import corpus as corpus_module
from kbert.text.corpus import MAX_SENTENCE_CHARS, load_corpus, split_sentences, text_to_words


@pytest.fixture(scope="module")
def peoples_daily(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("data")
    return load_corpus(data_dir=data_dir), data_dir


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_peoples_daily_has_articles_of_sentences_of_words(peoples_daily):
    corpus, _ = peoples_daily
    stats = corpus.stats()
    train, heldout = stats["train"], stats["heldout"]
    assert corpus.name == "peoples-daily-199801"
    assert 3000 < train["documents"] + heldout["documents"] < 4600  # one per headline run (~5.3k headline lines)
    assert 1.7e6 < train["characters"] + heldout["characters"] < 1.95e6  # ~1.9 M characters once tags go
    assert 0.01 < heldout["documents"] / (train["documents"] + heldout["documents"]) < 0.03
    first = corpus.train[0]
    assert first[0] == "迈向 充满 希望 的 新 世纪 —— 一九九八年 新年 讲话 （ 附 图片 １ 张 ）".split()
    assert "".join(first[3]).endswith("发表１９９８年新年讲话《迈向充满希望的新世纪》。")
    words = [word for document in corpus.train[:200] for sentence in document for word in sentence]
    assert not [word for word in words if "/" in word or word.startswith("[")], "POS tags and brackets are stripped"
    assert sum(len(word) > 1 for word in words) > 0.4 * len(words), "the corpus' own word boundaries are kept"


def test_peoples_daily_splits_articles_at_headlines(peoples_daily):
    corpus, _ = peoples_daily
    starts = ["".join(document[0]) for document in corpus.train[:6]]
    assert starts[1] == "在十五大精神指引下胜利前进——元旦献辞"
    assert starts[2] == "北京举行新年音乐会"
    assert "（新华社记者樊如钧摄）" in ["".join(s) for s in corpus.train[2]], "a caption does not start an article"


def test_prepared_corpus_is_cached_and_read_back(peoples_daily, monkeypatch):
    corpus, data_dir = peoples_daily
    directory = data_dir / "corpus" / corpus.name
    assert {p.name for p in directory.iterdir()} == {"train.jsonl.gz", "heldout.jsonl.gz", "manifest.json"}
    assert json.loads((directory / "manifest.json").read_text())["stats"] == corpus.stats()
    monkeypatch.setattr(corpus_module, "_peoples_daily_documents", lambda path: pytest.fail("not read from cache"))
    again = load_corpus(data_dir=data_dir)
    assert again.train == corpus.train and again.heldout == corpus.heldout


def test_sentences_end_at_chinese_and_western_punctuation():
    words = text_to_words("他说：“我们走吧！”然后离开了。真的吗？是的；好. Hello world. Is it (really)? Yes")
    sentences = ["".join(sentence) for sentence in split_sentences(words)]
    assert sentences == [
        "他说：“我们走吧！”",
        "然后离开了。",
        "真的吗？",
        "是的；",
        "好.",
        "Hello world.",
        "Is it (really)?",
        "Yes",
    ]


def test_words_rebuild_the_text_and_chinese_is_segmented():
    text = "我们今天去北京参观 the Great Wall,  and 长城博物馆"
    words = text_to_words(text)
    assert "".join(words) == "我们今天去北京参观 the Great Wall, and 长城博物馆"  # runs of whitespace become one space
    assert "北京" in words and " the" in words and " Wall," in words


def test_google_layout_makes_documents_from_blank_lines(tmp_path):
    source = write(tmp_path / "google.txt", "First doc one.\nFirst doc two.\n\n\nSecond doc. Still second.\n")
    corpus = load_corpus(source, data_dir=tmp_path / "data")
    documents = corpus.train + corpus.heldout
    assert sorted(["".join(s) for s in d] for d in documents) == [
        ["First doc one.", "First doc two."],
        ["Second doc.", "Still second."],
    ]
    assert corpus.name.startswith("google-")


def test_lines_without_blank_lines_are_one_document_each(tmp_path):
    source = write(tmp_path / "paragraphs.txt", "今天天气很好。我们去公园。\n明天下雨！在家看书。\n")
    corpus = load_corpus(source, data_dir=tmp_path / "data")
    assert sorted(["".join(s) for s in d] for d in corpus.train + corpus.heldout) == [
        ["今天天气很好。", "我们去公园。"],
        ["明天下雨！", "在家看书。"],
    ]


def test_directories_globs_and_gzip(tmp_path):
    (tmp_path / "texts" / "sub").mkdir(parents=True)
    write(tmp_path / "texts" / "a.txt", "Alpha one. Alpha two.\n")
    with gzip.open(tmp_path / "texts" / "sub" / "b.txt.gz", "wt", encoding="utf-8") as file:
        file.write("Beta one. Beta two.\n")
    write(tmp_path / "texts" / "notes.md", "Not a corpus file.\n")
    for source in (tmp_path / "texts", str(tmp_path / "texts" / "**" / "*.txt*")):
        corpus = load_corpus(source, data_dir=tmp_path / "data")
        assert sorted(corpus.texts("train")) + sorted(corpus.texts("heldout")) == sorted(
            ["Alpha one.", "Alpha two.", "Beta one.", "Beta two."]
        )


def test_held_out_documents_depend_only_on_their_text(tmp_path):
    lines = [f"Document number {i} says hello. It ends here." for i in range(600)]
    first = load_corpus(write(tmp_path / "one.txt", "\n".join(lines)), data_dir=tmp_path / "data")
    second = load_corpus(write(tmp_path / "two.txt", "\n".join(reversed(lines))), data_dir=tmp_path / "data")
    assert 3 <= len(first.heldout) <= 25
    assert sorted(map(str, first.heldout)) == sorted(map(str, second.heldout))
    assert first.stats()["train"]["documents"] + len(first.heldout) == 600


def test_cache_is_rebuilt_when_the_source_changes(tmp_path):
    source = write(tmp_path / "c.txt", "Old text here.\n")
    assert list(load_corpus(source, data_dir=tmp_path / "data").texts()) == ["Old text here."]
    write(source, "New text, longer than the old.\n")
    os.utime(source, ns=(0, 10**18))
    assert list(load_corpus(source, data_dir=tmp_path / "data").texts()) == ["New text, longer than the old."]


def test_not_utf8_names_the_file_line_and_byte(tmp_path):
    source = tmp_path / "gbk.txt"
    source.write_bytes(b"Fine line.\n" + "第二行".encode("gbk"))
    with pytest.raises(ValueError, match=r"gbk\.txt:2: byte 11 is not UTF-8.*iconv"):
        load_corpus(source, data_dir=tmp_path / "data")


def test_empty_files_are_skipped_and_an_empty_corpus_is_an_error(tmp_path, caplog):
    write(tmp_path / "empty.txt", "\n \n")
    with pytest.raises(ValueError, match="no text found"):
        load_corpus(tmp_path / "empty.txt", data_dir=tmp_path / "data")
    write(tmp_path / "full.txt", "Some text.\n")
    with caplog.at_level(logging.WARNING):
        corpus = load_corpus(tmp_path, data_dir=tmp_path / "data")
    assert "empty.txt has no text" in caplog.text and list(corpus.texts()) == ["Some text."]
    with pytest.raises(FileNotFoundError, match="no corpus file matches"):
        load_corpus(tmp_path / "missing*.txt", data_dir=tmp_path / "data")


def test_megabyte_lines_are_cut_into_pieces(tmp_path):
    words = "word " * 200_000
    source = write(tmp_path / "long.txt", words + "\n" + "x" * 1_000_000 + "\n")
    corpus = load_corpus(source, data_dir=tmp_path / "data")
    sentences = list(corpus.texts("train")) + list(corpus.texts("heldout"))
    assert max(map(len, sentences)) <= MAX_SENTENCE_CHARS
    assert sum(len(s.replace(" ", "")) for s in sentences) == 4 * 200_000 + 1_000_000


def test_unknown_split_is_an_error(peoples_daily):
    with pytest.raises(ValueError, match="Unknown split 'test'"):
        next(peoples_daily[0].texts("test"))


@pytest.fixture(scope="module")
def everyday(tmp_path_factory):
    return load_corpus("everyday", data_dir=tmp_path_factory.mktemp("data"))


def test_everyday_corpus_is_tatoeba_in_simplified_characters_grouped_into_documents(everyday):
    texts = [text for split in ("train", "heldout") for text in everyday.texts(split)]
    assert len(texts) > 45_000 and "我们试试看！" in texts  # Tatoeba's first sentence, 我們試試看！ in the file
    traditional = set("們這個說會時來對學與為國愛")
    assert not any(traditional & set(text) for text in texts)
    documents = everyday.train + everyday.heldout
    assert 8 <= len(texts) / len(documents) < 8.5  # eight Tatoeba sentences a document, a few of them two sentences


def test_everyday_corpus_leaves_out_what_overlaps_the_everyday_evaluation(everyday):
    from kbert.text.masked_characters import EVERYDAY_SENTENCES, read_marked_sentences

    evaluated = [example.sentence for _, example in read_marked_sentences(EVERYDAY_SENTENCES)]
    windows = {sentence[i : i + 6] for sentence in evaluated for i in range(max(1, len(sentence) - 5))}
    text = "\n".join(t for split in ("train", "heldout") for t in everyday.texts(split))
    assert "北京是中国的首都。" in evaluated
    assert "\t北京是中国的首都。\t" in corpus_module._tatoeba_file().read_text(encoding="utf-8")  # left out
    assert not [window for window in windows if window in text]


def test_a_damaged_tatoeba_file_names_its_line(tmp_path, monkeypatch):
    path = write(tmp_path / "tatoeba.tsv", "1\t我们试试看！\t1276\tLet's try something.\n2\t我该去睡觉了。\n")
    monkeypatch.setitem(corpus_module._EMBEDDED_PATHS, "everyday", lambda: [path])
    with pytest.raises(ValueError, match=r"tatoeba.tsv:2: expected 4 tab-separated fields"):
        load_corpus("everyday", data_dir=tmp_path / "data")


def test_a_combined_embedded_corpus_holds_its_parts_in_order(tmp_path, monkeypatch):
    for part in ("peoples-daily-199801", "reviews", "everyday"):
        documents = [[[f"{part} {i}。"]] for i in range(3)]
        monkeypatch.setitem(corpus_module._PART_READERS, part, lambda documents=documents: documents)
    combined = load_corpus("news-reviews-and-everyday", data_dir=tmp_path)
    texts = ["".join(document[0]) for document in combined.train + combined.heldout]
    assert sorted(texts) == sorted(f"{part} {i}。" for part in ("peoples-daily-199801", "reviews", "everyday")
                                   for i in range(3))
    assert [text.split()[0] for text in combined.texts()] == sorted(
        [text.split()[0] for text in combined.texts()], key=["peoples-daily-199801", "reviews", "everyday"].index)

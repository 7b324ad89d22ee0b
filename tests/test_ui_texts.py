"""The page's words: every text exists in Chinese and English with the same blanks to fill, and a `Text` is shown
in the language asked for."""

import string

import pytest

from ui.texts import DEFAULT_LANGUAGE, LANGUAGES, STRINGS, Text, say, t


def _blanks(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("key", sorted(STRINGS))
def test_every_text_has_both_languages_with_the_same_blanks(key):
    zh, en = STRINGS[key]["zh"], STRINGS[key]["en"]
    assert zh.strip() and en.strip() and _blanks(zh) == _blanks(en)


def test_chinese_is_the_default_and_english_is_offered():
    assert DEFAULT_LANGUAGE == "zh" and set(LANGUAGES) == {"zh", "en"}


def test_a_text_is_shown_in_the_language_asked_for_with_its_values_filled_in():
    note = Text("note.cut", what=Text("what.text"), length=12_345, kept=10_000, cut=2_345, start="好")
    assert note("zh") == "文本有 12,345 个字符，只保留了前 10,000 个：从「好…」开始的最后 2,345 个被截掉了。"
    assert str(note) == note("en") and note("en").startswith("The text was 12,345 characters")
    assert say("a plain detail", "zh") == "a plain detail" and say(note, "xx") == note("zh")
    assert t("tab.fill", "en") == "Fill the mask"
    with pytest.raises(KeyError, match="no page text"):
        Text("no.such.key")

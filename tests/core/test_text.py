"""core.text: what counts as empty, what is stripped, and how many stacked marks a letter may carry."""

import unicodedata

import pytest

from core.errors import Invalid
from core.text import (
    MAX_STACKED_MARKS,
    clean_line,
    clean_text,
    has_visible,
    most_stacked_marks,
    required_text,
)

ZALGO = "a" + "".join(chr(0x0300 + n % 0x70) for n in range(190))

INVISIBLE = [
    pytest.param("\u200b", id="zero-width-space"),
    pytest.param("\u200c\u200d", id="zero-width-non-joiner-and-joiner"),
    pytest.param("\u2060\ufeff", id="word-joiner-and-bom"),
    pytest.param("\u200b \u200b\t\u2060", id="mixed-with-spaces"),
    pytest.param("\u2062\u2063\u2064", id="invisible-math-operators"),
    pytest.param("\u00ad\u180e\u034f", id="soft-hyphen-mongolian-separator-cgj"),
    pytest.param("\u3164\u115f\u1160\uffa0", id="hangul-fillers"),
    pytest.param("\u2800\u2800", id="blank-braille"),
    pytest.param("\U000e0041\U000e0042", id="tag-characters"),
    pytest.param("\u0301\u0308", id="marks-without-a-letter"),
    pytest.param("\ufe0f\u202e", id="variation-selector-and-override"),
]


def required(value, one_line=True):
    return required_text(value, limit=200, field="title", empty="Write a title.", noun="A title",
                         one_line=one_line)


@pytest.mark.parametrize("value", INVISIBLE)
@pytest.mark.parametrize("one_line", [True, False], ids=["line", "text"])
def test_text_that_shows_nothing_counts_as_empty(value, one_line):
    assert not has_visible(value)
    with pytest.raises(Invalid, match="Write a title.") as refused:
        required(value, one_line=one_line)
    assert refused.value.field == "title"


def test_invisible_characters_at_the_ends_are_stripped():
    assert clean_line("\u200b\ufeff Invoice\u2060 total \u200b\u3164") == "Invoice\u2060 total"
    assert clean_text("\u200b\nFirst line\nSecond\u200d\n\u200b") == "First line\nSecond"
    assert clean_line("\x00 hello") == "hello"  # a dropped control character leaves no space behind


@pytest.mark.parametrize("text", [
    pytest.param("Thành phố Hồ Chí Minh", id="vietnamese"),
    pytest.param(unicodedata.normalize("NFD", "Việt Nam, Đà Nẵng, tiếng Việt"), id="vietnamese-nfd"),
    pytest.param("हिन्दी में प्रश्न, क्षत्रिय, द्वन्द्व", id="hindi"),
    pytest.param("ภาษาไทย น้ำ ญั่ ปั๊ม", id="thai"),
    pytest.param("בְּרֵאשִׁ֖ית בָּרָ֣א שָּׁ", id="hebrew-with-points-and-accents"),
    pytest.param("مُحَمَّدٌ رَسُولُ اللّٰهِ", id="arabic-with-harakat"),
    pytest.param("བསྒྲུབས་ ཧཱུྃ", id="tibetan-stacks"),
    pytest.param("Family 👨‍👩‍👧, flags 🇫🇷🇯🇵 🏴󠁧󠁢󠁥󠁮󠁧󠁿 🏳️‍🌈, skin 👍🏽, keycap 1️⃣", id="emoji-sequences"),
    pytest.param("Ça va? Grüße, naïve café", id="accents"),
])
def test_real_world_scripts_and_emoji_are_kept_as_typed(text):
    assert most_stacked_marks(text) <= 4
    assert required(text) == unicodedata.normalize("NFC", text)


def test_emoji_sequences_keep_their_joiners():
    family = "👨\u200d👩\u200d👧"
    assert required(f"Our {family}") == f"Our {family}"
    assert required(family) == family


@pytest.mark.parametrize("value", [
    pytest.param(ZALGO, id="one-letter-190-marks"),
    pytest.param("Help " + "x" + "\u0301" * (MAX_STACKED_MARKS + 1), id="one-over-the-limit"),
    pytest.param("Hi a" + "\u0301\u200c" * 20, id="marks-between-zero-width-non-joiners"),
    pytest.param("Hi a" + "\u0301\u034f" * 20, id="marks-between-grapheme-joiners"),
])
@pytest.mark.parametrize("one_line", [True, False], ids=["line", "text"])
def test_a_pile_of_combining_marks_on_one_letter_is_refused(value, one_line):
    message = f"A title has a letter with more than {MAX_STACKED_MARKS} accents or marks stacked on it"
    with pytest.raises(Invalid, match=message) as refused:
        required(value, one_line=one_line)
    assert refused.value.field == "title"


def test_up_to_the_limit_of_marks_is_fine():
    value = "x" + "\u0301" * MAX_STACKED_MARKS + " and " + "q" + "\u0308" * MAX_STACKED_MARKS
    assert most_stacked_marks(value) == MAX_STACKED_MARKS
    assert required(value) == value

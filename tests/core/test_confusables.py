"""core.confusables: the UTS #39 skeleton rebuilt from confusable_homoglyphs' data."""

import pytest

from core.confusables import name_skeleton, prototypes, skeleton


@pytest.mark.parametrize(("source", "prototype"), [
    ("\u0430", "a"),  # CYRILLIC SMALL LETTER A
    ("\u0131", "i"),  # LATIN SMALL LETTER DOTLESS I
    ("\u03b9", "i"),  # GREEK SMALL LETTER IOTA
    ("\u0399", "l"),  # GREEK CAPITAL LETTER IOTA, like Latin I, like l
    ("I", "l"),
    ("1", "l"),
    ("m", "rn"),
    ("0", "O"),
    ("\u13aa", "A"),  # CHEROKEE LETTER GO
    ("\u06f2", "\u0662"),  # EXTENDED ARABIC-INDIC TWO: right-to-left, marked LRM in the data
    ("\u2135", "\u05d0"),  # ALEF SYMBOL to HEBREW LETTER ALEF
])
def test_characters_map_to_their_unicode_prototype(source, prototype):
    assert skeleton(source) == skeleton(prototype) == prototype


def test_the_data_is_still_one_prototype_per_set():
    """The prototypes are inferred from pairs (see the module): every character listed with several
    look-alikes must be the only look-alike of each of them. A new data format fails here first."""
    from confusable_homoglyphs.confusables import confusables_data

    marks = str.maketrans("", "", "\u200e\u200f")
    pairs = {}
    for text, alikes in confusables_data.items():
        pairs.setdefault(text.translate(marks), set()).update(a["c"].translate(marks) for a in alikes)
    for text, alikes in pairs.items():
        if len(alikes) > 1:
            assert all(pairs.get(alike) == {text} for alike in alikes), text
    assert len(prototypes()) > 6000


@pytest.mark.parametrize("lookalike", [
    "\u0430dmin",  # Cyrillic а
    "adm\u0131n",  # dotless ı
    "adm\u0399n",  # Greek capital Iota
    "ADMIN", "Admin", "\uff41\uff44\uff4d\uff49\uff4e",  # capitals, full width
    "ad\u200bmin", "ad\u00admin",  # zero-width space, soft hyphen
    "\u13aadmin",  # Cherokee Ꭺ
    "adrnin",  # r and n side by side look like m
])
def test_look_alikes_of_a_name_share_its_skeleton(lookalike):
    assert name_skeleton(lookalike) == name_skeleton("admin")


@pytest.mark.parametrize("other", ["admins", "adm1n", "adam", "admin_", "a.dmin", "nimda"])
def test_different_names_keep_different_skeletons(other):
    assert name_skeleton(other) != name_skeleton("admin")


def test_scripts_other_than_latin_are_compared_too():
    assert name_skeleton("\u0440\u0430\u0443\u0440\u0430l") == name_skeleton("paypal")  # Cyrillic р а у
    assert name_skeleton("Zo\u00eb_\u674e") == name_skeleton("zoe\u0308_\u674e")
    assert name_skeleton("\u05e9\u05dc\u05d5\u05dd") != name_skeleton("\u05e9\u05dc\u05d5\u05dd\u05d9")

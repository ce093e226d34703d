"""Cleaning user text before it is stored: normalised, no control or direction-override characters."""

import unicodedata

# Bidirectional overrides and marks can make text read backwards (a file name, a link);
# joiners and variation selectors stay, or emoji such as 👨‍👩‍👧 fall apart.
_DROPPED = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")
_DROPPED_CATEGORIES = frozenset({"Cc", "Cs", "Co", "Cn"})


def clean_text(value: str | None) -> str:
    """NFC-normalised text without control characters (newlines and tabs kept), stripped."""
    value = unicodedata.normalize("NFC", (value or "").replace("\r\n", "\n")).strip()
    return "".join(ch for ch in value if ch in "\n\t" or (
        unicodedata.category(ch) not in _DROPPED_CATEGORIES and ch not in _DROPPED))


def clean_line(value: str | None) -> str:
    """One line: clean_text with every run of white space folded to a single space."""
    return " ".join(clean_text(value).split())


def required_text(value: str | None, *, limit: int, field: str, empty: str, noun: str,
                  one_line: bool = False) -> str:
    """`value` cleaned (clean_line when `one_line`, else clean_text). Raises Invalid with `empty`
    when nothing is left, or "<noun> has at most <limit> characters" when it is longer."""
    from core.errors import Invalid

    value = clean_line(value) if one_line else clean_text(value)
    if not value:
        raise Invalid(empty, field=field)
    if len(value) > limit:
        raise Invalid(f"{noun} has at most {limit:,} characters (this one has {len(value):,}).", field=field)
    return value

"""Cleaning user text before it is stored: normalised, no control or direction-override characters,
nothing that shows nothing, and no letter buried under a pile of combining marks."""

import unicodedata

# Bidirectional overrides and marks can make text read backwards (a file name, a link);
# joiners and variation selectors stay, or emoji such as 👨‍👩‍👧 fall apart.
_DROPPED = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")
_DROPPED_CATEGORIES = frozenset({"Cc", "Cs", "Co", "Cn"})
# Letters and symbols that draw nothing: Hangul fillers and the blank Braille pattern pass for a
# name or a title as well as a space does.
_BLANKS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
# Stripped from the ends like spaces: zero-width spaces, joiners and the byte-order mark join or
# separate nothing there. Not every format character: an emoji tag sequence (🏴 England) ends in some.
_EDGE_INVISIBLE = frozenset("\u200b\u200c\u200d\u2060\ufeff\u180e") | _BLANKS
# Stacked combining marks: Vietnamese, Devanagari, Thai, pointed Hebrew and Arabic with harakat use
# up to about four on one letter; "Zalgo" text piles up hundreds, drawn over the lines around it.
MAX_STACKED_MARKS = 6
# Default-ignorable code points (DerivedCoreProperties.txt) that are not format characters (Cf):
# the combining grapheme joiner, Hangul fillers, Khmer inherent vowels, variation selectors.
_OTHER_IGNORABLE = frozenset(
    "\u034f\u115f\u1160\u17b4\u17b5\u180b\u180c\u180d\u180f\u3164\uffa0"
    + "".join(map(chr, range(0xFE00, 0xFE10))) + "".join(map(chr, range(0xE0100, 0xE01F0))))


def clean_text(value: str | None) -> str:
    """NFC-normalised text without control characters (newlines and tabs kept), stripped of spaces
    and invisible characters at both ends."""
    value = unicodedata.normalize("NFC", (value or "").replace("\r\n", "\n"))
    value = "".join(ch for ch in value if ch in "\n\t" or (
        unicodedata.category(ch) not in _DROPPED_CATEGORIES and ch not in _DROPPED))
    return _strip(value)


def clean_line(value: str | None) -> str:
    """One line: clean_text with every run of white space folded to a single space."""
    return " ".join(clean_text(value).split())


def _strip(value: str) -> str:
    start, end = 0, len(value)
    while start < end and (value[start].isspace() or value[start] in _EDGE_INVISIBLE):
        start += 1
    while end > start and (value[end - 1].isspace() or value[end - 1] in _EDGE_INVISIBLE):
        end -= 1
    return value[start:end]


def is_default_ignorable(ch: str) -> bool:
    """Whether `ch` is a Default_Ignorable_Code_Point (format characters, variation selectors,
    fillers): drawn as nothing at all when a font has no glyph for it."""
    return unicodedata.category(ch) == "Cf" or ch in _OTHER_IGNORABLE or 0xE0000 <= ord(ch) <= 0xE0FFF


def has_visible(value: str | None) -> bool:
    """Whether `value` shows anything: a letter, digit, punctuation mark or symbol that is not blank.
    Spaces, zero-width and other format characters, and combining marks on their own do not count."""
    return any(unicodedata.category(ch)[0] in "LNPS" and ch not in _BLANKS for ch in value or "")


def most_stacked_marks(value: str | None) -> int:
    """The longest run of combining marks on one character (invisible characters between them do
    not end a run: they would not stop the marks piling up)."""
    longest = run = 0
    for ch in value or "":
        if unicodedata.category(ch)[0] == "M":
            run += 1
            longest = max(longest, run)
        elif not is_default_ignorable(ch):
            run = 0
    return longest


def check_stacked_marks(value: str | None, *, field: str, noun: str) -> None:
    """Raises Invalid ("<noun> has a letter with ...") when more than MAX_STACKED_MARKS combining
    marks sit on one character."""
    from core.errors import Invalid

    if most_stacked_marks(value) > MAX_STACKED_MARKS:
        raise Invalid(f"{noun} has a letter with more than {MAX_STACKED_MARKS} accents or marks "
                      "stacked on it; remove the extra ones.", field=field)


def required_text(value: str | None, *, limit: int, field: str, empty: str, noun: str,
                  one_line: bool = False) -> str:
    """`value` cleaned (clean_line when `one_line`, else clean_text). Raises Invalid with `empty`
    when nothing visible is left, the check_stacked_marks message, or "<noun> has at most <limit>
    characters" when it is longer."""
    from core.errors import Invalid

    value = clean_line(value) if one_line else clean_text(value)
    if not has_visible(value):
        raise Invalid(empty, field=field)
    check_stacked_marks(value, field=field, noun=noun)  # first: the marks may be what makes it long
    if len(value) > limit:
        raise Invalid(f"{noun} has at most {limit:,} characters (this one has {len(value):,}).", field=field)
    return value


def visible_length(value: str | None) -> int:
    """How long `value` reads, for minimum lengths: the characters that show (not combining marks,
    invisible format characters or white space runs beyond one), East Asian wide and full-width ones
    counting two, as one such character says about as much as two Latin letters."""
    length, spaced = 0, True
    for ch in value or "":
        if ch.isspace():
            length += 0 if spaced else 1
            spaced = True
            continue
        spaced = False
        if unicodedata.category(ch)[0] == "M" or is_default_ignorable(ch) or ch in _BLANKS:
            continue
        length += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return length - 1 if length and spaced else length

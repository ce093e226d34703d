"""Look-alike text: the Unicode confusables skeleton (UTS #39), so that `admin` and `аdmin` compare equal.

Two strings look alike when their skeletons are equal. The skeleton of a string is its NFD form
without default-ignorable characters, each character replaced by the prototype of its look-alike
set, in NFD again. The sets are Unicode's confusables.txt, read from the data that the
`confusable_homoglyphs` package ships and regenerates from each Unicode release.

That data lists each look-alike pair in both directions, and wraps right-to-left characters in
LEFT-TO-RIGHT MARKs, as the comments of confusables.txt show them. The prototypes come back
because confusables.txt maps every character to one prototype that is never mapped itself: a
character with several look-alikes is the prototype of each of them; a sequence of several
characters is always the prototype; of two single characters that only look like each other,
either can stand for both (the skeletons compare the same either way), and the ASCII one, else
the one NFD leaves alone, else the lower code point is taken.
"""

import unicodedata
from functools import cache

from core.text import is_default_ignorable

_DISPLAY_MARKS = str.maketrans("", "", "\u200e\u200f")


@cache
def prototypes() -> dict[str, str]:
    """Each character that has a look-alike prototype, mapped to it (read once, on first use)."""
    from confusable_homoglyphs.confusables import confusables_data

    pairs: dict[str, set[str]] = {}
    for text, alikes in confusables_data.items():
        text = text.translate(_DISPLAY_MARKS)
        pairs.setdefault(text, set()).update(alike["c"].translate(_DISPLAY_MARKS) for alike in alikes)
    mapping = {}
    for char, alikes in pairs.items():
        if len(char) != 1 or len(alikes) != 1:
            continue  # a sequence, or a prototype with several look-alikes
        (prototype,) = alikes
        is_prototype = len(prototype) > 1 or len(pairs.get(prototype, ())) > 1
        if is_prototype or min(char, prototype, key=_rank) == prototype:
            mapping[char] = prototype
    return mapping


def _rank(char: str) -> tuple:
    return not char.isascii(), unicodedata.normalize("NFD", char) != char, char


def skeleton(text: str) -> str:
    """The UTS #39 skeleton of `text`: equal for strings that look alike ("paypal", "рауpаl")."""
    mapping = prototypes()
    decomposed = unicodedata.normalize("NFD", text)
    mapped = "".join(mapping.get(ch, ch) for ch in decomposed if not is_default_ignorable(ch))
    return unicodedata.normalize("NFD", mapped)


def name_skeleton(name: str) -> str:
    """The skeleton of a name compared without regard to case or width (as usernames are): NFKC
    and case folding first (so Greek `Ι` becomes `ι`, which looks like `i`), and folded again
    after the mapping, whose prototypes may be capitals (Cherokee `Ꭺ` is `A`)."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    return skeleton(skeleton(folded).casefold())

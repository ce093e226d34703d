"""Turning what someone typed into a Whoosh query, or into a clear message when it cannot be one.

Words and "quoted phrases" search titles and bodies; `title:`, `tag:` and
`category:` restrict a word or phrase to one field; AND, OR, NOT and parentheses
work as in Whoosh. Anything else is neutralised rather than refused: the text is
cut to a sensible length, unknown `field:` names become plain words, unbalanced
quotes and parentheses are dropped, a question's closing `?` is punctuation, and
wildcards need a few letters before the `*`.

`plan()` turns the parsed query into the one that runs: every word must be in the
`body` field (which holds the title too), the same words in the title only add to
the score, a long question requires only its rarest words, and when nothing has all
the words a looser query asks for any of the rarest few.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import islice

from whoosh import query as wq
from whoosh.qparser import AndGroup, QueryParser, plugins

from core.text import clean_line
from search.schema import SCHEMA

MAX_QUERY_CHARS = 500
MAX_WORDS = 32
MIN_WILDCARD_PREFIX = 2
MAX_WILDCARD_TERMS = 200
MAX_REQUIRED_WORDS = 5  # a longer query requires its rarest words; the others only rank
FALLBACK_WORDS = 4  # when nothing has all the words: any of the rarest few
# What people may type before a colon, and the field it means.
FIELD_ALIASES = {"title": "title", "tag": "tags", "tags": "tags", "category": "category"}

EMPTY_MESSAGE = "Type a word or a phrase to search for."
COMMON_WORDS_MESSAGE = "Those words are too common to search for; add a more specific word."
EVERYTHING_MESSAGE = "A * on its own would match everything; type a word or the start of one (instal*)."
SHORT_WILDCARD_MESSAGE = (f"Put at least {MIN_WILDCARD_PREFIX} letters before a * or ? "
                          "(for example instal*).")
ONLY_NOT_MESSAGE = "Add a word to search for, not only words to leave out."
UNREADABLE_MESSAGE = "We could not read that search; try plain words."
BROAD_WILDCARD_MESSAGE = "That wildcard matches too many words; add a few more letters before the *."

_FIELD_RE = re.compile(r"(\w+):")
_WORD = re.compile(r"\w")
_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"'})
_LEADING_WILDCARDS = re.compile(r"(?<![\w*?])[*?]+(?=\w)")
_QUESTION_MARKS = re.compile(r"\?+(?=[\s)\"]|$)")  # "what is sso?" is a question, not a wildcard
_NOT_SYNTAX = str.maketrans({"[": " ", "]": " ", "{": " ", "}": " "})  # no range queries


@dataclass(frozen=True)
class ParsedQuery:
    """A cleaned query: `query` is None when `message` explains why there is nothing to run."""

    text: str
    query: wq.Query | None
    message: str | None = None
    error: bool = False


def _make_parser() -> QueryParser:
    # One default field: `body` holds the title too, so every word is one posting list.
    parser = QueryParser("body", SCHEMA, group=AndGroup)
    for plugin in (plugins.SingleQuotePlugin, plugins.RangePlugin, plugins.BoostPlugin,
                   plugins.EveryPlugin):
        parser.remove_plugin_class(plugin)
    return parser


_PARSER = _make_parser()


def _fields(match: re.Match) -> str:
    field = FIELD_ALIASES.get(match.group(1).lower())
    return f"{field}:" if field else f"{match.group(1)} "


def _balance_quotes(text: str) -> str:
    if text.count('"') % 2:
        cut = text.rfind('"')
        text = text[:cut] + " " + text[cut + 1:]
    return text


def _balance_parentheses(text: str) -> str:
    out, depth, in_phrase = [], 0, False
    for char in text:
        if char == '"':
            in_phrase = not in_phrase
        elif char == "(" and not in_phrase:
            depth += 1
        elif char == ")" and not in_phrase:
            if depth == 0:
                char = " "
            else:
                depth -= 1
        out.append(char)
    text = "".join(out)
    while depth:  # drop the unmatched openings, last first
        cut = text.rfind("(")
        text = text[:cut] + " " + text[cut + 1:]
        depth -= 1
    return text


def clean(text: str | None) -> str:
    """The query text made safe to parse: short, one line, balanced, only known field names. Never raises."""
    text = "" if text is None else str(text)
    text = clean_line(text[: MAX_QUERY_CHARS * 4]).translate(_QUOTES)
    if len(text) > MAX_QUERY_CHARS:
        cut = text.rfind(" ", 0, MAX_QUERY_CHARS)
        text = text[: cut if cut > 0 else MAX_QUERY_CHARS]
    text = " ".join(text.split()[:MAX_WORDS])
    text = _FIELD_RE.sub(_fields, text.translate(_NOT_SYNTAX))
    text = _LEADING_WILDCARDS.sub("", _QUESTION_MARKS.sub(" ", text))
    text = _balance_parentheses(_balance_quotes(text))
    return " ".join(text.split())


def _positive_leaves(node: wq.Query) -> list[wq.Query]:
    """The leaf queries a document must (or may) match, leaving out the NOT parts."""
    if node is wq.NullQuery or isinstance(node, wq.Not):
        return []
    if isinstance(node, wq.AndNot):
        return _positive_leaves(node.a)
    if node.is_leaf():
        return [node]
    return [leaf for child in node.children() for leaf in _positive_leaves(child)]


def parse(text: str | None) -> ParsedQuery:
    """Clean and parse a query; never raises: bad input comes back as a message."""
    cleaned = clean(text)
    if not _WORD.search(cleaned):
        if "*" in cleaned or "?" in cleaned:
            return ParsedQuery(cleaned, None, EVERYTHING_MESSAGE, error=True)
        return ParsedQuery(cleaned, None, EMPTY_MESSAGE)
    try:
        parsed = _PARSER.parse(cleaned)
    except Exception:  # Whoosh's parser is forgiving; this is a last line of defence.
        return ParsedQuery(cleaned, None, UNREADABLE_MESSAGE, error=True)
    leaves = [leaf for leaf in parsed.leaves() if leaf is not wq.NullQuery]
    for leaf in leaves:
        if isinstance(leaf, wq.Every):
            return ParsedQuery(cleaned, None, EVERYTHING_MESSAGE, error=True)
        if isinstance(leaf, wq.Wildcard | wq.Prefix):
            literal = re.split(r"[*?]", leaf.text, maxsplit=1)[0]
            if len(literal) < MIN_WILDCARD_PREFIX:
                return ParsedQuery(cleaned, None, SHORT_WILDCARD_MESSAGE, error=True)
    if not leaves:
        return ParsedQuery(cleaned, None, COMMON_WORDS_MESSAGE)
    if not _positive_leaves(parsed):
        return ParsedQuery(cleaned, None, ONLY_NOT_MESSAGE, error=True)
    return ParsedQuery(cleaned, parsed)


def too_broad(parsed: wq.Query, reader) -> bool:
    """True when a wildcard in the query expands to more index words than we search at once.

    Raises what the reader raises (a damaged index), like any other read.
    """
    for leaf in parsed.leaves():
        if isinstance(leaf, wq.Wildcard | wq.Prefix):
            words = islice(leaf.expanded_terms(reader), MAX_WILDCARD_TERMS + 1)
            if sum(1 for _ in words) > MAX_WILDCARD_TERMS:
                return True
    return False


def _is_word(leaf: wq.Query) -> bool:
    return type(leaf) is wq.Term and leaf.fieldname == "body"


def _words(parsed: wq.Query) -> list[str]:
    return list(dict.fromkeys(leaf.text for leaf in _positive_leaves(parsed) if _is_word(leaf)))


def _only_words(parsed: wq.Query) -> bool:
    """A plain list of words (no phrases, fields, wildcards or operators): the usual query."""
    if _is_word(parsed):
        return True
    return type(parsed) is wq.And and all(_is_word(child) for child in parsed.children())


def _title_boost(parsed: wq.Query) -> wq.Query | None:
    """The optional part of a query: its words and phrases again, in the title (where they count
    TITLE_BOOST times: see PreferenceWeighting)."""
    boosts = []
    for leaf in _positive_leaves(parsed):
        if _is_word(leaf):
            boosts.append(wq.Term("title", leaf.text))
        elif type(leaf) is wq.Phrase and leaf.fieldname == "body":
            boosts.append(wq.Phrase("title", leaf.words))
    return wq.Or(boosts) if boosts else None


def plan(parsed: wq.Query, reader) -> tuple[wq.Query, wq.Query | None]:
    """The query to run and the looser one to run if it finds nothing (or None).

    Every word must be in the body (which holds the title too); title matches only add to
    the score. Of a long list of words only the MAX_REQUIRED_WORDS rarest are required (a
    question typed in full still finds the threads that answer it).
    The fallback asks for any of the FALLBACK_WORDS rarest words the index knows.
    Raises what the reader raises (a damaged index), like any other read.
    """
    required = parsed
    words = _words(parsed)
    by_rarity = sorted(words, key=lambda text: reader.doc_frequency("body", text))
    if _only_words(parsed) and len(words) > MAX_REQUIRED_WORDS:
        # The other words still count when they are in the title; scoring them in the body
        # as well would cost a third more time for little difference in order.
        required = wq.And([wq.Term("body", text) for text in by_rarity[:MAX_REQUIRED_WORDS]])
    boost = _title_boost(parsed)
    main = wq.AndMaybe(required, boost) if boost is not None else required
    known = [text for text in by_rarity if reader.doc_frequency("body", text)][:FALLBACK_WORDS]
    if len(words) < 2 or not known:
        return main, None
    loose = wq.Or([wq.Term("body", text) for text in known])
    return main, wq.AndMaybe(loose, wq.Or([wq.Term("title", text) for text in known]))


def word_spans(parsed: wq.Query) -> list[tuple[int, int, str, str]]:
    """(start, end, field, term) for each plain word of the query (in the body or the title), in order.

    The spans index the cleaned text. Phrases and wildcards are left out: spelling
    correction only looks at single words. Never raises.
    """
    spans = {}
    for leaf in _positive_leaves(parsed):
        start, end = getattr(leaf, "startchar", None), getattr(leaf, "endchar", None)
        if type(leaf) is wq.Term and leaf.fieldname in ("body", "title") and start is not None \
                and end is not None:
            spans.setdefault((start, end), (leaf.fieldname, leaf.text))
    return [(start, end, fieldname, text) for (start, end), (fieldname, text) in sorted(spans.items())]

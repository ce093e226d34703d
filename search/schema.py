"""The Whoosh schema, its analyzers and the ranking model: what a `Document` becomes in the index.

Small stored fields keep hits cheap to load: the title, tags, category, url and a
short plain-text excerpt for snippets; the full body is indexed but not stored.
The `body` field holds the title as well, so a query intersects one posting list per
word; the `title` field only adds to the score (and answers `title:`). Titles are
indexed a third time as word prefixes (edge n-grams) so suggestions are plain term
look-ups. Spelling suggestions come from the unstemmed words of `body`.
"""

from __future__ import annotations

import re

from whoosh import columns, scoring
from whoosh.analysis import (
    CharsetFilter,
    LowercaseFilter,
    NgramFilter,
    RegexTokenizer,
    StemFilter,
    StopFilter,
)
from whoosh.analysis.analyzers import STOP_WORDS as WHOOSH_STOP_WORDS
from whoosh.fields import BOOLEAN, COLUMN, ID, KEYWORD, STORED, TEXT, Schema
from whoosh.support.charset import accent_map

from search.documents import ARTICLE, Document, stamp

# Whoosh's list plus the filler of questions ("how do I ..."), which says nothing about the topic.
STOP_WORDS = frozenset(WHOOSH_STOP_WORDS) | frozenset(
    "how do does did i i'm im my me what why where which who there our was has had been so but "
    "about into than then them they its would should could any".split()
)
EXCERPT_CHARS = 1500  # the stored text snippets are cut from
PREFIX_MIN, PREFIX_MAX = 2, 15  # title word prefixes indexed for suggestions

# Ranking: BM25F, with a title match adding TITLE_BOOST times its score, then multiplied by a
# preference for the kind of document: KB articles, then solved threads, then the rest.
TITLE_BOOST = 3.0
RANK_OTHER, RANK_SOLVED, RANK_ARTICLE = 0, 1, 2
RANK_FACTORS = {RANK_OTHER: 1.0, RANK_SOLVED: 1.3, RANK_ARTICLE: 1.6}

_WHITESPACE = re.compile(r"\s+")


def text_analyzer():
    """Words, lower-cased, accents folded, common words dropped, stemmed (title and body)."""
    return (RegexTokenizer() | LowercaseFilter() | CharsetFilter(accent_map)
            | StopFilter(stoplist=STOP_WORDS, minsize=2) | StemFilter(cachesize=50000))


def prefix_analyzer():
    """The start of every title word, 2 to 15 letters long, for suggestions as you type."""
    return (RegexTokenizer() | LowercaseFilter() | CharsetFilter(accent_map)
            | StopFilter(stoplist=STOP_WORDS, minsize=PREFIX_MIN)
            | NgramFilter(minsize=PREFIX_MIN, maxsize=PREFIX_MAX, at="start"))


def word_analyzer():
    """Query words for suggestions, treated the same way as indexed titles (without n-grams)."""
    return (RegexTokenizer() | LowercaseFilter() | CharsetFilter(accent_map)
            | StopFilter(stoplist=STOP_WORDS, minsize=PREFIX_MIN))


def build_schema() -> Schema:
    """The index schema. Changing field names makes existing indexes count as needing a rebuild."""
    text = text_analyzer()
    return Schema(
        doc_id=ID(unique=True, stored=True, sortable=True),
        kind=ID(stored=True),
        title=TEXT(analyzer=text, stored=True),
        title_prefix=TEXT(analyzer=prefix_analyzer(), phrase=False),
        body=TEXT(analyzer=text, spelling=True),
        excerpt=STORED(),
        tags=KEYWORD(commas=True, lowercase=True, stored=True),
        category=KEYWORD(lowercase=True, stored=True),
        solved=BOOLEAN(stored=True),
        url=STORED(),
        rank=COLUMN(columns.NumericColumn("B", default=RANK_OTHER)),
        updated=COLUMN(columns.VarBytesColumn()),
    )


SCHEMA = build_schema()
FIELD_NAMES = frozenset(SCHEMA.names())


def rank_of(doc: Document) -> int:
    if doc.kind == ARTICLE:
        return RANK_ARTICLE
    return RANK_SOLVED if doc.solved else RANK_OTHER


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """The start of a body, white space folded, cut at a word boundary near `limit` characters."""
    folded = _WHITESPACE.sub(" ", text or "").strip()
    if len(folded) <= limit:
        return folded
    cut = folded.rfind(" ", 0, limit)
    return folded[: cut if cut > limit // 2 else limit]


def to_fields(doc: Document) -> dict:
    """The keyword arguments for `writer.update_document` for one document."""
    fields = {
        "doc_id": doc.doc_id,
        "kind": doc.kind,
        "title": doc.title,
        "title_prefix": doc.title,
        "body": f"{doc.title}\n\n{doc.body}",  # the title too: one posting list per word to intersect
        "excerpt": excerpt(doc.body),
        "solved": bool(doc.solved),
        "url": doc.url,
        "rank": rank_of(doc),
        "updated": stamp(doc.updated_at).encode(),
    }
    tags = ",".join(tag.replace(",", " ").strip() for tag in doc.tags if tag.strip())
    if tags:
        fields["tags"] = tags
    if doc.category:
        fields["category"] = doc.category
    return fields


class _PreferenceScorer(scoring.BaseScorer):
    """A term's BM25F score times its field's boost and the document's rank factor.

    The score bounds Whoosh uses to skip documents are multiplied by the boost and the
    largest factor, so they stay bounds.
    """

    def __init__(self, inner, boost: float, ranks):
        self.inner, self.boost, self.ranks = inner, boost, ranks
        self.bound = boost * (_MAX_FACTOR if ranks is not None else 1.0)

    def supports_block_quality(self):
        return self.inner.supports_block_quality()

    def score(self, matcher):
        factor = RANK_FACTORS.get(self.ranks[matcher.id()], 1.0) if self.ranks is not None else 1.0
        return self.inner.score(matcher) * self.boost * factor

    def max_quality(self):
        return self.inner.max_quality() * self.bound

    def block_quality(self, matcher):
        return self.inner.block_quality(matcher) * self.bound


_MAX_FACTOR = max(RANK_FACTORS.values())
FIELD_BOOSTS = {"title": TITLE_BOOST}


class PreferenceWeighting(scoring.BM25F):
    """BM25F, a title match counting TITLE_BOOST times, and each document's score multiplied by its
    rank factor (articles, then solved threads).

    Both are applied inside the term scorer, not as query boosts or in `final()`: Whoosh
    skips documents by comparing score bounds with the scores collected so far, and its
    boost wrapper and `final()` leave those bounds out of step with the scores (whoosh-
    reloaded 2.7.5). One instance per searcher: it caches each segment's rank column.
    """

    def __init__(self):
        super().__init__(B=0.75, K1=1.2)
        self._ranks: dict[int, tuple[object, object]] = {}

    def scorer(self, searcher, fieldname, text, qf=1):
        inner = super().scorer(searcher, fieldname, text, qf=qf)
        reader = searcher.reader()
        cached = self._ranks.get(id(reader))
        if cached is None or cached[0] is not reader:
            cached = (reader, reader.column_reader("rank") if reader.has_column("rank") else None)
            self._ranks[id(reader)] = cached
        return _PreferenceScorer(inner, FIELD_BOOSTS.get(fieldname, 1.0), cached[1])

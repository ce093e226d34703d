"""The Whoosh schema, its analyzers and the ranking model: what a `Document` becomes in the index.

Small stored fields keep hits cheap to load: the title, tags, category, url and a
short excerpt of the text a reader sees (`snippet_text`, cut from `Document.body`, which the
loaders make from rendered HTML, so no Markdown marks) for snippets; the full body is indexed
but not stored. The field was named `excerpt` while loaders passed Markdown source: the new
name makes those indexes count as another schema, so reconcile rebuilds them.
The `body` field holds the title as well, so a query intersects one posting list per
word; the `title` field only adds to the score (and answers `title:`). Titles are
indexed a third time as word prefixes (edge n-grams) so suggestions are plain term
look-ups. Spelling suggestions come from the unstemmed words of `body`.
"""

from __future__ import annotations

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

# Words and dotted versions ("4.11.2"); not Whoosh's default, which keeps "*" in a word, so that
# Markdown's **bold** indexed "**sett" for "**Settings**" and the plain word never matched.
WORD_PATTERN = r"\w+(?:\.?\w+)*"


def text_analyzer():
    """Words, lower-cased, accents folded, common words dropped, stemmed (title and body)."""
    return (RegexTokenizer(WORD_PATTERN) | LowercaseFilter() | CharsetFilter(accent_map)
            | StopFilter(stoplist=STOP_WORDS, minsize=2) | StemFilter(cachesize=50000))


def prefix_analyzer():
    """The start of every title word, 2 to 15 letters long, for suggestions as you type."""
    return (RegexTokenizer(WORD_PATTERN) | LowercaseFilter() | CharsetFilter(accent_map)
            | StopFilter(stoplist=STOP_WORDS, minsize=PREFIX_MIN)
            | NgramFilter(minsize=PREFIX_MIN, maxsize=PREFIX_MAX, at="start"))


def word_analyzer():
    """Query words for suggestions, treated the same way as indexed titles (without n-grams)."""
    return (RegexTokenizer(WORD_PATTERN) | LowercaseFilter() | CharsetFilter(accent_map)
            | StopFilter(stoplist=STOP_WORDS, minsize=PREFIX_MIN))


def build_schema() -> Schema:
    """The index schema. Changing field names or analyzers makes existing indexes count as needing a
    rebuild (see `same_schema`)."""
    text = text_analyzer()
    return Schema(
        doc_id=ID(unique=True, stored=True, sortable=True),
        kind=ID(stored=True),
        title=TEXT(analyzer=text, stored=True),
        title_prefix=TEXT(analyzer=prefix_analyzer(), phrase=False),
        body=TEXT(analyzer=text, spelling=True),
        snippet_text=STORED(),
        tags=KEYWORD(commas=True, lowercase=True, stored=True),
        category=KEYWORD(lowercase=True, stored=True),
        solved=BOOLEAN(stored=True),
        url=STORED(),
        rank=COLUMN(columns.NumericColumn("B", default=RANK_OTHER)),
        updated=COLUMN(columns.VarBytesColumn()),
    )


SCHEMA = build_schema()
FIELD_NAMES = frozenset(SCHEMA.names())


def _analysis(schema: Schema) -> dict:
    """Per field, the analyzer's steps and any tokenizer pattern: what an index was written with."""
    found = {}
    for name in schema.names():
        analyzer = getattr(schema[name], "analyzer", None)
        steps = getattr(analyzer, "items", [analyzer] if analyzer is not None else [])
        found[name] = tuple((type(step).__name__, getattr(getattr(step, "expression", None), "pattern", None))
                            for step in steps)
    return found


def same_schema(stored: Schema) -> bool:
    """Whether an index's stored schema is this one: the same fields, analysed the same way."""
    return frozenset(stored.names()) == FIELD_NAMES and _analysis(stored) == _analysis(SCHEMA)


def rank_of(doc: Document) -> int:
    if doc.kind == ARTICLE:
        return RANK_ARTICLE
    return RANK_SOLVED if doc.solved else RANK_OTHER


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """The start of a body, white space folded, cut at a word boundary near `limit` characters."""
    text = text or ""
    # str.split() and the regex's \s know the same white space. Only the start is folded: once it
    # folds to more than limit + 1 characters, those are the start of the whole text folded.
    size = limit + limit // 4 + 16
    while size < len(text):
        folded = " ".join(text[:size].split())
        if len(folded) > limit + 1:
            return _cut(folded, limit)
        size *= 2
    folded = " ".join(text.split())
    return folded if len(folded) <= limit else _cut(folded, limit)


def _cut(folded: str, limit: int) -> str:
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
        "snippet_text": excerpt(doc.body),
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
    """A term's BM25F score times its field's boost and the document's rank factor."""

    def __init__(self, inner, boost: float, factors: list[float] | None):
        self.inner, self.boost, self.factors = inner, boost, factors
        self.bound = boost * (_MAX_FACTOR if factors is not None else 1.0)

    def supports_block_quality(self):
        return self.inner.supports_block_quality()

    def score(self, matcher):
        if self.factors is None:
            return self.inner.score(matcher) * self.boost
        return self.inner.score(matcher) * self.boost * self.factors[matcher.id()]

    def max_quality(self):
        return self.inner.max_quality() * self.bound

    def block_quality(self, matcher):
        return self.inner.block_quality(matcher) * self.bound


_MAX_FACTOR = max(RANK_FACTORS.values())
FIELD_BOOSTS = {"title": TITLE_BOOST}


class PreferenceWeighting(scoring.BM25F):
    """BM25F, a title match counting TITLE_BOOST times, and each document's score multiplied by its
    rank factor (articles, then solved threads).

    Both are applied inside the term scorer rather than as query boosts or in `final()`:
    whoosh-reloaded 2.7.5 lets the score bounds it prunes with drift from the scores in
    both of those. One instance per searcher: it keeps each segment's factors in a list.
    """

    def __init__(self):
        super().__init__(B=0.75, K1=1.2)
        self._factors: dict[int, tuple[object, list[float] | None]] = {}

    def _segment_factors(self, reader) -> list[float] | None:
        cached = self._factors.get(id(reader))
        if cached is None or cached[0] is not reader:
            factors = None
            if reader.has_column("rank"):
                factors = [RANK_FACTORS.get(rank, 1.0) for rank in reader.column_reader("rank")]
            cached = self._factors[id(reader)] = (reader, factors)
        return cached[1]

    def scorer(self, searcher, fieldname, text, qf=1):
        inner = super().scorer(searcher, fieldname, text, qf=qf)
        factors = self._segment_factors(searcher.reader())
        return _PreferenceScorer(inner, FIELD_BOOSTS.get(fieldname, 1.0), factors)

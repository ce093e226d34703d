"""A segment's matches and their scores all at once: the very numbers Whoosh's matchers give one by one.

Whoosh scores a query by stepping a tree of matchers through the postings one document at
a time, with several method calls per node for every document; on a forum's common words
that was nine tenths of a search's time. `scored_matches()` takes the same tree (built by
Whoosh from the query, so its shape and its order of additions are Whoosh's) and reads each
term's postings once, a block at a time; it finds the matching documents with set
operations and then scores only those, node by node: a term with its scorer's own formula,
an AND or OR adding its parts in the order the matcher adds them, a wrapper multiplying by
its boost. Every score is therefore the float Whoosh computes, to the last bit, and the
documents are the ones Whoosh finds (tests/search/test_bulk.py compares them).

Only the matchers and scorers this engine's queries use are known here; a tree with anything
else gives None, and the caller lets Whoosh step through it.
"""

from __future__ import annotations

import pickle
from itertools import accumulate

from whoosh import formats, scoring
from whoosh.codec.whoosh3 import W3LeafMatcher
from whoosh.matching import (
    AndMaybeMatcher,
    FilterMatcher,
    IntersectionMatcher,
    InverseMatcher,
    ListMatcher,
    NullMatcherClass,
    UnionMatcher,
    WrappingMatcher,
)
from whoosh.query.spans import Span, SpanNear2
from whoosh.system import _INT_SIZE

from search.schema import _PreferenceScorer


class Unknown(Exception):
    """The matcher tree holds a matcher or scorer these nodes do not reproduce exactly."""


# --- Whoosh's phrase matcher, with sets of positions -------------------------------------------------


class PhraseMatcher(SpanNear2.SpanNear2Matcher):
    """Whoosh's matcher for words in a row, deciding whether they are in a row with sets of positions.

    Whoosh makes a Span object for every position of every word in every candidate document
    and compares them pairwise; on common words that was half of a phrase query's time. A
    document matches when some position p of the first word has the second at p + 1, the
    third at p + 2 and so on: the same test as SpanNear2 with slop 1, ordered, mindist 1.
    """

    def __init__(self, matchers):
        super().__init__(matchers, slop=1, ordered=True, mindist=1)

    def copy(self):
        return self.__class__([m.copy() for m in self.ms])

    def _get_spans(self):
        starts = _in_a_row([_positions(matcher) for matcher in self.ms])
        last = len(self.ms) - 1
        return [Span(start, start + last) for start in starts]


def _in_a_row(positions: list[list[int]]) -> list[int]:
    """The positions of the first word at which the next words follow one after another."""
    starts = positions[0]
    for offset, later in enumerate(positions[1:], 1):
        if not starts:
            break
        present = set(later)
        starts = [start for start in starts if start + offset in present]
    return starts


def _positions(matcher) -> list[int]:
    """`matcher.value_as("positions")`, decoded as Whoosh decodes them for its Positions format."""
    if type(getattr(matcher, "format", None)) is not formats.Positions:
        return matcher.value_as("positions")
    return _decode_positions(matcher.value())


def _decode_positions(value: bytes) -> list[int]:
    """Positions as Whoosh's Positions format decodes them (the gaps unpickled, then added up),
    with the adding done in C."""
    if not value.endswith(b"."):
        value += b"."
    return list(accumulate(pickle.loads(value[_INT_SIZE:])))  # noqa: S301 (the index's own postings)


# --- the nodes ---------------------------------------------------------------------------------------
# Each node has `ids`, the set of documents its matcher would stop at, and `scores(docs)`, the
# scores its matcher's score() would give at each of `docs` (ascending, all in `ids`).


class _Term:
    """A term's postings: each document's weight, scored by PreferenceWeighting's scorer (BM25F or the
    weight, times the field's boost and the document's rank factor), or without a scorer the weight
    itself; and, for a phrase, each document's value."""

    def __init__(self, matcher, scorer, ids: list[int], weights, values=None, format_=None):
        self.matcher, self.format = matcher, format_
        self.scorer = None if scorer is None else (scorer.inner, scorer.boost, scorer.factors)
        self.ids = set(ids)
        self.weights = dict(zip(ids, weights, strict=True))
        self.values = None if values is None else dict(zip(ids, values, strict=True))

    @classmethod
    def read(cls, matcher: W3LeafMatcher, values: bool = False) -> _Term:
        """A W3LeafMatcher's postings, read as it reads them (with delta_decode's adding done in C)."""
        ids, weights, encoded = [], [], []
        matcher.reset()  # from the first block, wherever the tree's set-up moved it
        while matcher.is_active():
            matcher._read_data()
            block_ids = matcher._data[0]
            ids.extend(block_ids if matcher._byteids else accumulate(block_ids))
            matcher._read_weights()
            weights.extend(matcher._weights)
            if values:
                matcher._read_values()
                encoded.extend(matcher._values)
            matcher._next_block()
        return cls(matcher, matcher.scorer, ids, weights, encoded if values else None, matcher.format)

    @classmethod
    def listed(cls, matcher: ListMatcher, values: bool = False) -> _Term:
        """A ListMatcher's postings (a term with one posting, or a ConstantScoreQuery's documents), its
        weights as ListMatcher.weight() gives them: all_weights if true, else the weights, else 1.0."""
        ids = list(matcher._ids)
        weights = [matcher._all_weights] * len(ids) if matcher._all_weights \
            else matcher._weights if matcher._weights else [1.0] * len(ids)
        return cls(matcher, matcher._scorer, ids, weights, matcher._values if values else None,
                   matcher._format)

    def scores(self, docs):
        weights = self.weights
        if self.scorer is None:  # ListMatcher.score() without a scorer: the weight
            return [weights[d] for d in docs]
        inner, boost, factors = self.scorer
        # _PreferenceScorer.score: the inner score * boost * factors[document], in that order.
        if type(inner) is scoring.WeightScorer:  # the weight
            if factors is None:
                return [weights[d] * boost for d in docs]
            return [weights[d] * boost * factors[d] for d in docs]
        idf, avgfl, B, K1 = inner.idf, inner.avgfl, inner.B, inner.K1  # noqa: N806 (bm25's names)
        k1_plus_1, one_less_b = K1 + 1, 1 - B  # the floats bm25 works out every time
        tfs, fls = map(weights.__getitem__, docs), map(inner.dfl, docs)
        # scoring.bm25(idf, tf, fl, avgfl, B, K1), written out: the same operations in the same order.
        if factors is None:
            return [idf * ((tf * k1_plus_1) / (tf + K1 * (one_less_b + B * fl / avgfl))) * boost
                    for tf, fl in zip(tfs, fls, strict=True)]
        return [idf * ((tf * k1_plus_1) / (tf + K1 * (one_less_b + B * fl / avgfl))) * boost * factor
                for tf, fl, factor in zip(tfs, fls, map(factors.__getitem__, docs), strict=True)]


class _Both:
    """IntersectionMatcher: documents in both, a's score + b's."""

    def __init__(self, a, b):
        self.a, self.b = a, b
        self.ids = a.ids & b.ids

    def scores(self, docs):
        return [x + y for x, y in zip(self.a.scores(docs), self.b.scores(docs), strict=True)]


class _Either:
    """UnionMatcher: documents in either, a's score + b's where in both."""

    def __init__(self, a, b):
        self.a, self.b = a, b
        self.ids = a.ids | b.ids

    def scores(self, docs):
        a_ids, b_ids = self.a.ids, self.b.ids
        in_a = [d for d in docs if d in a_ids]
        in_b = [d for d in docs if d in b_ids]
        if len(in_a) == len(docs) and not in_b:
            return self.a.scores(docs)
        if len(in_b) == len(docs) and not in_a:
            return self.b.scores(docs)
        a_scores = dict(zip(in_a, self.a.scores(in_a), strict=True))
        b_scores = dict(zip(in_b, self.b.scores(in_b), strict=True))
        out = []
        for d in docs:
            x, y = a_scores.get(d), b_scores.get(d)
            out.append(y if x is None else x if y is None else x + y)
        return out


class _Maybe:
    """AndMaybeMatcher: a's documents, a's score + b's where b has the document too."""

    def __init__(self, a, b):
        self.a, self.b = a, b
        self.ids = a.ids

    def scores(self, docs):
        b_ids = self.b.ids
        in_b = [d for d in docs if d in b_ids]
        a_scores = self.a.scores(docs)
        if not in_b:
            return a_scores
        b_scores = dict(zip(in_b, self.b.scores(in_b), strict=True))
        return [x + b_scores[d] if d in b_scores else x for d, x in zip(docs, a_scores, strict=True)]


class _Boosted:
    """WrappingMatcher (and FilterMatcher): the child's score times the boost."""

    def __init__(self, child, boost: float, ids: set[int] | None = None):
        self.child, self.boost = child, boost
        self.ids = child.ids if ids is None else ids

    def scores(self, docs):
        boost = self.boost
        return [s * boost for s in self.child.scores(docs)]


class _Constant:
    """A matcher with one score for every document (InverseMatcher, NullMatcher)."""

    def __init__(self, ids: set[int], score: float):
        self.ids, self.score = ids, score

    def scores(self, docs):
        return [self.score] * len(docs)


_NOTHING = _Constant(frozenset(), 0.0)


class _Phrase:
    """PhraseMatcher: the documents of its intersection where the words stand in a row; the
    intersection's score (times the wrapper's boost, 1.0)."""

    def __init__(self, matcher: PhraseMatcher):
        self.boost = matcher.boost
        words = []
        for term in matcher.ms:
            while type(term) is FilterMatcher or type(term) is WrappingMatcher:
                term = term.child
            words.append(term)
        self.child = _node(matcher.child, values=True)
        if not self.child.ids:
            self.ids = frozenset()
            return
        leaves = {id(leaf.matcher): leaf for leaf in _leaves(self.child)}
        # The test of _in_a_row, a word at a time for every candidate still in: the first word's
        # positions are the starts; each later word keeps the starts it follows at its offset.
        docs, last = sorted(self.child.ids), len(words) - 1
        leaf = leaves[id(words[0])]
        found = [(d, starts) for d, starts in zip(docs, map(set, _positions_less(
            leaf.format, [leaf.values[d] for d in docs], 0)), strict=True) if starts]
        for offset in range(1, last + 1):
            leaf = leaves[id(words[offset])]
            later = _positions_less(leaf.format, [leaf.values[d] for d, _starts in found], offset)
            if offset == last:
                found = [(d, starts) for (d, starts), at in zip(found, later, strict=True)
                         if not starts.isdisjoint(at)]
            else:
                found = [(d, still) for (d, starts), at in zip(found, later, strict=True)
                         if (still := starts.intersection(at))]
        self.ids = {d for d, _starts in found}

    def scores(self, docs):
        boost = self.boost
        return [s * boost for s in self.child.scores(docs)]


_PICKLED_LIST = b"\x80\x02]"  # pickle protocol 2, then an empty list (whose items follow)


def _positions_less(format_, values: list[bytes], offset: int) -> list:
    """Each value's positions less `offset` (as iterables), as _decode_positions (for Positions) or the
    format's decoder reads them. For an offset above 0 only the values from 0 up count: an iterable may
    also hold -offset, which is no position.

    A Positions value is a count and a pickled list of gaps: the lists of all values are
    unpickled with one call, as the items of one outer list (a list of small numbers refers
    to nothing earlier in its pickle, so the pickles join); the gaps are added up from -offset.
    """
    if type(format_) is not formats.Positions:
        decoder = format_.decoder("positions")
        return [[position - offset for position in decoder(value)] for value in values]
    start, bodies = _INT_SIZE + len(_PICKLED_LIST) - 1, []
    for value in values:
        if not value.startswith(_PICKLED_LIST, _INT_SIZE):
            return [[position - offset for position in _decode_positions(value)] for value in values]
        bodies.append(value[start:-1] if value.endswith(b".") else value[start:])
    gaps = pickle.loads(b"\x80\x02(" + b"".join(bodies) + b"l.")  # noqa: S301 (the index's own postings)
    if len(gaps) != len(values):
        return [[position - offset for position in _decode_positions(value)] for value in values]
    if offset == 0:
        return [accumulate(found) for found in gaps]
    return [accumulate(found, initial=-offset) for found in gaps]


def _leaves(node):
    if isinstance(node, _Term):
        yield node
    for name in ("a", "b", "child"):
        part = getattr(node, name, None)
        if part is not None:
            yield from _leaves(part)


def _known(m, skipped: bool = False) -> None:
    """Raise Unknown unless every matcher and scorer in the tree is one the nodes reproduce; reads nothing.

    `skipped`: the matcher is under an IntersectionMatcher, which moves it with skip_to(). There
    an AndMaybeMatcher is refused: its skip_to() moves its optional part to the target rather
    than to where its required part lands, so Whoosh leaves out the optional score of some
    documents (the engine's filtered searches). AndNotMatcher is refused too (it lets through a
    first document that its excluded part holds, if that part starts earlier), and so is an
    InverseMatcher on a segment with deletions (it can stop at a deleted document).
    """
    kind = type(m)
    if kind is W3LeafMatcher:
        scorer = m.scorer
        if type(scorer) is not _PreferenceScorer or type(scorer.inner) not in _SCORERS:
            raise Unknown(type(scorer))
    elif kind is IntersectionMatcher:
        _known(m.a, skipped=True)
        _known(m.b, skipped=True)
    elif kind is UnionMatcher:
        _known(m.a, skipped)
        _known(m.b, skipped)
    elif kind is AndMaybeMatcher and not skipped:
        _known(m.a)
        _known(m.b)
    elif kind is WrappingMatcher or kind is FilterMatcher:
        _known(m.child, skipped)
    elif kind is InverseMatcher:
        reader = getattr(m.missing, "__self__", None)
        if getattr(reader, "is_deleted", None) != m.missing or reader.has_deletions():
            raise Unknown("an InverseMatcher with deletions")
        _known(m.child, skipped=True)
    elif kind is PhraseMatcher:
        _known(m.child, skipped=True)
        for term in m.ms:
            while type(term) is FilterMatcher or type(term) is WrappingMatcher:
                term = term.child
            if type(term) is not W3LeafMatcher and (type(term) is not ListMatcher or not term._values
                                                    or not all(type(v) is bytes for v in term._values)):
                raise Unknown(type(term))
    elif kind is ListMatcher:
        if m._scorer is not None and (type(m._scorer) is not _PreferenceScorer
                                      or type(m._scorer.inner) not in _SCORERS):
            raise Unknown("a ListMatcher with another scorer")
    elif not isinstance(m, NullMatcherClass):
        raise Unknown(kind)


_SCORERS = (scoring.BM25FScorer, scoring.WeightScorer)


def _node(m, values: bool = False):
    """The node for a matcher tree that passed _known(); `values`: its terms keep their values too
    (the positions a phrase needs)."""
    kind = type(m)
    if kind is W3LeafMatcher:
        return _Term.read(m, values)
    if kind is IntersectionMatcher:  # neither side is read when the other matches nothing
        if isinstance(m.a, NullMatcherClass) or isinstance(m.b, NullMatcherClass):
            return _NOTHING
        a = _node(m.a, values)
        return _Both(a, _node(m.b, values)) if a.ids else _NOTHING
    if kind is UnionMatcher:
        return _Either(_node(m.a), _node(m.b))
    if kind is AndMaybeMatcher:  # the optional side is not read when the required one matches nothing
        a = _node(m.a)
        return _Maybe(a, _node(m.b)) if a.ids else a
    if kind is WrappingMatcher:
        return _Boosted(_node(m.child, values), m.boost)
    if kind is FilterMatcher:
        child, listed = _node(m.child, values), m._ids
        if m._exclude:
            return _Boosted(child, m.boost, {d for d in child.ids if d not in listed})
        return _Boosted(child, m.boost, {d for d in child.ids if d in listed})
    if kind is PhraseMatcher:
        return _Phrase(m)
    if kind is InverseMatcher:  # from document 0, whatever it has moved past since
        excluded, missing = _node(m.child).ids, m.missing
        return _Constant({d for d in range(m.limit) if d not in excluded and not missing(d)}, m._weight)
    if kind is ListMatcher:
        return _Term.listed(m, values)
    return _NOTHING  # NullMatcher


def scored_matches(matcher) -> tuple[list[int], list[float]] | None:
    """Every document `matcher` matches, ascending, and the score matcher.score() gives each; or None
    when the tree holds a matcher or scorer not known here (the matcher is then untouched)."""
    try:
        _known(matcher)
    except Unknown:
        return None
    root = _node(matcher)
    docs = sorted(root.ids)
    return docs, root.scores(docs)

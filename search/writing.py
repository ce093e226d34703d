"""The index writer: Whoosh's segment writer made fast enough to rebuild a large forum in minutes.

It writes exactly the index Whoosh's own `SegmentWriter` writes (the same terms, postings, weights,
lengths and stored fields, so searches find and rank the same), with three costs taken out:

- Analysis. Whoosh runs every word through a chain of generators, one Python call per filter per
  word. `_Analysis` compiles an analyzer of the shape our schema uses (a regex tokenizer, lower
  case, a charset map, stop words, then a stemmer or start n-grams) into one loop with a cache from
  each word as typed to what the chain makes of it. An analyzer of any other shape keeps Whoosh's
  code, so a schema change can never make the two disagree.
- The posting pool. Whoosh keeps one tuple per posting in a list that it sorts whole, spilling
  runs to disk one `marshal` call per posting. `_TermPool` groups postings by term as documents
  come (they arrive in document order, so each list is sorted already) and spills whole terms.
- Writing postings. Whoosh's generic loop looks each posting's field length up through a file
  `stat()` and adds postings one call at a time; `_flush_segment` reads each field's lengths once
  and fills Whoosh's posting blocks a block at a time.

`tests/search/test_writing.py` builds the same documents with both writers and compares every
term, posting, length and stored field.
"""

from __future__ import annotations

import copy
import heapq
import marshal
import random
import struct
from array import array
from collections.abc import Iterator
from operator import itemgetter

from whoosh import formats
from whoosh.analysis import (
    CharsetFilter,
    CompositeAnalyzer,
    LowercaseFilter,
    NgramFilter,
    RegexTokenizer,
    StemFilter,
    StopFilter,
)
from whoosh.codec.whoosh3 import W3Codec, W3FieldWriter
from whoosh.fields import SpellField
from whoosh.system import pack_uint
from whoosh.writing import SegmentWriter

_MISSING = object()
_ONE = pack_uint(1)
_CACHED_WORDS = 200_000  # distinct words remembered per analyzer (a word costs ~200 bytes)
_POSTING_BYTES = 200  # what one posting held in memory costs, roughly, for `limitmb`
_RUN_CHUNK = 20_000  # terms per marshal call when a pool spills to disk
_CHUNK_SIZE = struct.Struct("<Q")


class _Analysis:
    """One analyzer of our schema's shape, compiled: what it makes of a text, without its generators.

    `terms(text)` gives, per word kept, its indexed form and its position (Whoosh's StopFilter
    renumbers: the first word kept keeps its place, the next ones follow it without gaps);
    `words(text)` the unstemmed words (Whoosh's `spellable_words`).
    """

    def __init__(self, pattern, charmap, stops, minsize, maxsize, stem, ignore, ngrams):
        self.findall = pattern.findall
        self.charmap, self.stops, self.minsize, self.maxsize = charmap, stops, minsize, maxsize
        self.stem, self.ignore, self.ngrams = stem, ignore, ngrams
        self._cache: dict[str, tuple | None] = {}
        self._last: tuple = (None, None)  # a field's spelling words come from the text it just indexed

    @classmethod
    def compile(cls, analyzer) -> _Analysis | None:
        """The compiled analyzer, or None when it is not of the one shape this handles."""
        items = list(analyzer.items) if isinstance(analyzer, CompositeAnalyzer) else []
        shape = [type(item) for item in items]
        if shape[:4] != [RegexTokenizer, LowercaseFilter, CharsetFilter, StopFilter] or len(items) > 5:
            return None
        tokenizer, _lower, charset, stop = items[:4]
        if tokenizer.gaps or tokenizer.expression.groups or not stop.renumber:
            return None
        stem = ignore = ngrams = None
        if len(items) == 5:
            last = items[4]
            if type(last) is StemFilter:
                stem, ignore = last._stem, frozenset(last.ignore or ())
            elif type(last) is NgramFilter and last.at == -1 and last.min >= 1:
                ngrams = (last.min, last.max)
            else:
                return None
        return cls(tokenizer.expression, charset.charmap, stop.stops, stop.min, stop.max, stem, ignore,
                   ngrams)

    def _learn(self, raw: str) -> tuple | None:
        """(unstemmed, indexed as bytes) for a word as typed, or None for a stop word; remembered."""
        text = raw.lower().translate(self.charmap)
        if len(text) < self.minsize or (self.maxsize is not None and len(text) > self.maxsize) \
                or text in self.stops:
            found = None
        else:
            term = self.stem(text) if self.stem is not None and text not in self.ignore else text
            found = (text, term.encode("utf-8"))
        if len(self._cache) >= _CACHED_WORDS:
            self._cache.clear()
        self._cache[raw] = found
        return found

    def kept(self, text: str) -> tuple[int, list[tuple]]:
        """The position of the first word kept and every kept word's (unstemmed, indexed bytes)."""
        if text is self._last[0]:
            return self._last[1]
        cache, learn = self._cache, self._learn
        first, kept = 0, []
        for position, raw in enumerate(self.findall(text)):
            found = cache.get(raw, _MISSING)
            if found is _MISSING:
                found = learn(raw)
            if found is not None:
                if not kept:
                    first = position
                kept.append(found)
        self._last = (text, (first, kept))
        return first, kept

    def words(self, text: str) -> Iterator[str]:
        """The unique unstemmed words of `text`, sorted, as Whoosh's `spellable_words` gives them."""
        return iter(sorted({word for word, _term in self.kept(text)[1]}))


class _FastField:
    """`index()` and `spellable_words()` for one field, through its compiled analyzer."""

    def __init__(self, field, analysis: _Analysis):
        self.field, self.analysis = field, analysis
        self.boost = field.format.field_boost
        self.positions = type(field.format) is formats.Positions
        self._single: dict[int, bytes] = {}  # a lone position's encoding after its count

    def index(self, value, **kwargs):
        if not isinstance(value, str) or kwargs:
            return type(self.field).index(self.field, value, **kwargs)
        first, kept = self.analysis.kept(value)
        boost = self.boost
        if self.positions:
            positions: dict[bytes, list[int]] = {}
            for offset, (_word, term) in enumerate(kept, first):
                found = positions.get(term)
                if found is None:
                    positions[term] = [offset]
                else:
                    found.append(offset)
            encode, single, items = self.field.format.encode, self._single, []
            for term, found in positions.items():
                count = len(found)
                if count == 1:
                    # A new bytes object each time, as encode() makes: Whoosh pickles a block's values,
                    # and one object shared by two postings would be pickled shorter.
                    tail = single.get(found[0])
                    if tail is None:
                        tail = single[found[0]] = encode(found)[len(_ONE):]
                    value_bytes = _ONE + tail
                else:
                    value_bytes = encode(found)
                items.append((term, count, float(count) * boost, value_bytes))
            return items
        counts: dict[bytes, int] = {}
        if self.analysis.ngrams is None:
            for _word, term in kept:
                counts[term] = counts.get(term, 0) + 1
        else:
            low, high = self.analysis.ngrams
            for word, _term in kept:
                for size in range(low, min(high, len(word)) + 1):
                    gram = word[:size].encode("utf-8")
                    counts[gram] = counts.get(gram, 0) + 1
        return [(term, count, float(count) * boost, pack_uint(count)) for term, count in counts.items()]

    def spellable_words(self, value):
        if not isinstance(value, str):
            return type(self.field).spellable_words(self.field, value)
        return self.analysis.words(value)


def _fast_schema(schema):
    """A copy of `schema` whose text fields index through compiled analyzers (the rest as they were)."""
    fast = copy.copy(schema)
    fast._fields = dict(schema._fields)
    compiled: dict[int, _Analysis | None] = {}
    for name, field in schema._fields.items():
        if type(field.format) not in (formats.Positions, formats.Frequency) or field.vector \
                or isinstance(field, SpellField) or getattr(field, "analyzer", None) is None:
            continue
        key = id(field.analyzer)
        if key not in compiled:
            compiled[key] = _Analysis.compile(field.analyzer)
        if compiled[key] is None:
            continue
        helper = _FastField(field, compiled[key])
        clone = copy.copy(field)
        clone.index, clone.spellable_words = helper.index, helper.spellable_words
        fast._fields[name] = clone
    return fast


class _TermPool:
    """Postings grouped by term, in memory up to `limitmb`, spilled to disk in sorted runs beyond it.

    Gives back what Whoosh's PostingPool gives: every posting, ordered by field, term, then
    document (then weight and value, which only the spelling field's postings of document 0 tie on).
    """

    def __init__(self, tempstore, limitmb: int):
        self.tempstore = tempstore
        self.limit = max(1, limitmb * 1024 * 1024 // _POSTING_BYTES)
        self.terms: dict[tuple, list] = {}
        self.count = 0
        self.runs: list[str] = []
        self.fieldnames: set[str] = set()

    def add(self, item) -> None:
        key = item[:2]
        found = self.terms.get(key)
        if found is None:
            self.terms[key] = [item]
            self.fieldnames.add(item[0])
        else:
            found.append(item)
        self.count += 1
        if self.count >= self.limit:
            self.save()

    def save(self) -> None:
        if not self.terms:
            return
        name = f"{random.getrandbits(64):016x}.run"
        ordered = sorted(self.terms.items())
        with self.tempstore.create_file(name).raw_file() as handle:
            for start in range(0, len(ordered), _RUN_CHUNK):
                # Whole chunks as bytes: marshal.load() on a file reads it a few bytes a call.
                chunk = marshal.dumps(ordered[start:start + _RUN_CHUNK])
                handle.write(_CHUNK_SIZE.pack(len(chunk)))
                handle.write(chunk)
        self.runs.append(name)
        self.terms, self.count = {}, 0

    def _read_run(self, name: str) -> Iterator[tuple]:
        with self.tempstore.open_file(name).raw_file() as handle:
            while header := handle.read(_CHUNK_SIZE.size):
                chunk = handle.read(_CHUNK_SIZE.unpack(header)[0])
                yield from marshal.loads(chunk)  # noqa: S302 (a run this pool wrote, in its own folder)
        self.tempstore.delete_file(name)

    def iter_terms(self) -> Iterator[tuple[tuple, list]]:
        """`((fieldname, term bytes), postings)` in order; each posting `(fieldname, term, docnum,
        weight, value)` as Whoosh's pool holds it."""
        if not self.runs:
            for key in sorted(self.terms):
                postings = self.terms[key]
                postings.sort()
                yield key, postings
            self.terms = {}
            return
        self.save()
        runs, self.runs = self.runs, []
        merged = heapq.merge(*(self._read_run(name) for name in runs), key=itemgetter(0))
        key, postings = None, []
        for run_key, run_postings in merged:
            if run_key != key:
                if postings:
                    postings.sort()
                    yield key, postings
                key, postings = run_key, list(run_postings)
            else:
                postings.extend(run_postings)
        if postings:
            postings.sort()
            yield key, postings

    def iter_postings(self):
        for _key, postings in self.iter_terms():
            yield from postings

    items = iter_postings

    def cleanup(self) -> None:
        for name in self.runs:
            if self.tempstore.file_exists(name):
                self.tempstore.delete_file(name)
        self.runs = []


class _Lengths:
    """Each field's stored length per document, read once per field (Whoosh reads one per posting,
    with a file `stat()` each time)."""

    def __init__(self, reader):
        self.reader = reader
        self.count = reader.doc_count_all()
        self._fields: dict[str, list[int] | None] = {}

    def of(self, fieldname: str) -> list[int] | None:
        if fieldname not in self._fields:
            lengths = None
            if self.reader is not None:
                lengths = [self.reader.doc_field_length(docnum, fieldname) for docnum in range(self.count)]
                if not any(lengths):
                    lengths = None
            self._fields[fieldname] = lengths
        return self._fields[fieldname]


class FastSegmentWriter(SegmentWriter):
    """Whoosh's SegmentWriter with compiled analyzers, postings grouped by term and written a block at
    a time; the index it makes is the one Whoosh's writer would. Takes SegmentWriter's arguments."""

    def __init__(self, ix, **kwargs):
        super().__init__(ix, **kwargs)
        self._schema_to_record = self.schema
        self.schema = _fast_schema(self.schema)
        self.pool = _TermPool(self._tempstorage, kwargs.get("limitmb", 128))

    def _commit_toc(self, segments):
        self.schema = self._schema_to_record  # the index records Whoosh's own field types
        super()._commit_toc(segments)

    def _flush_segment(self):
        fieldwriter = self.fieldwriter
        if type(self.codec) is not W3Codec or type(fieldwriter) is not W3FieldWriter:
            super()._flush_segment()
            return
        self.perdocwriter.close()
        reader = self.per_document_reader() if self.codec.length_stats else None
        try:
            self._write_terms(fieldwriter, _Lengths(reader))
        finally:
            fieldwriter.close()
            if reader is not None:
                reader.close()

    def _write_terms(self, fieldwriter, lengths: _Lengths) -> None:
        schema, current = self.schema, None
        for (fieldname, term), postings in self.pool.iter_terms():
            if fieldname not in schema:
                continue
            postings = [posting for posting in postings if posting[2] != -1]  # Whoosh's spelling marks
            if not postings:
                continue
            if fieldname != current:
                if current is not None:
                    fieldwriter.finish_field()
                fieldwriter.start_field(fieldname, schema[fieldname])
                current = fieldname
            fieldwriter.start_term(term)
            _fill_postings(fieldwriter._postwriter, postings, lengths.of(fieldname))
            fieldwriter.finish_term()
        if current is not None:
            fieldwriter.finish_field()


def _fill_postings(writer, postings: list, lengths: list[int] | None) -> None:
    """Give Whoosh's W3PostingsWriter a term's postings a block at a time, leaving it in the state its
    `add_posting`, called once per posting, would leave it in."""
    if writer._byteids or not isinstance(writer._ids, array):
        raise TypeError("the postings writer keeps byte ids; this writer does not handle them")
    limit = writer._blocklimit
    for start in range(0, len(postings), limit):
        if start:
            writer._write_block()  # add_posting writes a full block when the next posting arrives
        block = postings[start:start + limit]
        ids = [posting[2] for posting in block]
        weights = [posting[3] for posting in block]
        writer._ids.extend(ids)
        writer._weights.extend(weights)
        writer._values.extend(posting[4] for posting in block if posting[4])
        heaviest = max(weights)
        if heaviest > writer._maxweight:
            writer._maxweight = heaviest
        if lengths is not None:
            found = [length for length in map(lengths.__getitem__, ids) if length]
            if found:
                shortest, longest = min(found), max(found)
                if writer._minlength is None or shortest < writer._minlength:
                    writer._minlength = shortest
                if longest > writer._maxlength:
                    writer._maxlength = longest


def writer(ix, **kwargs) -> FastSegmentWriter:
    """A writer for the index `ix` (as `ix.writer(**kwargs)`). Raises whoosh.index.LockError."""
    return FastSegmentWriter(ix, **kwargs)

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

And a fresh build of many documents on two CPUs shares its work with forked processes
(`build_writer`, "a build on two CPUs" below).

`tests/search/test_writing.py` builds the same documents with both writers and compares every
term, posting, length and stored field.
"""

from __future__ import annotations

import bisect
import copy
import gc
import heapq
import itertools
import logging
import marshal
import os
import pickle
import random
import signal
import struct
import sys
import traceback
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator
from multiprocessing import Pipe
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
from whoosh.codec.whoosh3 import W3Codec, W3FieldWriter, W3PostingsWriter, W3TermInfo
from whoosh.fields import SpellField
from whoosh.system import pack_uint, pack_ushort
from whoosh.util.numeric import byte_to_length, length_to_byte
from whoosh.writing import SegmentWriter

log = logging.getLogger(__name__)
_MISSING = object()
_ONE = pack_uint(1)
_CACHED_WORDS = 200_000  # distinct words remembered per analyzer (a word costs ~200 bytes)
_POSTING_BYTES = 110  # what one posting held in memory costs, for `limitmb` (measured: ~100 bytes)
_SPELLING_BYTES = 12  # and one spelling posting (a list slot and a share of its document's value)
_RUN_CHUNK = 50_000  # postings per marshal call when a pool spills to disk (~2 MB read at a time)
_CHUNK_HEADER = struct.Struct("<QI")  # a chunk's size and its last key's, before its last key


class _WordCache(dict):
    """What an analyzer made of each word as typed; a word not seen yet is worked out on look-up."""

    def __init__(self, learn):
        super().__init__()
        self.learn = learn

    def __missing__(self, raw: str) -> tuple:
        return self.learn(raw)


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
        self._cache = _WordCache(self._learn)
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

    def _learn(self, raw: str) -> tuple:
        """(unstemmed, indexed as bytes) for a word as typed, or () for a stop word; remembered."""
        text = raw.lower().translate(self.charmap)
        if len(text) < self.minsize or (self.maxsize is not None and len(text) > self.maxsize) \
                or text in self.stops:
            found = ()
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
        found = list(map(self._cache.__getitem__, self.findall(text)))  # a new word goes to _learn
        kept = list(filter(None, found))
        first = 0
        if kept and not found[0]:
            first = next(position for position, word in enumerate(found) if word)
        self._last = (text, (first, kept))
        return first, kept

    def words(self, text: str) -> Iterator[str]:
        """The unique unstemmed words of `text`, sorted, as Whoosh's `spellable_words` gives them."""
        return iter(sorted({word for word, _term in self.kept(text)[1]}))


def _encode_positions(positions: list[int]) -> bytes:
    """What whoosh.formats.Positions.encode makes of a term's positions: their count, then the gaps
    between them pickled."""
    gaps = [positions[0]]
    gaps += [after - before for before, after in zip(positions, positions[1:], strict=False)]
    return pack_uint(len(positions)) + pickle.dumps(gaps, 2)


def _positions_of(first: int, kept: list) -> dict[bytes, list[int]]:
    """Each term's positions in a text whose kept words (`_Analysis.kept`) start at `first`."""
    positions: dict[bytes, list[int]] = {}
    for offset, term in enumerate([word[1] for word in kept], first):
        found = positions.get(term)
        if found is None:
            positions[term] = [offset]
        else:
            found.append(offset)
    return positions


class _FastField:
    """`index()` and `spellable_words()` for one field, through its compiled analyzer; `add()` puts a
    text's postings straight into a `_TermPool`."""

    def __init__(self, field, analysis: _Analysis):
        self.field, self.analysis = field, analysis
        self.boost = field.format.field_boost
        self.positions = type(field.format) is formats.Positions
        self.scorable = field.scorable
        self._single: dict[int, bytes] = {}  # a lone position's encoding after its count

    def _encode(self, found: list[int]) -> bytes:
        """A term's positions as Whoosh encodes them (_encode_positions), a lone position's kept."""
        if len(found) != 1:
            return _encode_positions(found)
        # A new bytes object each time, as encode() makes: Whoosh pickles a block's values, and one
        # object shared by two postings would be pickled shorter.
        tail = self._single.get(found[0])
        if tail is None:
            tail = self._single[found[0]] = _encode_positions(found)[len(_ONE):]
        return _ONE + tail

    def _items(self, value: str) -> list[tuple]:
        """(term bytes, count, weight, value bytes) per term, in the order Whoosh's format gives them."""
        first, kept = self.analysis.kept(value)
        boost = self.boost
        if self.positions:
            encode = self._encode
            return [(term, len(found), float(len(found)) * boost, encode(found))
                    for term, found in _positions_of(first, kept).items()]
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

    def index(self, value, **kwargs):
        if not isinstance(value, str) or kwargs:
            return type(self.field).index(self.field, value, **kwargs)
        return self._items(value)

    def add(self, pool: _TermPool, fieldname: str, docnum: int, value: str) -> tuple[int, bytes | None]:
        """Pool the postings of `value` for document `docnum`, as Whoosh's add_document would (with no
        field or document boost); returns the field's length and the last posting's value bytes."""
        if not self.positions:
            return self._add_items(pool, fieldname, docnum, self._items(value))
        first, kept = self.analysis.kept(value)
        if not kept:
            return 0, None
        # _items, with each term's posting pooled as it is made.
        positions = _positions_of(first, kept)
        terms, encode, boost = pool.terms_of(fieldname), self._encode, self.boost
        value_bytes = b""
        for term, found in positions.items():
            value_bytes = encode(found)
            _post(terms, term, docnum, float(len(found)) * boost, value_bytes)
        pool.added(len(positions))
        return (len(kept) if self.scorable else 0), value_bytes

    def _add_items(self, pool: _TermPool, fieldname: str, docnum: int,
                   items: list) -> tuple[int, bytes | None]:
        if not items:
            return 0, None
        terms = pool.terms_of(fieldname)
        length = 0
        for term, count, weight, value_bytes in items:
            length += count
            _post(terms, term, docnum, weight, value_bytes)
        pool.added(len(items))
        return (length if self.scorable else 0), items[-1][3]

    def spellable_words(self, value):
        if not isinstance(value, str):
            return type(self.field).spellable_words(self.field, value)
        return self.analysis.words(value)

    def spelling_words(self, value: str) -> set[str]:
        """The unstemmed words of `value`, unordered (the pool sorts them)."""
        return {word for word, _term in set(self.analysis.kept(value)[1])}


def _fast_fields(schema) -> dict[str, _FastField]:
    """The text fields of `schema` that index through compiled analyzers, by name."""
    compiled: dict[int, _Analysis | None] = {}
    fast = {}
    for name, field in schema._fields.items():
        if type(field.format) not in (formats.Positions, formats.Frequency) or field.vector \
                or isinstance(field, SpellField) or getattr(field, "analyzer", None) is None:
            continue
        key = id(field.analyzer)
        if key not in compiled:
            compiled[key] = _Analysis.compile(field.analyzer)
        if compiled[key] is not None:
            fast[name] = _FastField(field, compiled[key])
    return fast


def _fast_schema(schema, fast: dict[str, _FastField]):
    """A copy of `schema` whose text fields index through compiled analyzers (the rest as they were)."""
    copied = copy.copy(schema)
    copied._fields = dict(schema._fields)
    for name, helper in fast.items():
        clone = copy.copy(schema._fields[name])
        clone.index, clone.spellable_words = helper.index, helper.spellable_words
        copied._fields[name] = clone
    return copied


def _post(terms: dict[bytes, tuple], term: bytes, docnum: int, weight: float, value: bytes) -> None:
    """One posting into a field's terms (see _TermPool): its document, weight and value appended."""
    columns = terms.get(term)
    if columns is None:
        terms[term] = ([docnum], [weight], [value])
    else:
        columns[0].append(docnum)
        columns[1].append(weight)
        columns[2].append(value)


class _TermPool:
    """Postings grouped by field and term, in memory up to `limitmb`, spilled to disk in sorted runs
    beyond it.

    Gives back what Whoosh's PostingPool gives: every posting, ordered by field, term, then
    document (then weight and value, which only spelling postings tie on: a document's are all on
    document 0). A term's postings are kept as three lists, (docnums, weights, values), in the order
    documents came, which is document order (a merged segment's documents come after the new ones);
    a spelling word's (all of document 0, weight 1) as their values only, sorted when written.
    """

    def __init__(self, tempstore, limitmb: int):
        self.tempstore = tempstore
        self.limit = max(1, limitmb * 1024 * 1024 // _POSTING_BYTES)
        self.fields: dict[str, dict[bytes, list]] = {}
        self.spelling: dict[str, dict[str, list]] = {}
        self.count = 0
        self.runs: list[tuple[str, tuple, tuple]] = []  # (file name, first key, last key)

    def terms_of(self, fieldname: str) -> dict[bytes, list]:
        terms = self.fields.get(fieldname)
        if terms is None:
            terms = self.fields[fieldname] = {}
        return terms

    def added(self, count: int) -> None:
        self.count += count
        if self.count >= self.limit:
            self.save()

    def add(self, item) -> None:
        """One posting as Whoosh's pool takes it: (fieldname, term, docnum, weight, value)."""
        fieldname, term, docnum, weight, value = item
        if docnum == -1:
            return  # Whoosh's mark for a spelling-only word: no posting
        _post(self.terms_of(fieldname), term, docnum, weight, value)
        self.added(1)

    def add_spelling(self, fieldname: str, words, value: bytes) -> None:
        """A spelling posting of document 0, weight 1 and `value`, for each of `words`."""
        words_of = self.spelling.get(fieldname)
        if words_of is None:
            words_of = self.spelling[fieldname] = {}
        count = 0
        for word in words:
            found = words_of.get(word)
            if found is None:
                words_of[word] = [value]
            else:
                found.append(value)
            count += 1
        # A spelling posting held is one reference to a value shared by the document's words.
        self.added(count * _SPELLING_BYTES // _POSTING_BYTES)

    def _ordered(self) -> list[tuple]:
        """This pool's terms as sorted (fieldname, term bytes, (docnums, weights, values), spelling
        values)."""
        ordered = []
        for fieldname in set(self.fields) | set(self.spelling):
            terms = self.fields.get(fieldname, {})
            spelled = {word.encode("utf-8"): values
                       for word, values in self.spelling.get(fieldname, {}).items()}
            for term in set(terms) | set(spelled):
                ordered.append((fieldname, term, terms.get(term, _NO_POSTINGS), spelled.get(term, [])))
        ordered.sort(key=_term_key)
        self.fields, self.spelling, self.count = {}, {}, 0
        return ordered

    def save(self, pivot: tuple | None = None) -> None:
        """Spill the terms in memory to a sorted run; to two, the terms before `pivot` and the rest,
        when given (a reader of either part then reads only its run)."""
        if not self.fields and not self.spelling:
            return
        ordered = self._ordered()
        cut = bisect.bisect_left(ordered, pivot, key=_term_key) if pivot is not None else 0
        for part in (ordered[:cut], ordered[cut:]):
            if part:
                self._save_run(part)

    def _save_run(self, ordered: list[tuple]) -> None:
        name = f"{os.getpid()}-{random.getrandbits(64):016x}.run"
        with self.tempstore.create_file(name).raw_file() as handle:
            start, count = 0, 0
            for end, (_fieldname, _term, columns, spelled) in enumerate(ordered, 1):
                count += len(columns[0]) + len(spelled)
                if count >= _RUN_CHUNK or end == len(ordered):
                    # Whole chunks as bytes: marshal.load() on a file reads it a few bytes a call. A
                    # merge holds one chunk of each run, and a reader skips chunks before its terms.
                    chunk = marshal.dumps(ordered[start:end])
                    last = marshal.dumps(_term_key(ordered[end - 1]))
                    handle.write(_CHUNK_HEADER.pack(len(chunk), len(last)))
                    handle.write(last)
                    handle.write(chunk)
                    start, count = end, 0
        self.runs.append((name, _term_key(ordered[0]), _term_key(ordered[-1])))

    def _read_run(self, name: str, delete: bool = True, start: tuple | None = None) -> Iterator[tuple]:
        """The terms of a run in order, those of chunks ending before `start` left unread."""
        with self.tempstore.open_file(name).raw_file() as handle:
            while header := handle.read(_CHUNK_HEADER.size):
                size, key_size = _CHUNK_HEADER.unpack(header)
                last = marshal.loads(handle.read(key_size))  # noqa: S302 (a run this pool wrote)
                if start is not None and last < start:
                    handle.seek(size, os.SEEK_CUR)
                    continue
                yield from marshal.loads(handle.read(size))  # noqa: S302 (a run this pool wrote)
        if delete:
            self.tempstore.delete_file(name)

    def adopt(self, runs: list[tuple]) -> None:
        """Take the runs another pool saved in this pool's folder, of documents before this pool's."""
        self.runs = list(runs) + self.runs

    def iter_terms(self, start: tuple | None = None, stop: tuple | None = None,
                   keep_runs: bool = False) -> Iterator[tuple[str, bytes, tuple, list]]:
        """`(fieldname, term bytes, (docnums, weights, values), spelling values)` in order: postings in
        document order (only spelling postings of merged segments may tie on a document), spelling
        values (each a posting of document 0, weight 1) unsorted. Only the terms from `start` (a
        (fieldname, term bytes) key) and before `stop`, when given; `keep_runs` leaves the runs on
        disk (another process may be reading them)."""
        if not self.runs:
            for item in self._ordered():
                if (start is None or item[:2] >= start) and (stop is None or item[:2] < stop):
                    yield item
            return
        runs = self.runs if keep_runs else []
        sources = [self._read_run(name, delete=not keep_runs, start=start) for name, first, last in self.runs
                   if (start is None or last >= start) and (stop is None or first < stop)]
        self.runs = runs
        sources.append(iter(self._ordered()))  # this pool's own documents come last
        merged = heapq.merge(*sources, key=_term_key)
        key, columns, spelled = None, _NO_POSTINGS, []
        for fieldname, term, run_columns, run_spelled in merged:
            if (fieldname, term) != key:
                if key is not None and key is not _SKIPPED:
                    yield key[0], key[1], columns, spelled
                key = (fieldname, term)
                if stop is not None and key >= stop:
                    key = None
                    break
                if start is not None and key < start:
                    key = _SKIPPED
                    continue
                spelled = list(run_spelled)
                columns = tuple(list(column) for column in run_columns)
            elif key is not _SKIPPED:
                for column, more in zip(columns, run_columns, strict=True):
                    column.extend(more)
                spelled.extend(run_spelled)
        if key is not None and key is not _SKIPPED:
            yield key[0], key[1], columns, spelled

    def iter_postings(self):
        for fieldname, term, columns, spelled in self.iter_terms():
            for posting in _postings(columns, spelled):
                yield (fieldname, term, *posting)

    items = iter_postings

    def cleanup(self) -> None:
        for name, _first, _last in self.runs:
            if self.tempstore.file_exists(name):
                self.tempstore.delete_file(name)
        self.runs = []


_term_key = itemgetter(0, 1)
_SKIPPED = ("", b"")  # a term before `start` (no real term: field names are never empty)
_NO_POSTINGS: tuple = ((), (), ())


def _postings(columns: tuple, spelled: list) -> list[tuple]:
    """A term's postings as (docnum, weight, value), sorted as Whoosh's pool sorts them."""
    found = [(0, 1, value) for value in spelled]
    found += zip(*columns, strict=True)
    found.sort()
    return found


class _Lengths:
    """Each field's stored length per document, read once per field (Whoosh reads one per posting,
    with a file `stat()` each time)."""

    def __init__(self, reader):
        self.reader = reader
        self.count = reader.doc_count_all() if reader is not None else 0
        self._fields: dict[str, list[int] | None] = {}

    @classmethod
    def recorded(cls, recorded: list[dict], count: int) -> _Lengths:
        """The lengths the per-document file gives once the documents of these `_Recorder.lengths`
        are written to it: each length as its byte gives it back (None for none), without reading it."""
        lengths = cls(None)
        lengths.count = count
        found: dict[str, list] = {}
        for fields in recorded:
            for fieldname, (docnums, values) in fields.items():
                column = found.get(fieldname)
                if column is None:
                    column = found[fieldname] = [None] * count
                for docnum, value in zip(docnums, values, strict=True):
                    column[docnum] = value
        for fieldname, column in found.items():
            quantised = [byte_to_length(length_to_byte(n)) if n else None for n in column]
            lengths._fields[fieldname] = quantised if any(quantised) else None
        return lengths

    def of(self, fieldname: str) -> list[int] | None:
        if fieldname not in self._fields:
            lengths = None
            if self.reader is not None:
                lengths = [self.reader.doc_field_length(docnum, fieldname) for docnum in range(self.count)]
                if not any(lengths):
                    lengths = None
            self._fields[fieldname] = lengths
        return self._fields[fieldname]


# --- a build on two CPUs ------------------------------------------------------------------------------
# A fresh index of many documents is built by two processes: a helper forked when the build starts
# analyses the first share of the documents (HELPER_SHARE) while this process reads them all from the
# database and analyses the rest, and at commit a second fork writes the later terms (from one the
# helper chooses) while this process writes the earlier ones. Both keep what a document gives to the
# per-document file in a _Recorder, written in document order at commit; the helper's postings come
# back as sorted runs (the pool's spill format), which precede this process's documents in every
# term. The segment is the one a single process writes (tests/search/test_writing.py compares the
# bytes).

HELPER_SHARE = 0.68  # of a build's documents analysed by the helper (this process also reads them all)
WRITE_SHARE = 0.42  # of the postings written by this process at commit (it also writes the documents)
SPLIT_MIN_DOCUMENTS = 2_000  # fewer are built in one process: forking costs more than it saves
_BATCH_DOCUMENTS = 100  # documents handed to the helper at a time (in a file: a pipe would fill)
_RECORDED_BATCH = 500  # documents' per-document calls kept in memory before they go to a file
_TERM_COST = 5  # a term's own cost in writing, in postings (starting, finishing and indexing it)
_SPELLING_COST = 0.15  # a spelling posting's, in postings (measured: ~0.3 µs against ~2 µs)


def cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class _Recorder:
    """Stands in for the per-document writer while documents are analysed out of order: keeps each
    document's calls ([docnum, (field, stored value, length)..., (column, value)...]) in a file of
    its own, _RECORDED_BATCH documents a pickle, for `_replay` to make in document order; and each
    field's lengths (`lengths`: {fieldname: (docnums, lengths)}) in memory, for the postings."""

    is_closed = False

    def __init__(self, tempstore):
        self.tempstore = tempstore
        self.name = f"{os.getpid()}-{random.getrandbits(64):016x}.docs"
        self.lengths: dict[str, tuple[array, array]] = {}
        self._docs: list[list] = []
        self._doc: list | None = None
        self._file = None

    def start_doc(self, docnum: int) -> None:
        self._doc = [docnum]

    def add_field(self, fieldname, fieldobj, value, length) -> None:
        self._doc.append((fieldname, value, length))
        if length:
            found = self.lengths.get(fieldname)
            if found is None:
                found = self.lengths[fieldname] = (array("I"), array("I"))
            found[0].append(self._doc[0])
            found[1].append(length)

    def add_column_value(self, fieldname, columnobj, value) -> None:
        self._doc.append((fieldname, value))

    def add_vector_items(self, fieldname, fieldobj, items) -> None:
        raise TypeError("a build on two CPUs writes no term vectors")

    def finish_doc(self) -> None:
        self._docs.append(self._doc)
        self._doc = None
        if len(self._docs) >= _RECORDED_BATCH:
            self._save()

    def cancel_doc(self) -> None:
        if self._doc is not None:
            for found in self.lengths.values():
                if found[0] and found[0][-1] == self._doc[0]:
                    found[0].pop()
                    found[1].pop()
        self._doc = None

    def _save(self) -> None:
        if self._file is None:
            self._file = self.tempstore.create_file(self.name).raw_file()
        pickle.dump(self._docs, self._file, pickle.HIGHEST_PROTOCOL)
        self._docs = []

    def finish(self) -> str:
        """Save the documents still in memory; the name of the file that holds them all."""
        self._save()
        self._file.close()
        return self.name

    def close(self) -> None:
        self.is_closed = True
        if self._file is not None and not self._file.closed:
            self._file.close()


def _replay(tempstore, name: str, perdocwriter, schema) -> None:
    """Make the calls a `_Recorder` kept in file `name` on the real per-document writer, in order."""
    with tempstore.open_file(name).raw_file() as handle:
        while True:
            try:
                docs = pickle.load(handle)  # noqa: S301 (a file this build wrote, in its own folder)
            except EOFError:
                break
            for ops in docs:
                perdocwriter.start_doc(ops[0])
                for op in itertools.islice(ops, 1, None):
                    if len(op) == 3:
                        perdocwriter.add_field(op[0], schema[op[0]], op[1], op[2])
                    else:
                        perdocwriter.add_column_value(op[0], schema[op[0]].column_type, op[1])
                perdocwriter.finish_doc()
    tempstore.delete_file(name)


def _fork(work) -> tuple[int, object]:
    """Run `work(connection)` in a forked child; (its pid, our end of the pipe). The child leaves with
    os._exit, so nothing of this process's (open files, database connections) is flushed or closed by
    it; its garbage is not collected either (no finalizer of a shared object runs there)."""
    ours, theirs = Pipe()
    try:
        pid = os.fork()
    except BaseException:
        ours.close()
        theirs.close()
        raise
    if pid == 0:  # pragma: no cover (runs in the child; its results are what the tests check)
        code = 1
        try:
            gc.disable()
            ours.close()
            work(theirs)
            code = 0
        except BaseException:  # noqa: BLE001 (everything goes back to the parent)
            try:
                theirs.send(("error", traceback.format_exc()))
            except BaseException:  # noqa: BLE001, S110 (the parent sees the pipe close)
                pass
        finally:
            os._exit(code)
    theirs.close()
    return pid, ours


def _result(pid: int, connection, what: str):
    """What a forked child sent back; raises RuntimeError if it failed."""
    try:
        status, *payload = connection.recv()
    except EOFError:
        status, payload = "error", ["it ended without an answer"]
    finally:
        connection.close()
        os.waitpid(pid, 0)
    if status != "ok":
        raise RuntimeError(f"the index build's {what} failed: {payload[0]}")
    return payload


def _stop(pid: int, connection) -> None:
    connection.close()
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


class _Helper:
    """The forked process analysing the first `share` documents of a build (see above)."""

    def __init__(self, writer: FastSegmentWriter, share: int):
        self.share, self.sent, self.batch = share, 0, []
        self.tempstore = writer._tempstorage
        self.pid, self.connection = _fork(lambda connection: _analyse(writer, share, connection))

    def take(self, fields: dict) -> None:
        self.batch.append(fields)
        self.sent += 1
        if len(self.batch) >= _BATCH_DOCUMENTS or self.sent >= self.share:
            self._send()

    def _send(self) -> None:
        if not self.batch:
            return
        name = f"{os.getpid()}-{random.getrandbits(64):016x}.docs"
        with self.tempstore.create_file(name).raw_file() as handle:
            pickle.dump(self.batch, handle, pickle.HIGHEST_PROTOCOL)
        self.connection.send(name)
        self.batch = []

    def finish(self) -> tuple[list[tuple], str, dict, tuple | None]:
        """The helper's runs, the file of its recorded documents, their lengths, and the first term
        of the forked writer (see _analyse), once it has analysed every document sent."""
        self._send()
        if self.sent < self.share:
            self.connection.send(None)  # fewer documents came than were counted: no more
        runs, name, lengths, pivot = _result(self.pid, self.connection, "helper")
        return runs, name, lengths, pivot

    def stop(self) -> None:
        _stop(self.pid, self.connection)


def _analyse(writer: FastSegmentWriter, share: int, connection) -> None:
    """In the helper: analyse each batch of documents sent; after the `share`-th (or when told there
    are no more), choose where the forked writer will start, save the pool cut there and send back
    the runs, the records and that term, while the build still reads and analyses its own share."""
    writer._helper = None
    writer.perdocwriter = recorder = _Recorder(writer._tempstorage)
    writer.pool = pool = _TermPool(writer._tempstorage, writer._split_limitmb)
    while writer.docnum < share and (name := connection.recv()) is not None:
        with writer._tempstorage.open_file(name).raw_file() as handle:
            batch = pickle.load(handle)  # noqa: S301 (written by the build that forked us)
        writer._tempstorage.delete_file(name)
        for fields in batch:
            writer.add_document(**fields)
    pivot = writer._pivot()
    pool.save(pivot=pivot)
    connection.send(("ok", pool.runs, recorder.finish(), recorder.lengths, pivot))


class _DetachedFieldWriter:
    """W3FieldWriter's term writing into a file of its own, from offset 0, keeping each term's
    (fieldname, term, W3TermInfo) in `terms` for the real field writer to add, its offset moved."""

    is_closed = False

    def __init__(self, codec, postfile):
        self._codec, self._postfile = codec, postfile
        self._postwriter = None
        self.terms: list[tuple] = []

    def start_field(self, fieldname, fieldobj) -> None:
        self._fieldname, self._format = fieldname, fieldobj.format
        self._postwriter = self._codec.postings_writer(self._postfile)

    def start_term(self, btext: bytes) -> None:
        self._btext = btext
        self._postwriter.start_postings(self._format, W3TermInfo())

    def finish_term(self) -> None:
        self.terms.append((self._fieldname, self._btext, self._postwriter.finish_postings()))

    def finish_field(self) -> None:
        self._postwriter = None


def _append_terms(fieldwriter, schema, tempstore, name: str, terms: list[tuple]) -> None:
    """Add the terms a _DetachedFieldWriter wrote to file `name` after those already written."""
    postfile = fieldwriter._postfile
    base = postfile.tell()
    with tempstore.open_file(name).raw_file() as handle:
        while block := handle.read(1 << 20):
            postfile.write(block)
    tempstore.delete_file(name)
    current = None
    for fieldname, btext, terminfo in terms:
        if fieldname != current:
            if current is not None:
                fieldwriter.finish_field()
            fieldwriter.start_field(fieldname, schema[fieldname])
            current = fieldname
        if not terminfo.is_inlined():
            terminfo.set_extent(terminfo._offset + base, terminfo._length)
        fieldwriter._tindex.add(pack_ushort(fieldwriter._fieldid) + btext, terminfo.to_bytes())
    if current is not None:
        fieldwriter.finish_field()


class FastSegmentWriter(SegmentWriter):
    """Whoosh's SegmentWriter with compiled analyzers, postings grouped by term and written a block at
    a time; the index it makes is the one Whoosh's writer would. Takes SegmentWriter's arguments."""

    def __init__(self, ix, **kwargs):
        super().__init__(ix, **kwargs)
        self._schema_to_record = self.schema
        self._fast = _fast_fields(self.schema)
        self._spelling_fields = {field.spelling_fieldname(name) for name, field in self.schema.items()
                                 if field.separate_spelling()}
        # Fields with term vectors take Whoosh's own add_document (ours writes none).
        self._own_add = not any(field.vector for field in self.schema._fields.values())
        self.schema = _fast_schema(self.schema, self._fast)
        self._limitmb = kwargs.get("limitmb", 128)
        self.pool = _TermPool(self._tempstorage, self._limitmb)
        self._helper: _Helper | None = None
        self._perdoc: object | None = None  # the real per-document writer while a _Recorder stands in

    def can_split(self) -> bool:
        """Whether this writer can share its work with forked processes (see HELPER_SHARE): on Linux
        (elsewhere a fork without exec is not safe, or there is none), a new segment of an index
        without segments, written by Whoosh 3's codec, nothing added yet."""
        return (sys.platform.startswith("linux") and self._own_add and not self.segments and self.docnum == 0
                and type(self.codec) is W3Codec and type(self.fieldwriter) is W3FieldWriter
                and self._helper is None and self._perdoc is None)

    def split(self, documents: int) -> None:
        """Fork a helper that analyses the first HELPER_SHARE of the `documents` to be added, the
        pool of each process holding half of `limitmb`. Call can_split() first."""
        if not self.can_split():
            raise RuntimeError("this writer cannot share its work")
        self._split_limitmb = max(1, self._limitmb // 2)
        self._helper = _Helper(self, max(1, int(documents * HELPER_SHARE)))  # OSError: not forked
        self.pool = _TermPool(self._tempstorage, self._split_limitmb)
        self._perdoc, self.perdocwriter = self.perdocwriter, _Recorder(self._tempstorage)

    def add_document(self, **fields):
        """As SegmentWriter.add_document (same postings, lengths, stored values and columns), with
        the compiled fields' postings put straight into the pool."""
        helper = self._helper
        if helper is not None and helper.sent < helper.share:
            self._check_state()
            self._check_fields(self.schema, [name for name in fields if not name.startswith("_")])
            helper.take(fields)
            self._added = True
            self.docnum += 1
            return None
        if not self._own_add or any(name.startswith("_") for name in fields):
            return super().add_document(**fields)  # boosts and custom stored values: Whoosh's code
        self._check_state()
        perdocwriter, schema, docnum, pool = self.perdocwriter, self.schema, self.docnum, self.pool
        fieldnames = sorted(fields)
        self._check_fields(schema, fieldnames)
        perdocwriter.start_doc(docnum)
        vbytes = None  # Whoosh gives spelling postings the value of the last posting it added
        try:
            for fieldname in fieldnames:
                value = fields[fieldname]
                if value is None:
                    continue
                field = schema[fieldname]
                length = 0
                helper = self._fast.get(fieldname)
                if field.indexed:
                    if helper is not None and isinstance(value, str):
                        length, last = helper.add(pool, fieldname, docnum, value)
                        if last is not None:
                            vbytes = last
                    else:
                        scorable = field.scorable
                        for tbytes, freq, weight, value_bytes in field.index(value):
                            if scorable:
                                length += freq
                            pool.add((fieldname, tbytes, docnum, weight * 1.0, value_bytes))
                            vbytes = value_bytes
                if field.separate_spelling():
                    words = helper.spelling_words(value) if helper is not None and isinstance(value, str) \
                        else field.spellable_words(value)
                    pool.add_spelling(field.spelling_fieldname(fieldname), words, vbytes)
                perdocwriter.add_field(fieldname, field, value if field.stored else None, length)
                column = field.column_type
                if column:
                    perdocwriter.add_column_value(fieldname, column, field.to_column_value(value))
        except Exception:
            perdocwriter.cancel_doc()
            raise
        perdocwriter.finish_doc()
        self._added = True
        self.docnum += 1

    def _commit_toc(self, segments):
        self.schema = self._schema_to_record  # the index records Whoosh's own field types
        super()._commit_toc(segments)

    def _close_segment(self):
        if self._helper is not None:  # cancelled, or committed with nothing added
            self._helper.stop()
            self._helper = None
        if self._perdoc is not None:
            self.perdocwriter.close()
            self.perdocwriter, self._perdoc = self._perdoc, None
        super()._close_segment()

    def _flush_segment(self):
        if self._perdoc is not None:
            self._flush_split()
            return
        fieldwriter = self.fieldwriter
        if type(self.codec) is not W3Codec or type(fieldwriter) is not W3FieldWriter:
            super()._flush_segment()
            return
        self.perdocwriter.close()
        reader = self.per_document_reader() if self.codec.length_stats else None
        try:
            self._write_terms(fieldwriter, _Lengths(reader), self.pool.iter_terms())
        finally:
            fieldwriter.close()
            if reader is not None:
                reader.close()

    def _flush_split(self) -> None:
        """_flush_segment for a build shared with a helper: its runs and documents taken in, the
        documents written in order while a forked writer writes the later terms."""
        helper, self._helper = self._helper, None
        ours = self.perdocwriter
        runs, name, lengths, pivot = helper.finish() if helper is not None \
            else ([], None, {}, self._pivot())
        recorded = [(name, lengths)] if name is not None else []
        recorded.append((ours.finish(), ours.lengths))
        self.pool.adopt(runs)
        lengths = _Lengths.recorded([found for _name, found in recorded], self.docnum) \
            if self.codec.length_stats else _Lengths(None)
        writer = None
        if pivot is not None:
            try:
                writer = _fork(lambda connection: self._write_later(connection, lengths, pivot))
            except OSError:
                log.warning("search: could not fork a writer for the index build's later terms; "
                            "writing them here", exc_info=True)
                pivot = None
        fieldwriter = self.fieldwriter
        try:
            self.perdocwriter, self._perdoc = self._perdoc, None
            for name, _found in recorded:
                _replay(self._tempstorage, name, self.perdocwriter, self.schema)
            self.perdocwriter.close()
            self._write_terms(fieldwriter, lengths, self.pool.iter_terms(stop=pivot, keep_runs=True))
            if writer is not None:
                name, terms = _result(*writer, "term writer")
                writer = None
                _append_terms(fieldwriter, self.schema, self._tempstorage, name, terms)
        finally:
            if writer is not None:
                _stop(*writer)
            fieldwriter.close()

    def _pivot(self) -> tuple | None:
        """The first term the forked writer writes: where WRITE_SHARE of the postings (and of the
        terms' own costs) of the pool in memory lie before, taken as a sample of all."""
        costs = []
        for fieldname, terms in self.pool.fields.items():
            costs += [(fieldname, term, len(columns[0]) + _TERM_COST) for term, columns in terms.items()]
        for fieldname, words in self.pool.spelling.items():
            costs += [(fieldname, word.encode("utf-8"), len(values) * _SPELLING_COST + _TERM_COST)
                      for word, values in words.items()]
        if len(costs) < 2:
            return None
        costs.sort(key=_term_key)
        total = sum(cost for _f, _t, cost in costs)
        done = 0
        for fieldname, term, cost in costs:
            if done >= total * WRITE_SHARE:
                return fieldname, term
            done += cost
        return None

    def _write_later(self, connection, lengths: _Lengths, pivot: tuple) -> None:
        """In the forked writer: the terms from `pivot` on, written to a file of their own."""
        name = f"{os.getpid()}-{random.getrandbits(64):016x}.pst"
        postfile = self._tempstorage.create_file(name)
        detached = _DetachedFieldWriter(self.codec, postfile)
        self._write_terms(detached, lengths, self.pool.iter_terms(start=pivot, keep_runs=True))
        postfile.close()
        connection.send(("ok", name, detached.terms))

    def _write_terms(self, fieldwriter, lengths: _Lengths, terms: Iterable[tuple]) -> None:
        schema, current = self.schema, None
        for fieldname, term, columns, spelled in terms:
            if fieldname not in schema:
                continue
            if fieldname != current:
                if current is not None:
                    fieldwriter.finish_field()
                fieldwriter.start_field(fieldname, schema[fieldname])
                current = fieldname
            fieldwriter.start_term(term)
            if not columns[0]:
                _write_spelling(fieldwriter, spelled)
                continue
            else:
                if spelled or fieldname in self._spelling_fields:  # postings that may tie on a document
                    columns = tuple(map(list, zip(*_postings(columns, spelled), strict=True)))
                _fill_postings(fieldwriter._postwriter, *columns, lengths.of(fieldname))
            fieldwriter.finish_term()
        if current is not None:
            fieldwriter.finish_field()


class _SpellingBlocks(W3PostingsWriter):
    """Whoosh's postings writer for a spelling word's postings (all of document 0, weight 1): the
    ids and weights its _mini_ids and _mini_weights would make of them, without going through them."""

    def _mini_ids(self):
        return (0,) * len(self._ids)

    def _mini_weights(self):
        return None


def _write_spelling(fieldwriter, values: list) -> None:
    """A spelling word's postings, each of document 0 and weight 1 with one of `values`, in order."""
    counts = Counter(values)  # a document's value is shared by its words: few distinct ones
    values = list(itertools.chain.from_iterable(itertools.repeat(value, counts[value])
                                                for value in sorted(counts)))
    writer = fieldwriter._postwriter
    if type(writer) is W3PostingsWriter:
        writer.__class__ = _SpellingBlocks
    try:
        _fill_spelling(writer, values)
        fieldwriter.finish_term()
    finally:
        if type(writer) is _SpellingBlocks:
            writer.__class__ = W3PostingsWriter


def _fill_spelling(writer, values: list) -> None:
    """`_fill_postings` for a spelling word: every posting of document 0, weight 1, these values."""
    if writer._byteids or not isinstance(writer._ids, array):
        raise TypeError("the postings writer keeps byte ids; this writer does not handle them")
    limit = writer._blocklimit
    for start in range(0, len(values), limit):
        if start:
            writer._write_block()
        block = values[start:start + limit]
        writer._ids.extend([0] * len(block))
        writer._weights.extend([1] * len(block))
        writer._values.extend([value for value in block if value])
        if writer._maxweight < 1:
            writer._maxweight = 1


def _fill_postings(writer, ids: list, weights: list, values: list, lengths: list[int] | None) -> None:
    """Give Whoosh's W3PostingsWriter a term's postings a block at a time, leaving it in the state its
    `add_posting`, called once per posting, would leave it in."""
    if writer._byteids or not isinstance(writer._ids, array):
        raise TypeError("the postings writer keeps byte ids; this writer does not handle them")
    limit = writer._blocklimit
    for start in range(0, len(ids), limit):
        if start:
            writer._write_block()  # add_posting writes a full block when the next posting arrives
        if len(ids) <= limit:
            block_ids, block_weights, block_values = ids, weights, values
        else:
            end = start + limit
            block_ids, block_weights, block_values = ids[start:end], weights[start:end], values[start:end]
        writer._ids.extend(block_ids)
        writer._weights.extend(block_weights)
        writer._values.extend(block_values if all(block_values) else filter(None, block_values))
        heaviest = max(block_weights)
        if heaviest > writer._maxweight:
            writer._maxweight = heaviest
        if lengths is not None:
            found = list(filter(None, map(lengths.__getitem__, block_ids)))
            if found:
                shortest, longest = min(found), max(found)
                if writer._minlength is None or shortest < writer._minlength:
                    writer._minlength = shortest
                if longest > writer._maxlength:
                    writer._maxlength = longest


def writer(ix, **kwargs) -> FastSegmentWriter:
    """A writer for the index `ix` (as `ix.writer(**kwargs)`). Raises whoosh.index.LockError."""
    return FastSegmentWriter(ix, **kwargs)


def build_writer(ix, documents: int, limitmb: int) -> FastSegmentWriter:
    """A writer for filling the new, empty index `ix` with about `documents` documents: on two CPUs
    or more and from SPLIT_MIN_DOCUMENTS on, sharing its work with forked processes (see
    HELPER_SHARE); otherwise as `writer()`."""
    made = FastSegmentWriter(ix, limitmb=limitmb)
    if documents >= SPLIT_MIN_DOCUMENTS and cpus() >= 2 and made.can_split():
        try:
            made.split(documents)
        except OSError:  # no process to spare (a limit, or memory): this one does it all
            log.warning("search: could not fork a helper for the index build; building in one process",
                        exc_info=True)
        except BaseException:
            made.cancel()
            raise
    return made

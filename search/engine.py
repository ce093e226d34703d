"""The search engine: one Whoosh index directory, written only by jobs, read by every request.

Readers never write and never raise: a missing, corrupt or outdated index makes
`search()` answer "being rebuilt" and `suggest()` answer nothing. Writers (the jobs on
the `search` queue, and the CLI) take Whoosh's lock, waiting for it a while, and
commit once per batch. `rebuild()` builds a fresh index beside the live one and swaps
it in with a rename, so a reader sees the old index or the new one, never half of one.
"""

from __future__ import annotations

import copy
import fcntl
import heapq
import logging
import math
import os
import re
import shutil
import threading
import time
import uuid
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path

from markupsafe import Markup, escape
from whoosh import highlight, matching, scoring
from whoosh import index as whoosh_index
from whoosh import query as wq
from whoosh.collectors import TimeLimit, TimeLimitCollector, TopCollector
from whoosh.filedb.filestore import FileStorage

from search.bulk import PhraseMatcher, scored_matches
from search.documents import (
    ARTICLE,
    KIND_RE,
    REGISTRY,
    Document,
    DocumentError,
    Registry,
    checked_ids,
)
from search.query import BROAD_WILDCARD_MESSAGE, ParsedQuery, parse, plan, too_broad, word_spans
from search.schema import (
    PREFIX_MAX,
    RANK_FACTORS,
    RANK_OTHER,
    RANK_SOLVED,
    SCHEMA,
    PreferenceWeighting,
    same_schema,
    text_analyzer,
    to_fields,
    word_analyzer,
)
from search.writing import build_writer
from search.writing import writer as index_writer

log = logging.getLogger(__name__)

UNAVAILABLE_MESSAGE = "Search is being rebuilt; try again in a minute."
SOME_WORDS_MESSAGE = "Nothing matched all of your words; these results match some of them."
SLOW_MESSAGE = "That search took too long, so these are only the results found so far."

MAX_PAGE = 50  # 500 results at 10 a page; nobody reads further, and deep pages cost more
MAX_PER_PAGE = 50
SEARCH_TIME_LIMIT = 0.5  # seconds; a query still running then returns what it has
BATCH_SIZE = 500
BUILD_LIMIT_MB = 512  # a rebuild's postings in memory (~110 bytes each) before it spills a sorted run to disk
WRITE_LOCK_TIMEOUT = 15.0  # seconds a writer waits for another writer before giving up
REOPEN_AFTER = 1.0  # seconds between attempts to open an index that would not open
POOL_SIZE = 8
MAX_SUGGEST_WORDS = 8  # words of a typed title used for suggestions
MAX_CORRECTIONS = 5
LENGTHS_CACHED = 64  # (segment, field) pairs whose document lengths are kept in memory
_INDEX_NAME = "MAIN"
_SNIPPET_FALLBACK_CHARS = 240

_TEXT = text_analyzer()
_WORDS = word_analyzer()


class SearchUnavailable(RuntimeError):
    """The index is missing, corrupt or from an older schema; `missing` says which."""

    def __init__(self, message: str, *, missing: bool = False):
        super().__init__(message)
        self.missing = missing


class SearchIndexBusy(RuntimeError):
    """Another writer (or rebuild) held the index for too long; the job should run again later."""


# --- results -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """What a search is narrowed to: one kind, solved answers only (articles count), one category."""

    kind: str | None = None
    solved_only: bool = False
    category: str | None = None

    @classmethod
    def from_args(cls, args: Mapping) -> Filters:
        """Filters from query-string arguments `kind`, `solved` and `category`; bad values are ignored."""
        kind = str(args.get("kind") or "").strip().lower()
        category = str(args.get("category") or "").strip().lower()
        solved = str(args.get("solved") or "").strip().lower() in {"1", "true", "yes", "on"}
        return cls(kind=kind if KIND_RE.fullmatch(kind) else None, solved_only=solved,
                   category=category if _is_slug(category) else None)

    @classmethod
    def coerce(cls, value: Filters | Mapping | None) -> Filters:
        """Filters from Filters, a mapping with the same keys, or None. Raises TypeError for anything else."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, Mapping):
            args = dict(value)
            if "solved_only" in args:
                args["solved"] = "1" if args.pop("solved_only") else ""
            return cls.from_args(args)
        raise TypeError(f"filters must be Filters, a mapping or None, not {type(value).__name__}")

    def as_args(self) -> dict[str, str]:
        """These filters as the query-string arguments from_args reads, for links that keep them."""
        args = {"kind": self.kind or "", "solved": "1" if self.solved_only else "",
                "category": self.category or ""}
        return {name: value for name, value in args.items() if value}

    def query(self) -> wq.Query | None:
        """The Whoosh query these filters match, or None when nothing is filtered."""
        parts = []
        if self.kind:
            parts.append(wq.Term("kind", self.kind))
        if self.solved_only:
            parts.append(wq.Or([wq.Term("kind", ARTICLE), wq.Term("solved", True)]))
        if self.category:
            parts.append(wq.Term("category", self.category))
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else wq.And(parts)


def _is_slug(value: str) -> bool:
    return 0 < len(value) <= 80 and all(ch.isalnum() or ch in "-_" for ch in value)


@dataclass(frozen=True)
class Hit:
    """One search result; `title_html` and `snippet` are escaped HTML with <b class="match"> marks."""

    doc_id: str
    kind: str
    title: str
    url: str
    solved: bool
    category: str
    tags: tuple[str, ...]
    title_html: Markup
    snippet: Markup
    score: float


@dataclass(frozen=True)
class SearchResults:
    """A page of results, or the reason there are none (`message`, `error`, `unavailable`)."""

    query: str
    filters: Filters = field(default_factory=Filters)
    hits: tuple[Hit, ...] = ()
    total: int = 0  # matches; when not `total_exact` (the search ran out of time), those found so far
    total_exact: bool = True
    page: int = 1
    pages: int = 0
    per_page: int = 10
    suggestion: str | None = None  # "did you mean", as a whole corrected query
    message: str | None = None  # something to tell the person searching
    error: bool = False  # the query itself could not be run as typed
    unavailable: bool = False  # the index is being rebuilt
    elapsed_ms: float = 0.0

    @property
    def has_previous(self) -> bool:
        """Whether a page comes before this one."""
        return self.page > 1

    @property
    def has_next(self) -> bool:
        """Whether a page comes after this one (pages stop at MAX_PAGE)."""
        return self.page < min(self.pages, MAX_PAGE)


class _SafeFormatter(highlight.Formatter):
    """Whoosh highlight output with every character of the text escaped, matches in <b class="match">."""

    between = "\u2026"

    def format_token(self, text, token, replace=False):
        return Markup('<b class="match">{}</b>').format(highlight.get_text(text, token, replace))

    def format_fragment(self, fragment, replace=False):
        output, index, text = [], fragment.startchar, fragment.text
        for token in sorted(fragment.matches, key=lambda t: (t.startchar, t.startchar - t.endchar)):
            if token.startchar is None or token.startchar < index:
                continue
            output.append(escape(text[index:token.startchar]))
            output.append(self.format_token(text, token, replace))
            index = token.endchar
        output.append(escape(text[index:fragment.endchar]))
        return Markup("").join(output)

    def format(self, fragments, replace=False):
        return Markup("\u2026").join(self.format_fragment(f, replace=replace) for f in fragments)


_FORMATTER = _SafeFormatter()
_TITLE_HIGHLIGHTER = highlight.Highlighter(fragmenter=highlight.WholeFragmenter(), formatter=_FORMATTER)
_BODY_HIGHLIGHTER = highlight.Highlighter(
    fragmenter=highlight.ContextFragmenter(maxchars=240, surround=60), formatter=_FORMATTER)


# --- opening -------------------------------------------------------------------------------------


def _has_index(path: Path) -> bool:
    try:
        return any(name.startswith(f"_{_INDEX_NAME}_") and name.endswith(".toc") for name in os.listdir(path))
    except (FileNotFoundError, NotADirectoryError):
        return False


def open_index(path: str | os.PathLike, *, create: bool = False):
    """The Whoosh index at `path`, made empty first if there is none there and `create` is true.

    Raises SearchUnavailable (with `missing`) when there is no index, or one that does
    not open or was built with another schema.
    """
    path = Path(path)
    if not _has_index(path):
        if not create:
            raise SearchUnavailable(f"there is no search index in {path}", missing=True)
        path.mkdir(parents=True, exist_ok=True)
        return whoosh_index.create_in(str(path), SCHEMA, indexname=_INDEX_NAME)
    try:
        ix = whoosh_index.open_dir(str(path), indexname=_INDEX_NAME)
        matches = same_schema(ix.schema)
    except Exception as exc:
        raise SearchUnavailable(f"the search index in {path} does not open: {exc!r}") from exc
    if not matches:
        raise SearchUnavailable(f"the search index in {path} was built with another schema")
    return ix


def _batched(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


class _Swapped(Exception):
    """The index directory was swapped by a rebuild while it was being opened."""


class _Readers:
    """Searchers for one index directory, reused across requests and reopened when the index changes.

    A Whoosh searcher must not be used by two threads at once, so each request takes one
    from the pool and gives it back. A rebuild swaps the directory, which changes its inode:
    then every pooled searcher is dropped and the index opened again.
    """

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._index = None
        self._identity = None
        self._idle: list = []
        self._failed_at = None

    def reset(self) -> None:
        with self._lock:
            self._drop()
            self._failed_at = None

    def _drop(self) -> None:
        for searcher in self._idle:
            try:
                searcher.close()
            except Exception:  # a searcher on a broken index may fail to close; it is gone anyway
                log.debug("closing a searcher failed", exc_info=True)
        self._idle, self._index = [], None

    def _identity_now(self):
        for attempt in range(2):
            try:
                stat = os.stat(self.path)
                return stat.st_dev, stat.st_ino
            except FileNotFoundError:
                if attempt == 0 and self._identity is not None:
                    time.sleep(0.02)  # it was here: perhaps caught between the two renames of a swap
        raise SearchUnavailable(f"there is no search index in {self.path}", missing=True)

    def _checkout(self):
        for attempt in range(3):
            try:
                identity, ix, searcher = self._take()
            except _Swapped:
                if attempt == 2:
                    raise SearchUnavailable("rebuilds kept swapping the index while it opened") from None
                time.sleep(0.02)
                continue
            if searcher is not None:
                if searcher.up_to_date():
                    return searcher
                # Not searcher.refresh(): whoosh-reloaded 2.7.5 reuses the old segment readers there,
                # keeping their old deletions (a removed or replaced document would still be found).
                searcher.close()
            try:
                return ix.searcher(weighting=_Weighting())
            except Exception:
                # A rebuild may have swapped the directory since it was opened (or be between its two
                # renames): that is no damage, so open the index there now instead.
                if attempt == 2 or not self._swapped_since(identity):
                    raise
                time.sleep(0.02)
        raise AssertionError("unreachable")

    def _swapped_since(self, identity) -> bool:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return True
        return (stat.st_dev, stat.st_ino) != identity

    def _take(self):
        """Under the lock: the directory's identity, its open index and an idle searcher, if any."""
        with self._lock:
            if self._pid != os.getpid():  # forked: the parent's open files are not ours to share
                self._idle, self._index, self._identity, self._pid = [], None, None, os.getpid()
            identity = self._identity_now()
            if identity != self._identity:  # first use, or a rebuild swapped the directory
                self._drop()
                self._identity, self._failed_at = identity, None
            if self._index is None:
                if self._failed_at is not None and time.monotonic() - self._failed_at < REOPEN_AFTER:
                    raise SearchUnavailable("the search index did not open a moment ago")
                try:
                    self._index = open_index(self.path)
                except SearchUnavailable:
                    if self._swapped_since(identity):
                        raise _Swapped from None
                    self._failed_at = time.monotonic()
                    raise
                self._failed_at = None
            return identity, self._index, self._idle.pop() if self._idle else None

    def _checkin(self, searcher) -> None:
        with self._lock:
            if len(self._idle) < POOL_SIZE:
                self._idle.append(searcher)
                return
        searcher.close()

    @contextmanager
    def searcher(self):
        """A searcher for the latest index. Raises SearchUnavailable, also for errors while using it."""
        try:
            searcher = self._checkout()
        except SearchUnavailable:
            raise
        except Exception as exc:
            self._broken(exc)
            raise SearchUnavailable(f"the search index does not open: {exc!r}") from exc
        try:
            yield searcher
        except Exception as exc:
            try:
                searcher.close()
            except Exception:  # closing a reader on damaged files can fail too
                log.debug("closing a broken searcher failed", exc_info=True)
            self._broken(exc)
            raise SearchUnavailable(f"reading the search index failed: {exc!r}") from exc
        self._checkin(searcher)

    def _broken(self, exc: Exception) -> None:
        log.error("the search index in %s failed; search is unavailable until it is rebuilt",
                  self.path, exc_info=exc)
        with self._lock:
            self._drop()
            self._failed_at = time.monotonic()


# --- the engine -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class IndexStatus:
    """What the index holds: documents per kind, or why it cannot say."""

    path: str
    available: bool
    counts: dict[str, int]
    message: str | None = None

    @property
    def total(self) -> int:
        """Documents of every kind together."""
        return sum(self.counts.values())


class SearchEngine:
    """The index in one directory, the document types it is filled from, and every operation on it."""

    def __init__(self, path: str | os.PathLike, registry: Registry = REGISTRY):
        self.path = Path(path).absolute()
        self.registry = registry
        self._readers = _Readers(self.path)
        self._write_lock = threading.Lock()

    def close(self) -> None:
        """Close the searchers this process holds (they reopen on the next search)."""
        self._readers.reset()

    # --- writing ---

    def index(self, docs: Document | Iterable[Document]) -> int:
        """Add or replace documents, in one commit. Returns how many were written (0 if the index is
        unusable and waits for a rebuild). Raises DocumentError for a non-document, SearchIndexBusy."""
        docs = [docs] if isinstance(docs, Document) else list(docs)
        for doc in docs:
            if not isinstance(doc, Document):
                raise DocumentError(f"index() takes Document objects, not {doc!r}")
        latest = {doc.doc_id: doc for doc in docs}
        return self._write(latest.values(), [])[0]

    def remove(self, doc_ids: str | Iterable[str]) -> int:
        """Remove documents by id, in one commit; unknown ids are fine. Returns how many ids were removed
        (0 if the index is unusable). Raises DocumentError for a malformed id, SearchIndexBusy."""
        return self._write([], checked_ids(doc_ids))[1]

    def sync(self, doc_ids: str | Iterable[str]) -> dict[str, int]:
        """Make the index match the database for these ids: load them, index what loads, remove the rest.

        Ids of kinds not registered in this process are left alone. Raises DocumentError
        for a malformed id, SearchIndexBusy.
        """
        ids = checked_ids(doc_ids)
        found, unknown = self.registry.load(ids)
        if unknown:
            log.warning("search: no document type registered for %s; left as they are", unknown)
        gone = [doc_id for doc_id in ids if doc_id not in found and doc_id not in unknown]
        indexed, removed = self._write(found.values(), gone)
        return {"indexed": indexed, "removed": removed, "unknown": len(unknown)}

    def _write(self, docs: Iterable[Document], remove_ids: list[str]) -> tuple[int, int]:
        docs = list(docs)
        if not docs and not remove_ids:
            return 0, 0
        with self._write_lock:
            ix = self._writable_index()
            if ix is None:
                return 0, 0
            writer = self._writer(ix)
            try:
                for doc_id in remove_ids:
                    writer.delete_by_term("doc_id", doc_id)
                for doc in docs:
                    writer.update_document(**to_fields(doc))
            except BaseException:
                writer.cancel()
                raise
            writer.commit()
        return len(docs), len(remove_ids)

    def _writable_index(self):
        try:
            return open_index(self.path)
        except SearchUnavailable as exc:
            if not exc.missing:
                log.warning("search: %s; skipping this write, the reconcile job rebuilds the index", exc)
                return None
        with self._rebuild_lock() as acquired:
            if not acquired:  # a rebuild is making the index; it reads the database after us
                log.info("search: the index is being rebuilt; skipping this write")
                return None
            return open_index(self.path, create=True)

    def _writer(self, ix):
        deadline = time.monotonic() + WRITE_LOCK_TIMEOUT
        while True:
            try:
                return index_writer(ix, timeout=min(1.0, WRITE_LOCK_TIMEOUT))
            except whoosh_index.LockError as exc:
                if time.monotonic() >= deadline:
                    raise SearchIndexBusy(
                        f"another process kept the search index locked for {WRITE_LOCK_TIMEOUT:.0f}s"
                    ) from exc

    # --- reading ---

    def search(self, query_text: str | None, filters: Filters | Mapping | None = None, page: int = 1,
               per_page: int = 10) -> SearchResults:
        """One page of results for what someone typed. Bad input, an empty query or an index being
        rebuilt come back as a result with a message; only a non-Filters `filters` raises (TypeError)."""
        started = time.perf_counter()
        filters = Filters.coerce(filters)
        page, per_page = _clamp(page, 1, MAX_PAGE), _clamp(per_page, 1, MAX_PER_PAGE)
        parsed = parse(query_text)
        base = {"query": parsed.text, "filters": filters, "page": page, "per_page": per_page}
        if parsed.query is None:
            result = SearchResults(**base, message=parsed.message, error=parsed.error)
        else:
            try:
                with self._readers.searcher() as searcher:
                    result = self._search(searcher, parsed, base)
            except SearchUnavailable:
                result = SearchResults(**base, message=UNAVAILABLE_MESSAGE, unavailable=True)
        return replace(result, elapsed_ms=round((time.perf_counter() - started) * 1000, 2))

    def _search(self, searcher, parsed: ParsedQuery, base: dict) -> SearchResults:
        page, per_page, filters = base["page"], base["per_page"], base["filters"]
        reader = searcher.reader()
        if too_broad(parsed.query, reader):
            return SearchResults(**base, message=BROAD_WILDCARD_MESSAGE, error=True)
        main, fallback = _queries(parsed, reader, filters)
        wanted = page * per_page
        results, slow = _collect(searcher, main, wanted)
        message = SLOW_MESSAGE if slow else None
        if not len(results) and fallback is not None:
            looser, slow = _collect(searcher, fallback, wanted)
            if len(looser):
                results, message = looser, SLOW_MESSAGE if slow else SOME_WORDS_MESSAGE
        total, exact = len(results), not slow  # out of time: the matches found so far
        pages = math.ceil(total / per_page)
        page = max(1, min(page, pages))
        hits = tuple(_hit(hit) for hit in results[(page - 1) * per_page: page * per_page])
        suggestion = _did_you_mean(reader, parsed)
        return SearchResults(**{**base, "page": page}, hits=hits, total=total, total_exact=exact,
                             pages=pages, suggestion=suggestion, message=message)

    def suggest(self, text: str | None, limit: int = 6, *, solved_only: bool = False) -> list[dict]:
        """Documents whose titles start like the words typed so far (the ask form's hint), best first:
        `[{doc_id, kind, title, url, solved}]`. Never raises: an unusable index suggests nothing."""
        limit = _clamp(limit, 1, 20)
        words = list(dict.fromkeys(t.text for t in _WORDS(str(text or "")[:300])))[:MAX_SUGGEST_WORDS]
        if not words:
            return []
        try:
            with self._readers.searcher() as searcher:
                reader = searcher.reader()
                found = []
                for docnum in _suggestions(reader, words, limit, solved_only):
                    fields = reader.stored_fields(docnum)
                    found.append({"doc_id": fields["doc_id"], "kind": fields.get("kind", ""),
                                  "title": fields.get("title", ""), "url": fields.get("url", ""),
                                  "solved": bool(fields.get("solved"))})
                return found
        except SearchUnavailable:
            return []

    def status(self) -> IndexStatus:
        """Documents per kind in the index (read fresh, not through the request searchers). Never raises."""
        try:
            inventory = self._inventory()
        except SearchUnavailable as exc:
            message = UNAVAILABLE_MESSAGE if exc.missing else f"{UNAVAILABLE_MESSAGE} ({exc})"
            return IndexStatus(str(self.path), False, {}, message)
        counts: dict[str, int] = {}
        for doc_id in inventory:
            kind = doc_id.partition(":")[0]
            counts[kind] = counts.get(kind, 0) + 1
        return IndexStatus(str(self.path), True, counts)

    def _inventory(self) -> dict[str, str]:
        """`{doc_id: updated stamp}` of every live document in the index. Raises SearchUnavailable."""
        ix = open_index(self.path)
        try:
            with ix.reader() as reader:
                if reader.doc_count_all() == 0:
                    return {}  # a new, empty index has no segments and so no columns to read
                ids = reader.column_reader("doc_id")
                stamps = reader.column_reader("updated") if reader.has_column("updated") else None
                return {ids[n]: (stamps[n].decode() if stamps is not None else "")
                        for n in reader.all_doc_ids()}
        except Exception as exc:
            raise SearchUnavailable(f"the search index in {self.path} does not read: {exc!r}") from exc

    # --- repairing ---

    def reconcile(self, batch_size: int = BATCH_SIZE) -> dict[str, int]:
        """Repair drift between the database and the index: index what is missing or changed, remove
        what should not be there. An index that will not open is rebuilt. Raises SearchIndexBusy."""
        try:
            inventory = self._inventory()
        except SearchUnavailable as exc:
            log.warning("search: %s; rebuilding it", exc)
            return {"added": 0, "updated": 0, "removed": 0, "rebuilt": self.rebuild(batch_size=batch_size)}
        return self._repair(inventory, batch_size)

    def _repair(self, inventory: dict[str, str], batch_size: int) -> dict[str, int]:
        counts = {"added": 0, "updated": 0, "removed": 0, "rebuilt": 0}
        to_sync, seen = [], set()
        for doc_type in self.registry:
            for doc_id, version in self.registry.versions(doc_type.kind):
                seen.add(doc_id)
                indexed = inventory.get(doc_id)
                if indexed is None:
                    to_sync.append(doc_id)
                    counts["added"] += 1
                elif version is not None and version != indexed:
                    to_sync.append(doc_id)
                    counts["updated"] += 1
        stale = [doc_id for doc_id in inventory
                 if doc_id not in seen and doc_id.partition(":")[0] in self.registry]
        counts["removed"] = len(stale)
        for batch in _batched(to_sync, batch_size):
            self.sync(batch)
        for batch in _batched(stale, batch_size):
            self.remove(batch)
        return counts

    def rebuild(self, progress: Callable[[int, int], object] | None = None,
                batch_size: int = BATCH_SIZE) -> int:
        """Build a new index from every registered type beside the live one and swap it in; then
        catch up with changes made meanwhile. `progress(done, total)` is called after each batch.
        Returns the number of documents indexed. Raises SearchIndexBusy if a rebuild is running."""
        with self._rebuild_lock() as acquired:
            if not acquired:
                raise SearchIndexBusy("another rebuild of the search index is running")
            self._remove_leftovers()
            total = sum(self.registry.counts().values())
            if progress:
                progress(0, total)
            fresh = self._sibling("rebuild")
            try:
                written = self._build(fresh, progress, total, batch_size)
                self._swap_in(fresh)
            finally:
                if fresh.exists():
                    shutil.rmtree(fresh, ignore_errors=True)
        self._readers.reset()
        try:  # changes committed while we were building went to the old index (or nowhere)
            self._repair(self._inventory(), batch_size)
        except SearchUnavailable:
            log.exception("search: the index just built does not read")
            raise
        return written

    def _build(self, folder: Path, progress, total: int, batch_size: int) -> int:
        folder.mkdir(parents=True)
        ix = whoosh_index.create_in(str(folder), SCHEMA, indexname=_INDEX_NAME)
        writer = build_writer(ix, total, limitmb=BUILD_LIMIT_MB)
        written, done, seen = 0, 0, set()
        try:
            for doc_type in self.registry:
                doc_ids = (doc_id for doc_id, _version in self.registry.versions(doc_type.kind))
                for batch in _batched(doc_ids, batch_size):
                    found, _unknown = self.registry.load(batch)
                    for doc_id, doc in found.items():
                        if doc_id not in seen:
                            seen.add(doc_id)
                            writer.add_document(**to_fields(doc))
                            written += 1
                    done += len(batch)
                    if progress:
                        progress(done, total)
        except BaseException:
            writer.cancel()
            raise
        writer.commit()
        return written

    def _swap_in(self, fresh: Path) -> None:
        with self._write_lock:
            old, lock = None, None
            if self.path.is_dir():
                # Hold the live index's write lock so no writer is half-way through a commit to it.
                lock = FileStorage(str(self.path)).lock(f"{_INDEX_NAME}_WRITELOCK")
                deadline = time.monotonic() + WRITE_LOCK_TIMEOUT
                while not lock.acquire(blocking=False):
                    if time.monotonic() >= deadline:
                        raise SearchIndexBusy("a writer kept the search index locked; the rebuild was "
                                              "not swapped in")
                    time.sleep(0.05)
            try:
                if self.path.exists() or self.path.is_symlink():
                    old = self._sibling("old")
                    os.rename(self.path, old)
                try:
                    os.rename(fresh, self.path)
                except OSError:
                    if old is not None:
                        os.rename(old, self.path)
                    raise
            finally:
                if lock is not None:
                    lock.release()
            if old is not None:
                if old.is_dir():
                    shutil.rmtree(old, ignore_errors=True)
                else:
                    old.unlink(missing_ok=True)

    def _sibling(self, tag: str) -> Path:
        return self.path.parent / f".{self.path.name}.{tag}-{os.getpid()}-{uuid.uuid4().hex[:8]}"

    def _remove_leftovers(self) -> None:
        for tag in ("rebuild", "old"):
            for leftover in self.path.parent.glob(f".{self.path.name}.{tag}-*"):
                shutil.rmtree(leftover, ignore_errors=True)

    @contextmanager
    def _rebuild_lock(self):
        """Yields True if this process now holds the rebuild lock, False if someone else does."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.parent / f".{self.path.name}.rebuild.lock"
        with open(lock_path, "a+b") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


# --- helpers for search ---------------------------------------------------------------------------


def _clamp(value, low: int, high: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return low
    return max(low, min(high, number))


def _binary_unions(q: wq.Query) -> wq.Query:
    """Make every OR in the query use Whoosh's binary union matchers.

    On indexes under 5,000 documents Whoosh picks an array matcher whose score bound is
    the largest of its parts' bounds, though its scores are their sum; ranking the top
    results then skips documents that belong there. The binary matchers add bounds up.
    """
    if isinstance(q, wq.Or):
        q.matcher_type = wq.Or.DEFAULT_MATCHER
    for child in q.children():
        _binary_unions(child)
    return q


def _queries(parsed: ParsedQuery, reader, filters: Filters) -> tuple[wq.Query, wq.Query | None]:
    """The query a search runs and the looser one it runs when that finds nothing (or None)."""
    main, fallback = plan(parsed.query, reader)
    main, fallback = _fast_phrases(main), None if fallback is None else _fast_phrases(fallback)
    filter_query = filters.query()
    # The filter narrows without ranking: ConstantScoreQuery adds the same score to every match (1.0,
    # not the 0.0 given, which Whoosh reads as "not set"), so the order is the unfiltered one.
    if filter_query is not None:
        narrow = wq.ConstantScoreQuery(filter_query, 0.0)
        main = wq.And([main, narrow])
        fallback = None if fallback is None else wq.And([fallback, narrow])
    return main, fallback


def _collect(searcher, q: wq.Query, limit: int):
    """The top `limit` results and the number of matches, stopping after SEARCH_TIME_LIMIT;
    (results, timed_out)."""
    # Every match is scored, which also counts them. Whoosh's shortcuts that skip documents
    # unable to reach the top are not exact in whoosh-reloaded 2.7.5 (its matcher replacement
    # takes a posting block's bound for the whole list's), and on these short lists they
    # saved little.
    q = _binary_unions(q)
    collector = TimeLimitCollector(_TopAtOnce(limit, usequality=False, replace=0),
                                   timelimit=SEARCH_TIME_LIMIT, use_alarm=False)
    try:
        searcher.search_with_collector(q, collector)
    except TimeLimit:
        log.warning("search: query %s ran out of time", q)
        return collector.results(), True
    return collector.results(), False


class _TopAtOnce(TopCollector):
    """TopCollector taking each segment's matches and their scores from search.bulk, all at once (the
    documents and scores Whoosh's matchers give one at a time, sooner); a matcher tree search.bulk
    does not know is stepped through as before. The matches still come one at a time, so the
    time limit and the top results are kept as TopCollector keeps them."""

    _scores: dict[int, float] | None = None

    def matches(self):
        found = scored_matches(self.matcher)
        if found is None:
            self._scores = None
            return super().matches()
        docs, scores = found
        self._scores = dict(zip(docs, scores, strict=True))
        return iter(docs)

    def collect(self, sub_docnum):
        if self._scores is None:
            return super().collect(sub_docnum)
        global_docnum = self.offset + sub_docnum
        score = self._scores[sub_docnum]
        if self.final_fn:
            score = self.final_fn(self.top_searcher, global_docnum, score)
        return self._collect(global_docnum, score)


# --- the same scores and matches as Whoosh's own code, sooner ----------------------------------------
# On a large forum a query of common words matches thousands of documents, and every match is
# scored (see _collect). Two of Whoosh's per-match steps cost far more than their work needs;
# these replace them with code that gives the same numbers and the same matches.

_lengths: dict[tuple[str, str], array] = {}
_lengths_lock = threading.Lock()


def _field_lengths(reader, fieldname: str) -> array | None:
    """Every document's length in `fieldname` in one segment, as `reader.doc_field_length(n, fieldname,
    1)` gives it, read once per segment and process (a segment's lengths never change, deletions
    included; 4 bytes a document). An empty field is 0 where Whoosh says None: no term of the field
    matches such a document, so it is never scored. None for a reader of several segments."""
    segment = reader.segment() if reader.is_atomic() else None
    if segment is None:
        return None
    key = (segment.segment_id(), fieldname)
    lengths = _lengths.get(key)
    if lengths is None:
        lengths = array("I", (reader.doc_field_length(docnum, fieldname, 1) or 0
                              for docnum in range(reader.doc_count_all())))
        with _lengths_lock:
            _lengths[key] = lengths
            while len(_lengths) > LENGTHS_CACHED:
                del _lengths[next(iter(_lengths))]
    return lengths


class _Weighting(PreferenceWeighting):
    """PreferenceWeighting, with BM25F reading each document's field length from an array.

    Whoosh's BM25F scorer looks the length up per match through four calls and a column read
    (a sixth of a common-word query's time); the array gives the same numbers to the same
    formula, so scores are identical to the last bit.
    """

    def scorer(self, searcher, fieldname, text, qf=1):
        scorer = super().scorer(searcher, fieldname, text, qf=qf)
        inner = getattr(scorer, "inner", None)
        if type(inner) is scoring.BM25FScorer:
            lengths = _field_lengths(searcher.reader(), fieldname)
            if lengths is not None:
                inner.dfl = lengths.__getitem__
        return scorer


class _Phrase(wq.Phrase):
    """wq.Phrase (slop 1) matched by search.bulk.PhraseMatcher: the same documents, the same scores."""

    def matcher(self, searcher, context=None):
        field_type = searcher.schema[self.fieldname] if self.fieldname in searcher.schema else None
        if self.slop != 1 or field_type is None or not field_type.format \
                or not field_type.format.supports("positions"):
            return super().matcher(searcher, context)
        reader, terms = searcher.reader(), []
        for word in self.words:  # as wq.Phrase.matcher does
            try:
                word = field_type.to_bytes(word)
            except ValueError:
                return matching.NullMatcher()
            if (self.fieldname, word) not in reader:
                return matching.NullMatcher()
            terms.append(wq.Term(self.fieldname, word))
        found = PhraseMatcher([term.matcher(searcher, context) for term in terms])
        return found if self.boost == 1.0 else matching.WrappingMatcher(found, boost=self.boost)


def _fast_phrases(q: wq.Query) -> wq.Query:
    """The query with every phrase of slop 1 as a _Phrase; the query itself is left as it was.

    Not `Query.accept`: its copies drop attributes their constructors are not given (an
    Or's scale, a ConstantScoreQuery's score). Node types not listed here keep their phrases.
    """
    if type(q) is wq.Phrase:
        if q.slop != 1:
            return q
        return _Phrase(q.fieldname, q.words, slop=1, boost=q.boost, char_ranges=q.char_ranges)
    if isinstance(q, wq.BinaryQuery):
        a, b = _fast_phrases(q.a), _fast_phrases(q.b)
        if a is q.a and b is q.b:
            return q
        q = copy.copy(q)
        q.a, q.b = a, b
        q.subqueries = (a, b)
        return q
    if isinstance(q, wq.CompoundQuery):
        subqueries = [_fast_phrases(sub) for sub in q.subqueries]
        if all(new is old for new, old in zip(subqueries, q.subqueries, strict=True)):
            return q
        q = copy.copy(q)
        q.subqueries = subqueries
        return q
    if isinstance(q, wq.Not):
        inner = _fast_phrases(q.query)
        if inner is q.query:
            return q
        q = copy.copy(q)
        q.query = inner
        return q
    return q


def _hit(hit) -> Hit:
    fields = hit.fields()
    title = fields.get("title", "")
    excerpt = fields.get("snippet_text", "")
    # The formatter escapes the text and adds only its own marks, so both are Markup already.
    title_html = _TITLE_HIGHLIGHTER.highlight_hit(hit, "title", text=title) or escape(title)
    snippet = _BODY_HIGHLIGHTER.highlight_hit(hit, "body", text=excerpt, top=2) if excerpt else ""
    if not snippet:
        cut = excerpt[:_SNIPPET_FALLBACK_CHARS]
        snippet = escape(cut + ("\u2026" if len(excerpt) > len(cut) else ""))
    tags = tuple(tag for tag in fields.get("tags", "").split(",") if tag)
    return Hit(doc_id=fields["doc_id"], kind=fields.get("kind", ""), title=title, url=fields.get("url", ""),
               solved=bool(fields.get("solved")), category=fields.get("category", ""), tags=tags,
               title_html=escape(title_html), snippet=escape(snippet), score=hit.score)


def _suggestions(reader, words: list[str], limit: int, solved_only: bool) -> list[int]:
    """Document numbers of the best titles for the words typed, straight from the title postings.

    A title matches a word when one of its words starts like it (or shares its stem).
    Once several words are typed, a title must match two of them (one shared word is
    noise). Titles matching more words come first, then by the rarity of the words
    matched times the document's preference factor, then shorter titles. Set arithmetic
    on posting lists keeps this to a few milliseconds however common the words are.
    """
    doc_count = max(reader.doc_count(), 1)
    matched: Counter = Counter()
    weight: dict[int, float] = {}
    for word in words:
        docs: set[int] = set()
        terms = [("title_prefix", word[:PREFIX_MAX])] + [("title", t.text) for t in _TEXT(word)]
        for fieldname, term in terms:
            if (fieldname, term) in reader:
                docs.update(reader.postings(fieldname, term).all_ids())
        rarity = math.log(doc_count / max(len(docs), 1)) + 1
        for docnum in docs:
            matched[docnum] += 1
            weight[docnum] = weight.get(docnum, 0.0) + rarity
    needed = 1 if len(words) == 1 else 2
    if not matched:
        return []
    column = reader.column_reader("rank") if reader.has_column("rank") else None
    ranks = (lambda docnum: column[docnum]) if column is not None else (lambda docnum: RANK_OTHER)
    candidates = [docnum for docnum, count in matched.items()
                  if count >= needed and (not solved_only or ranks(docnum) >= RANK_SOLVED)]

    def order(docnum):
        factor = RANK_FACTORS.get(ranks(docnum), 1.0)
        return matched[docnum], weight[docnum] * factor, -reader.doc_field_length(docnum, "title", 0), -docnum

    return heapq.nlargest(limit, candidates, key=order)


def _did_you_mean(reader, parsed: ParsedQuery) -> str | None:
    """The query with words the index has never seen replaced by the closest words it has, or None.

    A typo is corrected the same way wherever it is typed, and never into a word the query already
    has (or another typo's correction): "wya OR way" must not become "way OR way", which reads as
    nonsense and finds nothing new. A suggestion that reads as the query does is no suggestion.
    """
    text = parsed.text
    taken = _stems(text)  # the query's own words: a correction repeating one is refused
    fixes: dict[str, str] = {}
    for start, end, fieldname, term in word_spans(parsed.query):
        typed = text[start:end]
        if typed.casefold() in fixes or reader.doc_frequency(fieldname, term) \
                or reader.doc_frequency("body", term):  # title:word with the word only in bodies
            continue
        fix = _closest_word(reader, typed, avoid=taken)
        if fix:
            fixes[typed.casefold()] = fix
            taken |= _stems(fix)
            if len(fixes) >= MAX_CORRECTIONS:
                break
    if not fixes:
        return None
    # Every occurrence, not only the spans: the parser keeps one of "wya OR wya", and a
    # half-corrected "way OR wya" would be no better.
    typos = "|".join(map(re.escape, sorted(fixes, key=len, reverse=True)))
    pattern = re.compile(rf"(?<!\w)(?<!\w\.)(?:{typos})(?!\w)(?!\.\w)", re.IGNORECASE)
    suggestion = pattern.sub(lambda match: fixes.get(match.group(0).casefold(), match.group(0)), text)
    return None if suggestion.casefold() == text.casefold() else suggestion


def _stems(text: str) -> set[str]:
    """The indexed forms of the words of `text` ("printers" and "printer" are one word)."""
    return {token.text for token in _TEXT(text)}


def _closest_word(reader, word: str, avoid: set[str] = frozenset()) -> str | None:
    """The indexed word nearest to `word` (one edit, else two; same first letter), the most common
    first, leaving out words whose indexed form is in `avoid`."""
    keys = [t.text for t in _WORDS(word)]
    if len(keys) != 1 or len(keys[0]) < 3:
        return None
    key = keys[0]
    for maxdist in (1, 2):
        candidates = set()
        # Each segment looks its words up in the unstemmed spelling field with an automaton;
        # the multi-segment reader would scan the stemmed words instead.
        for segment, _offset in reader.leaf_readers():
            candidates.update(segment.terms_within("body", key, maxdist, prefix=1))
        candidates.discard(key)
        candidates = {candidate for candidate in candidates if not _stems(candidate) & avoid}
        if candidates:
            return max(sorted(candidates), key=lambda w: reader.doc_frequency("spell_body", w))
    return None

"""What the engine indexes: the `Document` record and the registry of document types.

Domain packages (forum threads, KB articles) register a type with three functions that
read the database, and optionally a fourth giving the facts a results page shows beside each
hit; the engine calls them and never imports the packages themselves.
A document id is `"<kind>:<key>"`, for example `"thread:12"` or `"article:3"`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from core.clock import as_utc

THREAD, ARTICLE = "thread", "article"
KIND_RE = re.compile(r"[a-z][a-z0-9_]{0,29}")
KEY_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class DocumentError(ValueError):
    """A document, document id or document type that breaks the rules above."""


def make_doc_id(kind: str, key: object) -> str:
    """`"kind:key"` for a kind and a database key. Raises DocumentError for a malformed one."""
    doc_id = f"{kind}:{key}"
    split_doc_id(doc_id)
    return doc_id


def split_doc_id(doc_id: object) -> tuple[str, int | str]:
    """The kind and key of `"kind:key"`; an all-digit key comes back as an int.

    Raises DocumentError for anything else (not a string, no colon, odd characters).
    """
    if not isinstance(doc_id, str):
        raise DocumentError(f"a document id is a string like 'thread:12', not {doc_id!r}")
    kind, sep, key = doc_id.partition(":")
    if not sep or not KIND_RE.fullmatch(kind) or not KEY_RE.fullmatch(key):
        raise DocumentError(f"a document id looks like 'thread:12', not {doc_id!r}")
    return kind, int(key) if key.isdigit() else key


def checked_ids(doc_ids: str | Iterable[str]) -> list[str]:
    """The ids in order without repeats (one string counts as one id). Raises DocumentError for a bad one."""
    if isinstance(doc_ids, str):
        doc_ids = [doc_ids]
    doc_ids = list(doc_ids)
    for doc_id in doc_ids:
        split_doc_id(doc_id)
    return list(dict.fromkeys(doc_ids))


def stamp(value: datetime | None) -> str:
    """A datetime as the UTC ISO text stored in the index ("" for None), so versions compare exactly."""
    if value is None:
        return ""
    return as_utc(value).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class Document:
    """One searchable thing: a forum thread with its visible answers, or a KB article.

    `body` is plain text. `updated_at` must be the same value the type's `all_ids()`
    reports for it, so that `reconcile()` can see which documents changed.
    """

    doc_id: str
    kind: str
    title: str
    body: str = ""
    tags: Sequence[str] = field(default_factory=tuple)
    category: str = ""
    solved: bool = False
    url: str = ""
    updated_at: datetime | None = None

    def __post_init__(self):
        kind, _key = split_doc_id(self.doc_id)
        if kind != self.kind:
            raise DocumentError(f"document {self.doc_id!r} must have kind {kind!r}, not {self.kind!r}")
        if isinstance(self.tags, str):
            raise DocumentError("tags are a list of strings, not one string")
        object.__setattr__(self, "tags", tuple(str(tag) for tag in self.tags))


@dataclass(frozen=True)
class HitFacts:
    """What a results page shows beside a hit, read fresh from the database (never stale like the
    index): each is None when it does not apply to that kind of document.

    `votes` is whatever the type says a document's votes are (threads: the top answer's score),
    `date` the moment `date_label` names ("asked", "updated").
    """

    category: str | None = None
    category_url: str | None = None
    answers: int | None = None
    votes: int | None = None
    solved: bool | None = None
    date_label: str | None = None
    date: datetime | None = None
    last_activity: datetime | None = None


@dataclass(frozen=True)
class DocumentType:
    """How one kind of document is read from the database.

    - `load(keys)` returns the documents for those keys that should be searchable now;
      a key it leaves out (deleted, hidden, never existed) is removed from the index.
    - `all_ids()` yields every key `load` would return a document for, either as bare
      keys or as `(key, updated_at)` pairs; with pairs, reconcile also re-indexes
      documents whose `updated_at` differs from the index.
    - `count()` is how many such documents there are (for status and progress bars).
    - `facts(keys)` (optional) returns `{key: HitFacts}` for the keys of one results page, in one
      query; keys it leaves out show no facts.
    """

    kind: str
    load: Callable[[list], Iterable[Document]]
    all_ids: Callable[[], Iterable]
    count: Callable[[], int]
    facts: Callable[[list], Mapping] | None = None


class Registry:
    """The document types known to this process, by kind."""

    def __init__(self):
        self._types: dict[str, DocumentType] = {}

    def register(self, kind: str, *, load, all_ids, count, facts=None) -> DocumentType:
        """Add (or replace) a document type. Raises DocumentError for a bad kind or a missing function."""
        if not isinstance(kind, str) or not KIND_RE.fullmatch(kind):
            raise DocumentError(f"a document kind is a short lowercase word, not {kind!r}")
        for name, func in (("load", load), ("all_ids", all_ids), ("count", count)):
            if not callable(func):
                raise DocumentError(f"register_type({kind!r}) needs a callable {name}")
        if facts is not None and not callable(facts):
            raise DocumentError(f"register_type({kind!r}): facts must be callable")
        doc_type = DocumentType(kind, load, all_ids, count, facts)
        self._types[kind] = doc_type
        return doc_type

    def unregister(self, kind: str) -> None:
        """Forget a document type (no error if it was not registered)."""
        self._types.pop(kind, None)

    def kinds(self) -> list[str]:
        """The registered kinds, in the order they were registered."""
        return list(self._types)

    def __contains__(self, kind: object) -> bool:
        return kind in self._types

    def __iter__(self) -> Iterator[DocumentType]:
        return iter(list(self._types.values()))

    def load(self, doc_ids: Iterable[str]) -> tuple[dict[str, Document], list[str]]:
        """Documents for the ids, and the ids whose kind is not registered here.

        Ids of a registered kind missing from the returned dict are not searchable any
        more. Raises DocumentError for a malformed id or a loader that returns a
        document it was not asked for.
        """
        wanted: dict[str, dict[str, int | str]] = {}
        unknown = []
        for doc_id in dict.fromkeys(doc_ids):
            kind, key = split_doc_id(doc_id)
            if kind in self._types:
                wanted.setdefault(kind, {})[doc_id] = key
            else:
                unknown.append(doc_id)
        found: dict[str, Document] = {}
        for kind, ids in wanted.items():
            for doc in self._types[kind].load(list(ids.values())):
                if not isinstance(doc, Document) or doc.doc_id not in ids:
                    raise DocumentError(f"the {kind!r} loader returned {doc!r}, which was not asked for")
                found[doc.doc_id] = doc
        return found, unknown

    def facts(self, doc_ids: Iterable[str]) -> dict[str, HitFacts]:
        """The facts of each of these documents whose type gives any: one call (one query) per kind.

        Raises DocumentError for a malformed id.
        """
        wanted: dict[str, dict[int | str, str]] = {}
        for doc_id in dict.fromkeys(doc_ids):
            kind, key = split_doc_id(doc_id)
            doc_type = self._types.get(kind)
            if doc_type is not None and doc_type.facts is not None:
                wanted.setdefault(kind, {})[key] = doc_id
        found: dict[str, HitFacts] = {}
        for kind, keys in wanted.items():
            for key, facts in self._types[kind].facts(list(keys)).items():
                if key in keys:
                    found[keys[key]] = facts
        return found

    def versions(self, kind: str) -> Iterator[tuple[str, str | None]]:
        """`(doc_id, stamp)` for every searchable document of a kind; stamp None when not reported."""
        for item in self._types[kind].all_ids():
            if isinstance(item, tuple):
                key, updated_at = item
                yield make_doc_id(kind, key), stamp(updated_at)
            else:
                yield make_doc_id(kind, item), None

    def counts(self) -> dict[str, int]:
        """How many searchable documents of each kind the database holds."""
        return {doc_type.kind: int(doc_type.count()) for doc_type in self}


REGISTRY = Registry()


def register_type(kind: str, *, load, all_ids, count, facts=None) -> DocumentType:
    """Register a document type with the process-wide registry the app's engine uses.

    Registering a kind again replaces it (create_app may run more than once).
    Raises DocumentError for a bad kind or a missing function.
    """
    return REGISTRY.register(kind, load=load, all_ids=all_ids, count=count, facts=facts)

"""Fixtures: a real Whoosh index in a temporary folder, filled from in-memory document types.

The engine must not know forum or kb, so the tests register fake types that read a
dict instead of the database.
"""

from datetime import UTC, datetime, timedelta
from itertools import count

import pytest

from search.documents import ARTICLE, THREAD, Document, Registry
from search.engine import SearchEngine

_clock = count()


def tick() -> datetime:
    """A new, later `updated_at` every call."""
    return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=next(_clock))


class FakeSource:
    """Documents by id, standing in for the database; registers a loader per kind."""

    def __init__(self):
        self.docs: dict[str, Document] = {}
        self.loads: list[list] = []

    def put(self, doc_id: str, title: str, body: str = "", **fields) -> Document:
        kind = doc_id.partition(":")[0]
        fields.setdefault("url", "/" + doc_id.replace(":", "/"))
        fields.setdefault("updated_at", tick())
        doc = Document(doc_id=doc_id, kind=kind, title=title, body=body, **fields)
        self.docs[doc_id] = doc
        return doc

    def drop(self, doc_id: str) -> None:
        del self.docs[doc_id]

    def of_kind(self, kind: str) -> list[Document]:
        return [doc for doc in self.docs.values() if doc.kind == kind]

    def registry(self) -> Registry:
        registry = Registry()
        for kind in (THREAD, ARTICLE):
            registry.register(kind, load=self._loader(kind), all_ids=self._ids(kind),
                              count=lambda kind=kind: len(self.of_kind(kind)))
        return registry

    def _loader(self, kind):
        def load(keys):
            self.loads.append(list(keys))
            return [self.docs[f"{kind}:{key}"] for key in keys if f"{kind}:{key}" in self.docs]
        return load

    def _ids(self, kind):
        def all_ids():
            return [(int(doc.doc_id.partition(":")[2]), doc.updated_at) for doc in self.of_kind(kind)]
        return all_ids


@pytest.fixture
def source():
    return FakeSource()


@pytest.fixture
def index_dir(tmp_path):
    return tmp_path / "search-index"


@pytest.fixture
def engine(source, index_dir):
    eng = SearchEngine(index_dir, source.registry())
    yield eng
    eng.close()


@pytest.fixture
def indexed(source, engine):
    """Put documents in the source and index them in one go: indexed(doc, doc, ...)."""
    def add(*docs):
        engine.index(docs)
        return docs
    return add

"""Search jobs, run on the `search` queue (one worker: Whoosh has one writer). Each takes document ids
(`"thread:12"`), reads the database when it runs, and is safe to run twice."""

from __future__ import annotations

from collections.abc import Iterable

from core import jobs
from search import current_engine
from search.documents import checked_ids

QUEUE = "search"


@jobs.batched
def index_documents(doc_ids: list[str]) -> None:
    """Bring these documents up to date: index those that load, remove those that no longer do
    (deleted or hidden), in one commit. A run takes every other waiting index job with it, so a
    busy forum's changes are indexed together and a document changed five times is indexed once.
    Raises DocumentError for a malformed id, SearchIndexBusy (the job retries)."""
    current_engine().sync(checked_ids(doc_ids))


@jobs.batched
def remove_documents(doc_ids: list[str]) -> None:
    """Remove these documents from the index. Raises DocumentError, SearchIndexBusy."""
    current_engine().remove(checked_ids(doc_ids))


def reconcile_index() -> None:
    """The periodic repair: index what is missing or changed, remove what is gone, rebuild an index
    that will not open. Raises SearchIndexBusy when another writer holds the index too long."""
    current_engine().reconcile()


def enqueue_index(doc_ids: Iterable[str]) -> None:
    """Queue `index_documents` in the current transaction (it runs after the commit).

    Raises DocumentError for a malformed id, ValueError from core.jobs.enqueue.
    """
    ids = checked_ids(doc_ids)
    if ids:
        jobs.enqueue(index_documents, ids, queue=QUEUE)


def enqueue_remove(doc_ids: Iterable[str]) -> None:
    """Queue `remove_documents` in the current transaction. Raises DocumentError, ValueError."""
    ids = checked_ids(doc_ids)
    if ids:
        jobs.enqueue(remove_documents, ids, queue=QUEUE)

"""Search: a Whoosh index behind a small interface; domain packages register what they want indexed.

`init_app(app)` gives the app an engine on `SEARCH_INDEX_DIR` and the `flask search`
commands. Views read through `search()` and `suggest()`; writes happen only in the jobs
of `search.jobs`, on the single-worker `search` queue. This package imports no domain
package: forum and kb call `register_type()` for their documents.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from flask import Flask, current_app

from search.documents import (
    ARTICLE,
    REGISTRY,
    THREAD,
    Document,
    DocumentError,
    HitFacts,
    Registry,
    make_doc_id,
    register_type,
)
from search.engine import (
    UNAVAILABLE_MESSAGE,
    Filters,
    Hit,
    IndexStatus,
    SearchEngine,
    SearchIndexBusy,
    SearchResults,
    SearchUnavailable,
    open_index,
)

__all__ = [
    "ARTICLE", "REGISTRY", "THREAD", "UNAVAILABLE_MESSAGE", "Document", "DocumentError", "Filters", "Hit",
    "HitFacts", "IndexStatus", "Registry", "SearchEngine", "SearchIndexBusy", "SearchResults",
    "SearchUnavailable", "current_engine", "facts", "index", "init_app", "make_doc_id", "open_index",
    "register_type", "remove", "search", "status", "suggest",
]

_EXTENSION = "peerline_search"


def init_app(app: Flask, registry: Registry | None = None) -> None:
    """Give the app its search engine (on SEARCH_INDEX_DIR) and the `flask search` commands.

    `registry` defaults to the process-wide one that `register_type` fills (tests pass
    their own). Raises KeyError when SEARCH_INDEX_DIR is not configured.
    """
    from search.cli import search_cli
    from search.views import bp

    app.extensions[_EXTENSION] = SearchEngine(app.config["SEARCH_INDEX_DIR"],
                                              REGISTRY if registry is None else registry)
    if "search" not in app.cli.commands:
        app.cli.add_command(search_cli)
    if "search" not in app.blueprints:
        app.register_blueprint(bp)


def current_engine() -> SearchEngine:
    """The current app's engine. Raises RuntimeError when search.init_app(app) was not called."""
    try:
        return current_app.extensions[_EXTENSION]
    except KeyError:
        raise RuntimeError("search is not set up: call search.init_app(app) in create_app") from None


def search(query: str | None, filters: Filters | Mapping | None = None, page: int = 1,
           per_page: int = 10) -> SearchResults:
    """A page of results for what someone typed; bad input and a rebuilding index come back as a message.

    Raises TypeError only for `filters` that are not Filters, a mapping or None.
    """
    return current_engine().search(query, filters, page, per_page)


def suggest(text: str | None, limit: int = 6, *, solved_only: bool = False) -> list[dict]:
    """Titles that start like the words typed, best first; never raises."""
    return current_engine().suggest(text, limit, solved_only=solved_only)


def facts(hits: Iterable[Hit]) -> dict[str, HitFacts]:
    """`{doc_id: HitFacts}` for a page of hits, read from the database by the types that give facts:
    one query per kind on the page, whatever the number of hits. Hits that no longer load (hidden
    since they were indexed) have none."""
    return current_engine().registry.facts(hit.doc_id for hit in hits)


def index(docs: Document | Iterable[Document]) -> int:
    """Add or replace documents now (jobs and commands only, never in a request).

    Raises DocumentError for something that is not a Document, SearchIndexBusy.
    """
    return current_engine().index(docs)


def remove(doc_ids: str | Iterable[str]) -> int:
    """Remove documents by id now (jobs and commands only). Raises DocumentError, SearchIndexBusy."""
    return current_engine().remove(doc_ids)


def status() -> IndexStatus:
    """Documents per kind in the index, or why it is unavailable; never raises."""
    return current_engine().status()

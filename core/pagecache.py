"""Whole-page cache for anonymous visitors: most readers are not signed in, and their pages are
the same for everyone until something in the forum changes.

A cached page is keyed by its path and query and by a content version that every domain write
bumps (in Redis when there is one, so all web processes see it; else per process, so another
process may serve a page up to PEERLINE_PAGE_CACHE_SECONDS old). Signed-in people, pages that
flash a message or touch the session, and non-200 responses are never cached.

`memoized` keeps smaller values (a list's counts) under the same version, for everyone.
"""

import logging
import threading
import time
from collections import OrderedDict
from functools import wraps

from flask import current_app, g, has_request_context, request, session
from flask_login import current_user

from core import jobs
from core.extensions import after_commit

log = logging.getLogger(__name__)
VERSION_KEY = "peerline:content-version"
MAX_PAGES = 1000


class _Store:
    def __init__(self):
        self.lock = threading.Lock()
        self.pages: OrderedDict = OrderedDict()
        self.values: OrderedDict = OrderedDict()
        self.local_version = 0


def _store() -> _Store:
    store = current_app.extensions.get("peerline_pagecache")
    if store is None:  # not setdefault(…, _Store()), which would make a store per call
        store = current_app.extensions.setdefault("peerline_pagecache", _Store())
    return store


_VERSION_SEEN = "_peerline_content_version"  # on flask.g


def _version() -> str:
    """The content version. A request asks Redis once and keeps the answer (a page reads several
    memoised values: a round trip each would cost more than most of them save); a change this
    request commits forgets it (_bump)."""
    if not has_request_context():
        return _read_version()
    version = g.get(_VERSION_SEEN)
    if version is None:
        version = _read_version()
        setattr(g, _VERSION_SEEN, version)
    return version


def _read_version() -> str:
    disp = jobs.dispatcher(current_app)
    redis = disp.redis_if_up()
    if redis is not None:
        try:
            return (redis.get(VERSION_KEY) or b"0").decode()
        except Exception:  # Redis down: fall back to this process's version
            disp.redis_failed()
            log.debug("page cache: Redis unavailable, using this process's version")
    return f"local-{_store().local_version}"


def bump_version(*_args, **_kwargs) -> None:
    """Something visible changed: every cached page is out of date, once the change is committed
    (sent in the middle of a transaction, it waits for the commit and is dropped on rollback)."""
    app = current_app._get_current_object()
    after_commit(lambda: _bump(app))


def _bump(app) -> None:
    if has_request_context():
        g.pop(_VERSION_SEEN, None)
    store = app.extensions.setdefault("peerline_pagecache", _Store())
    with store.lock:
        store.local_version += 1
        store.pages.clear()
        store.values.clear()
    disp = jobs.dispatcher(app)
    redis = disp.redis_if_up()
    if redis is not None:
        try:
            redis.incr(VERSION_KEY)
        except Exception:  # the TTL bounds how stale other processes get
            disp.redis_failed()
            log.debug("page cache: could not bump the shared version")


def memoized(key, compute):
    """compute(), kept for PEERLINE_MEMO_SECONDS under the content version: for figures every
    visitor sees alike (a list's counts) that cost a scan to compute. Off when that is 0."""
    ttl = current_app.config.get("PEERLINE_MEMO_SECONDS", 0)
    if not ttl:
        return compute()
    store = _store()
    full_key = (key, _version())
    now = time.monotonic()
    with store.lock:
        hit = store.values.get(full_key)
        if hit and hit[0] > now:
            return hit[1]
    value = compute()
    with store.lock:
        store.values[full_key] = (now + ttl, value)
        while len(store.values) > MAX_PAGES:
            store.values.popitem(last=False)
    return value


def cached_for_anonymous(view):
    """Serve anonymous GETs of this view from the cache, for PEERLINE_PAGE_CACHE_SECONDS."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        ttl = current_app.config.get("PEERLINE_PAGE_CACHE_SECONDS", 0)
        if not ttl or request.method != "GET" or current_user.is_authenticated or "_flashes" in session:
            return view(*args, **kwargs)
        store = _store()
        key = (request.full_path, _version())
        now = time.monotonic()
        with store.lock:
            hit = store.pages.get(key)
            if hit and hit[0] > now:
                store.pages.move_to_end(key)
                return current_app.response_class(hit[1], status=200, mimetype="text/html")
        response = current_app.make_response(view(*args, **kwargs))
        if response.status_code == 200 and not session.modified and not response.headers.get("Set-Cookie"):
            with store.lock:
                store.pages[key] = (now + ttl, response.get_data())
                while len(store.pages) > MAX_PAGES:
                    store.pages.popitem(last=False)
        return response

    return wrapped

"""Memoised template fragments: a fragment's HTML kept under a key made of everything it shows.

A list row or a post is drawn from a handful of values (title, counts, names, "3 days ago"). The
caller builds the key from exactly those values, so a hit is the HTML a fresh render would give:
nothing is ever invalidated, and keys that stop being asked for age out of a bounded LRU
(PEERLINE_FRAGMENT_CACHE_SIZE entries per process; 0 turns it off). Keys hold values, never
model objects.

A fragment may hold one per-viewer value (the viewer's CSRF token in a post's forms) that must not
be part of the key, or fragments could never be shared. The template writes `slot` where that value
goes; `slot` is a fresh random string for each render, so the places are found by splitting on it,
and text the fragment shows (a post body, say) can never name a place: nobody can write a string
that does not exist until after their text was stored.
"""

import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable

from flask import current_app, render_template, request
from flask.globals import _cv_request
from markupsafe import Markup, escape


class _Fragments:
    def __init__(self):
        self.lock = threading.Lock()
        self.entries: OrderedDict = OrderedDict()


def _cached(template: str, key: tuple, render: Callable[[], object]):
    # A list page asks for some thirty fragments: the request's context is read directly rather
    # than through three proxies (current_app twice, request) each time.
    ctx = _cv_request.get(None)
    if ctx is None:
        app, script_root = current_app, request.script_root
    else:
        app, script_root = ctx.app, ctx.request.script_root
    size = app.config.get("PEERLINE_FRAGMENT_CACHE_SIZE", 0)
    if not size:
        return render()
    store = app.extensions.get("peerline_fragments")
    if store is None:  # not setdefault(…, _Fragments()): that would make a store and a lock per call
        store = app.extensions.setdefault("peerline_fragments", _Fragments())
    full_key = (template, script_root, key)
    with store.lock:
        value = store.entries.get(full_key)
        if value is not None:
            store.entries.move_to_end(full_key)
            return value
    value = render()
    with store.lock:
        store.entries[full_key] = value
        while len(store.entries) > size:
            store.entries.popitem(last=False)
    return value


def render_fragment(template: str, key: tuple, **context) -> Markup:
    """render_template(template, **context), reused for the same `key` (which must hold every
    value the template reads from `context`)."""
    return _cached(template, key, lambda: Markup(render_template(template, **context)))  # noqa: S704 - autoescaped


def _slotted(template: str, key: tuple, context: dict,
             lazy: Callable[[], dict] | None = None) -> tuple[str, ...]:
    """The fragment's HTML cut at its slots (one part when it has none)."""

    def render() -> tuple[str, ...]:
        slot = "slot-" + secrets.token_hex(16)
        more = lazy() if lazy is not None else {}
        return tuple(render_template(template, slot=slot, **context, **more).split(slot))

    return _cached(template, key, render)


def render_fragment_with_slot(template: str, key: tuple, fill: Callable[[], str],
                              lazy: Callable[[], dict] | None = None, **context) -> Markup:
    """render_fragment, where the template writes `{{ slot }}` at the places that take `fill()`
    (called only when the fragment has such a place, and escaped). `lazy()` gives more of the
    context, made only when the fragment is drawn (a form, say, which costs more to make than
    the cached fragment costs to serve)."""
    parts = _slotted(template, key, context, lazy)
    if len(parts) == 1:
        return Markup(parts[0])  # noqa: S704 - an autoescaped template
    return Markup(str(escape(fill())).join(parts))  # noqa: S704 - autoescaped parts and an escaped value


def render_fragments_with_slot(template: str, items: Iterable[tuple[tuple, dict]],
                               fill: Callable[[], str]) -> Markup:
    """render_fragment_with_slot for each (key, context) of `items`, one after another: a page of
    answers drawn in one call, with the value filled in once, instead of one call from the
    template per answer."""
    pieces: list[str] = []
    value = None
    for key, context in items:
        parts = _slotted(template, key, context)
        pieces.append(parts[0])
        if len(parts) > 1:
            if value is None:
                value = str(escape(fill()))
            for part in parts[1:]:
                pieces.append(value)
                pieces.append(part)
    return Markup("".join(pieces))  # noqa: S704 - autoescaped parts and an escaped value

"""Memoised template fragments: a fragment's HTML kept under a key made of everything it shows.

A list row or a post is drawn from a handful of values (title, counts, names, "3 days ago"). The
caller builds the key from exactly those values, so a hit is the HTML a fresh render would give:
nothing is ever invalidated, and keys that stop being asked for age out of a bounded LRU
(PEERLINE_FRAGMENT_CACHE_SIZE entries per process; 0 turns it off). Keys hold values, never
model objects.
"""

import threading
from collections import OrderedDict

from flask import current_app, render_template, request
from markupsafe import Markup


class _Fragments:
    def __init__(self):
        self.lock = threading.Lock()
        self.entries: OrderedDict = OrderedDict()


def render_fragment(template: str, key: tuple, **context) -> Markup:
    """render_template(template, **context), reused for the same `key` (which must hold every
    value the template reads from `context`)."""
    size = current_app.config.get("PEERLINE_FRAGMENT_CACHE_SIZE", 0)
    if not size:
        return Markup(render_template(template, **context))  # noqa: S704 - an autoescaped template
    store = current_app.extensions.setdefault("peerline_fragments", _Fragments())
    full_key = (template, request.script_root, key)
    with store.lock:
        html = store.entries.get(full_key)
        if html is not None:
            store.entries.move_to_end(full_key)
            return html
    html = Markup(render_template(template, **context))  # noqa: S704 - an autoescaped template
    with store.lock:
        store.entries[full_key] = html
        while len(store.entries) > size:
            store.entries.popitem(last=False)
    return html

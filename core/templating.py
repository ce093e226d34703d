"""Jinja filters shared by every package's templates."""

from datetime import datetime
from functools import lru_cache

from flask import Flask
from markupsafe import Markup

from core import clock, markup, urls
from core.clock import as_utc

_CLEAN_CACHE_MAX_CHARS = 20_000
_UNITS = ((365 * 86400, "year"), (30 * 86400, "month"), (7 * 86400, "week"), (86400, "day"),
          (3600, "hour"), (60, "minute"))


def timeago(value: datetime | None, now: datetime | None = None) -> str:
    """'3 days ago', 'just now': a human reading of a past time."""
    if value is None:
        return ""
    seconds = int(((now or clock.now()) - as_utc(value)).total_seconds())
    if seconds < 60:
        return "just now"
    for size, name in _UNITS:
        if seconds >= size:
            count = seconds // size
            return f"{count} {name}{'s' if count != 1 else ''} ago"
    return "just now"


@lru_cache(maxsize=4096)
def _cleaned(html: str) -> Markup:
    return markup.sanitize_html(html)


def sanitized(html: str | None) -> Markup:
    """Stored HTML that core.markup produced, cleaned again on the way out (defence in depth).

    The same stored HTML is shown on many page views; a cleaned copy is kept for the most recent
    few thousand (keyed by the HTML itself, so an edit is a new entry).
    """
    if not html:
        return Markup("")
    return _cleaned(html) if len(html) <= _CLEAN_CACHE_MAX_CHARS else markup.sanitize_html(html)


def init_app(app: Flask) -> None:
    app.jinja_env.filters["timeago"] = timeago
    app.jinja_env.filters["sanitized"] = sanitized
    app.jinja_env.globals["path_for"] = urls.path_for
    app.jinja_env.add_extension("jinja2.ext.do")
    app.jinja_env.globals["site_name"] = app.config["PEERLINE_SITE_NAME"]

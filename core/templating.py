"""Jinja filters shared by every package's templates, and the page header."""

from datetime import datetime
from functools import lru_cache

import jinja2
from flask import Flask, request
from flask_login import current_user
from markupsafe import Markup

from core import clock, markup, urls
from core.clock import as_utc
from core.extensions import csrf_token
from core.fragments import render_fragment_with_slot

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


# Pages whose sign-in link leads back to the home page rather than to themselves.
_NO_SIGN_IN_RETURN = frozenset({"accounts.sign_in", "accounts.sign_up", "forum.index"})


def site_header(unread: int = 0) -> Markup:
    """The page header (`_header.html`): where the reader is (to mark the current link), who they
    are and their `unread` notices. Every page draws it, so it is a fragment kept under exactly
    those values; the sign-out form's token fills its slot, or for a visitor the sign-in link back
    to this page (so that visitors' many pages share one header)."""
    endpoint, args = request.endpoint, request.view_args or {}
    values = {"endpoint": endpoint, "blueprint": request.blueprint, "which": args.get("which")}
    if current_user.is_authenticated:
        user = current_user._get_current_object()
        own_profile = endpoint == "accounts.view_profile" and args.get("username") == user.username
        values.update(signed_in=True, unread=unread, staff=user.is_staff, admin=user.is_admin,
                      display_name=user.display_name, role=user.role, role_label=user.role_label,
                      username=user.username, own_profile=own_profile)
        fill = csrf_token
    else:
        values.update(signed_in=False, unread=0)
        fill = _sign_in_link
    return render_fragment_with_slot("_header.html", tuple(sorted(values.items())), fill, **values)


def _sign_in_link() -> str:
    back = None
    if request.endpoint not in _NO_SIGN_IN_RETURN:
        back = request.full_path if request.query_string else request.path
    return urls.path_for("accounts.sign_in", next=back)


class _Template(jinja2.Template):
    """Jinja's template, with `{% from "…" import macro %}` taking the imported template's cached
    module whenever it can. Jinja makes the importer's globals available to an import: it first
    compares the two sets of global names, through views of chained dicts, some fifteen
    microseconds per import on every render. Here no template has globals of its own, only the
    environment's; then the importer's names, as many as the environment's, are all among the
    imported template's, and the comparison can be skipped."""

    def _get_default_module(self, ctx=None):
        if ctx is not None and len(ctx.globals_keys) == len(self.environment.globals):
            ctx = None
        return super()._get_default_module(ctx)


def init_app(app: Flask) -> None:
    app.jinja_env.template_class = _Template
    app.jinja_env.filters["timeago"] = timeago
    app.jinja_env.filters["sanitized"] = sanitized
    app.jinja_env.globals["path_for"] = urls.path_for
    app.jinja_env.globals["site_header"] = site_header
    app.jinja_env.add_extension("jinja2.ext.do")
    app.jinja_env.globals["site_name"] = app.config["PEERLINE_SITE_NAME"]

"""Canned replies: staff templates with placeholders, filled in for a thread and counted when used
(the most used ones are candidates for knowledge-base articles)."""

import re
from typing import NamedTuple

import sqlalchemy as sa

from accounts.models import User
from accounts.permissions import is_staff
from core import clock, pagecache
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.extensions import db, read
from core.text import required_text
from escalation.models import NAME_MAX, CannedReply

BODY_MAX = 5000
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
PLACEHOLDERS = {"asker": "the asker's name", "staff": "your name", "title": "the thread's title",
                "article:SLUG": "a link to the knowledge-base article SLUG"}


def _require_staff(actor) -> None:
    if not is_staff(actor):
        raise Forbidden("Only staff manage canned replies.")


def check_placeholders(body: str) -> None:
    """Refuse a placeholder nobody fills in, and a link to an article that does not exist."""
    from kb.models import PUBLISHED, Article

    for name in PLACEHOLDER.findall(body):
        if name in ("asker", "staff", "title"):
            continue
        if name.startswith("article:") and name[8:].strip():
            slug = name[8:].strip()
            if db.session.scalar(sa.select(Article.id).where(Article.slug == slug,
                                                             Article.status == PUBLISHED)) is None:
                raise Invalid(f"There is no published knowledge-base article “{slug}” for {{{name}}}.",
                              field="body")
            continue
        known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
        raise Invalid(f"Unknown placeholder {{{name}}}: use {known}.", field="body")


def _clean(title: str, body: str) -> tuple[str, str]:
    title = required_text(title, limit=NAME_MAX, field="title", empty="Give the reply a title.",
                          noun="A title",
                          one_line=True)
    body = required_text(body, limit=BODY_MAX, field="body", empty="Write the reply's text.", noun="A reply")
    check_placeholders(body)
    return title, body


def _title_taken(title: str, except_id: int | None = None) -> bool:
    query = sa.select(CannedReply.id).where(sa.func.lower(CannedReply.title) == title.lower())
    if except_id is not None:
        query = query.where(CannedReply.id != except_id)
    return db.session.scalar(query) is not None


def create(actor, title: str, body: str, is_acknowledgement: bool = False) -> CannedReply:
    _require_staff(actor)
    title, body = _clean(title, body)
    if _title_taken(title):
        raise Conflict(f"A canned reply is called “{title}” already.", field="title")
    reply = CannedReply(title=title, body=body, is_acknowledgement=bool(is_acknowledgement),
                        created_by_id=actor.id, updated_at=clock.now())
    db.session.add(reply)
    pagecache.bump_version()  # the pickers' memoised choices
    db.session.commit()
    return reply


def update(actor, reply: CannedReply, title: str, body: str, is_acknowledgement: bool = False) -> CannedReply:
    _require_staff(actor)
    title, body = _clean(title, body)
    if _title_taken(title, reply.id):
        raise Conflict(f"A canned reply is called “{title}” already.", field="title")
    reply.title, reply.body, reply.is_acknowledgement = title, body, bool(is_acknowledgement)
    reply.updated_at = clock.now()
    pagecache.bump_version()
    db.session.commit()
    return reply


def delete(actor, reply: CannedReply) -> None:
    _require_staff(actor)
    db.session.delete(reply)
    pagecache.bump_version()
    db.session.commit()


def get(reply_id) -> CannedReply:
    reply = db.session.get(CannedReply, reply_id) if isinstance(reply_id, int) else None
    if reply is None:
        raise NotFound("No such canned reply.")
    return reply


def all_replies() -> list[CannedReply]:
    """Most used first: the top ones are candidates for knowledge-base articles."""
    return list(db.session.scalars(_ALL_REPLIES))


_MOST_USED_FIRST = (CannedReply.use_count.desc(), CannedReply.title)
_ALL_REPLIES = sa.select(CannedReply).order_by(*_MOST_USED_FIRST)


class Choice(NamedTuple):
    """A canned reply as the reply box's picker offers it."""

    id: int
    title: str
    body: str


_CHOICES = sa.select(CannedReply.id, CannedReply.title, CannedReply.body).order_by(*_MOST_USED_FIRST)


def choices() -> list[Choice]:
    """all_replies() as the picker needs them, memoised under the content version (which adding,
    changing or deleting a reply bumps; the order by use may lag by PEERLINE_MEMO_SECONDS)."""
    return pagecache.memoized("canned-choices", lambda: [Choice(*row) for row in read(_CHOICES)])


_ASKER_NAME = sa.select(User.display_name).where(User.id == sa.bindparam("user_id"))


def fill(reply: CannedReply | Choice, thread, actor, asker_name: str | None = None) -> str:
    """The reply's text for this thread, by this staff member. Article links are built from the
    site's address (as mail links are), never from the request's Host header, and work outside a
    request."""
    from core import mail

    def value(match) -> str:
        name = match.group(1)
        if name == "asker":
            return asker_name if asker_name is not None else thread.author.display_name
        if name == "staff":
            return actor.display_name
        if name == "title":
            return thread.title
        if name.startswith("article:"):
            return mail.external_url("kb.view_article", slug=name[8:].strip())
        return match.group(0)

    return PLACEHOLDER.sub(value, reply.body)


def count_use(reply: CannedReply) -> None:
    """One more use, as one update (two staff using it at once both count). Does not commit."""
    db.session.execute(sa.update(CannedReply).where(CannedReply.id == reply.id)
                       .values(use_count=CannedReply.use_count + 1))


def for_thread(thread) -> list[tuple[Choice, str]]:
    """Every canned reply filled in for this thread by the signed-in staff member (the reply box's
    picker), most used first; the asker's name is one query (and the replies another, at most once
    per PEERLINE_MEMO_SECONDS per process)."""
    from flask_login import current_user

    if not is_staff(current_user):
        return []
    replies = choices()
    if not replies:
        return []
    asker = read(_ASKER_NAME, {"user_id": thread.author_id}).scalar()
    return [(reply, fill(reply, thread, current_user, asker or "")) for reply in replies]

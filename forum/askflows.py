"""The ask flow: one visit to the ask form, which suggestions the asker opened, and whether they
then posted. A flow with a suggestion opened, no thread, and no event for an hour is a deflection
(METRICS.md). Visitors who are not signed in have flows too, known by their random token alone;
one who signs in to post carries the flow on, and it becomes theirs. Also what the ask form
suggests while a title is typed, and the deflection measure over the flows."""

import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app, url_for

import search
from accounts.models import User
from core import clock
from core.errors import Forbidden, Invalid
from core.extensions import db
from core.ids import possible_id
from forum import permissions as can
from forum import visibility
from forum.models import AskFlow, Category, Thread

_FLOW_RE = re.compile(r"^[0-9a-f]{32}$")


_DOC_RE = re.compile(r"^[a-z]{1,20}:[0-9]{1,18}$")


IN_PROGRESS = timedelta(hours=1)  # a flow with an event this recent may still end in a question
_ANONYMOUS = "anonymous"


def _owner(actor) -> str:
    """Who a token is signed for: the person's id, or everyone not signed in alike."""
    return str(actor.id) if getattr(actor, "is_authenticated", False) and actor.id else _ANONYMOUS


def _flow_signature(owner: str, nonce: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"ask-flow:{owner}:{nonce}".encode(), hashlib.sha256).hexdigest()[:16]


def _signed_for(token, owner: str) -> bool:
    if not isinstance(token, str) or not _FLOW_RE.match(token):
        return False
    return hmac.compare_digest(token[16:], _flow_signature(owner, token[:16]))


def new_ask_flow(actor) -> str:
    """A token for one visit to the ask form (kept in the form, sent with opened suggestions):
    16 random hex digits and 16 of a signature over them and the person (or "not signed in"), so
    nobody can make up flows, or use someone else's. It is all an anonymous flow carries."""
    nonce = secrets.token_hex(8)
    return nonce + _flow_signature(_owner(actor), nonce)


def is_anonymous_flow(token) -> bool:
    """Whether `token` is a flow new_ask_flow issued to someone not signed in."""
    return _signed_for(token, _ANONYMOUS)


def ask_flow_is_theirs(actor, token) -> bool:
    """Whether `actor` may carry on the flow `token`, as far as its signature says: a flow issued to
    them, or one issued to someone not signed in (perhaps them, before signing in to post). Whether
    someone else has carried that one on already is checked where it is recorded."""
    if _owner(actor) != _ANONYMOUS and _signed_for(token, _owner(actor)):
        return True
    return is_anonymous_flow(token)


def may_carry_on(actor, token) -> bool:
    """Whether the ask form may keep `token` for `actor`: ask_flow_is_theirs, and for a flow issued
    to someone not signed in, nobody else has carried it on since (one query, only then)."""
    if not ask_flow_is_theirs(actor, token):
        return False
    if _owner(actor) == _ANONYMOUS or not is_anonymous_flow(token):
        return True
    owner = db.session.scalar(sa.select(AskFlow.user_id).where(AskFlow.token == token))
    return owner is None or owner == actor.id


def _carried_on_by_someone_else(actor, flow: AskFlow) -> bool:
    """An anonymous flow becomes a person's when they carry it on signed in; then it is theirs alone."""
    user_id = actor.id if _owner(actor) != _ANONYMOUS else None
    return flow.user_id is not None and flow.user_id != user_id


def record_posted(actor: User, token: str, thread: Thread, now) -> None:
    """Mark the flow posted, with the question's category, creating it if nothing was opened; a
    flow someone else carried on is left alone, and a row another request is creating at this very
    moment (a double click) is left to it, without failing the question."""
    try:
        with db.session.begin_nested():
            flow = db.session.scalar(sa.select(AskFlow).where(AskFlow.token == token))
            if flow is None:
                flow = AskFlow(token=token, user_id=actor.id, started_at=now, opened_count=0)
                db.session.add(flow)
            elif _carried_on_by_someone_else(actor, flow):
                return
            if flow.thread_id is None:
                flow.user_id = actor.id
                flow.thread_id, flow.posted_at = thread.id, now
                flow.category_id = thread.category_id
                flow.last_event_at = now
    except sa.exc.IntegrityError:
        pass


def record_suggestion_opened(actor, token: str, doc_id: str, category_id=None) -> AskFlow:
    """Someone on the ask form, signed in or not, opened a suggested article or thread;
    `category_id` is the category chosen on the form so far ("" or None: none yet).
    Raises Forbidden (an account that may not ask), or Invalid (a token not issued to them or
    carried on by someone else, a malformed document id, a category that does not exist)."""
    if _owner(actor) != _ANONYMOUS and not can.can_ask(actor):
        raise Forbidden("Sign in to ask a question.")
    if not ask_flow_is_theirs(actor, token):
        raise Invalid(_NOT_RECOGNISED, field="flow")
    if not isinstance(doc_id, str) or not _DOC_RE.match(doc_id):
        raise Invalid("That is not a suggestion we made.", field="doc")
    category = _category(category_id)
    try:
        flow = _opened(actor, token, doc_id, category)
    except sa.exc.IntegrityError:  # two opens of a new flow at once: the other one created it
        db.session.rollback()
        flow = _opened(actor, token, doc_id, category)
    return flow


_NOT_RECOGNISED = "That ask form is not recognised; reload the page."


def _category(category_id) -> int | None:
    if category_id is None or category_id == "":
        return None
    number = possible_id(category_id) if isinstance(category_id, str | int) else None
    if number is None or db.session.get(Category, number) is None:
        raise Invalid("That is not one of the categories.", field="category")
    return number


def _opened(actor, token: str, doc_id: str, category_id: int | None) -> AskFlow:
    flow = db.session.scalar(sa.select(AskFlow).where(AskFlow.token == token))
    now = clock.now()
    user_id = actor.id if _owner(actor) != _ANONYMOUS else None
    if flow is None:
        flow = AskFlow(token=token, user_id=user_id, started_at=now, opened_count=0)
        db.session.add(flow)
        db.session.flush()
    elif _carried_on_by_someone_else(actor, flow):
        raise Invalid(_NOT_RECOGNISED, field="flow")
    flow.user_id = flow.user_id or user_id
    flow.first_opened_at = flow.first_opened_at or now
    flow.last_opened_doc = doc_id
    flow.last_event_at = now
    if category_id is not None:
        flow.category_id = category_id
    db.session.execute(sa.update(AskFlow).where(AskFlow.id == flow.id)
                       .values(opened_count=AskFlow.opened_count + 1))
    db.session.commit()
    return flow


# --- what the ask form suggests, and what the flows measure ---------------------------------------


_WORD_RE = re.compile(r"\w{3,}", re.UNICODE)
_STOP_WORDS = frozenset(
    "the and for with how why what when where can cannot does not are was this that from into "
    "your you have has but any all get got its".split()
)


def similar_solved_threads(title: str, limit: int = 5) -> list[Thread]:
    """Solved threads whose titles share the most words with `title` (the ask flow's hint)."""
    words = [w for w in dict.fromkeys(_WORD_RE.findall((title or "").lower()[:200]))
             if w not in _STOP_WORDS][:8]
    if not words:
        return []
    lowered = sa.func.lower(Thread.title)
    matches = sum((sa.case((lowered.contains(word, autoescape=True), 1), else_=0) for word in words),
                  sa.literal(0))
    # One shared word is noise once the customer has typed several ("invoice" is everywhere).
    needed = 1 if len(words) == 1 else 2
    statement = (
        sa.select(Thread).where(visibility.counted_threads(), Thread.accepted_post_id.is_not(None),
                                matches >= needed)
        .order_by(matches.desc(), Thread.last_activity_at.desc()).limit(limit)
    )
    return list(db.session.scalars(statement))


def ask_suggestions(title: str, limit: int = 6) -> list[dict]:
    """What the ask form offers while a title is typed: KB articles and solved threads whose titles
    start like it, from the search index; when that has none (or is being rebuilt), solved threads
    sharing words with the title. Each is `{doc_id, kind, title, url, solved}`."""
    title = (title or "")[:300]
    results = search.suggest(title, limit=limit, solved_only=True)
    if not results:
        results = [{"doc_id": search.make_doc_id(search.THREAD, t.id), "kind": search.THREAD,
                    "title": t.title, "url": url_for("forum.view_thread", thread_id=t.id), "solved": True}
                   for t in similar_solved_threads(title, limit)]
    return [{key: r[key] for key in ("doc_id", "kind", "title", "url", "solved")} for r in results]


def deflection(start: datetime, end: datetime) -> dict:
    """Of the ask flows whose first suggestion was opened in [start, end), how many ended without
    a question (METRICS.md: deflection), anonymous askers' too. A flow with no question and an
    event in the last hour is still in progress: it counts neither way until it ends
    (`in_progress` says how many). `rate` is None when no ended flow opened a suggestion."""
    in_progress = sa.and_(AskFlow.thread_id.is_(None),
                          AskFlow.last_event_at > clock.now() - IN_PROGRESS)
    opened, posted, pending = db.session.execute(
        sa.select(sa.func.count(sa.case((~in_progress, 1))), sa.func.count(AskFlow.thread_id),
                  sa.func.count(sa.case((in_progress, 1))))
        .where(AskFlow.first_opened_at >= start, AskFlow.first_opened_at < end)
    ).one()
    deflected = opened - posted
    return {"opened": opened, "deflected": deflected, "rate": deflected / opened if opened else None,
            "in_progress": pending}

"""What the staff desk reads: queues of escalations (a fixed number of queries whatever their
length), their counts, and the customer context beside an escalation."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from accounts.models import User
from core import clock, pagecache
from core.clock import as_utc
from core.errors import NotFound
from core.extensions import constant, db, joined_strings, read
from escalation import services
from escalation.models import (
    OPEN,
    RESOLVED,
    URGENT_QUEUE,
    Escalation,
    EscalationLabels,
    EscalationReason,
    ReasonLabel,
    Team,
)
from forum import visibility
from forum.models import QUESTION, Category, Post, Thread

PER_PAGE = 50
PREVIEW = 200
STATES = ("open", "unassigned", "breached", "resolved")
STATE_LABELS = {"open": "Open", "unassigned": "Unassigned", "breached": "Overdue", "resolved": "Resolved"}


_MARKUP = re.compile(r"!?\[([^\]]*)\]\([^)]*\)|[*_`#>~]+|<[^>]*>")


def plain(markdown: str) -> str:
    """A question's first words as text to read in a list: links as their words, Markdown marks
    and tags dropped, white space folded (the page escapes what is left)."""
    return " ".join(_MARKUP.sub(lambda m: m.group(1) or "", markdown).split())


@dataclass(frozen=True, slots=True)
class QueueReason(ReasonLabel):
    reason: str


@dataclass(slots=True)
class QueueEscalation(EscalationLabels):
    """What a queue row shows of an escalation, read as plain values (no ORM objects: a page holds
    fifty, and loading them as models was most of the page's cost)."""

    id: int
    state: str
    priority: int
    resolution: str | None
    due_at: datetime
    first_response_at: datetime | None
    breached_at: datetime | None
    resolved_at: datetime | None
    calendar: dict | None  # as views.local_time and services.time_left read it
    reasons: list[QueueReason]


@dataclass
class QueueRow:
    escalation: QueueEscalation
    title: str  # the thread's
    asker: str  # display names
    assignee: str | None
    category: str
    preview: str
    time_left_s: float

    @property
    def overdue(self) -> bool:
        return self.escalation.is_open and self.escalation.first_response_at is None and self.time_left_s < 0


@dataclass
class Queue:
    name: str
    title: str
    rows: list[QueueRow]
    total: int
    page: int
    per_page: int = PER_PAGE

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def queues(viewer: User) -> list[tuple[str, str, int]]:
    """(name, title, open escalations) for the urgent queue, mine, each team's, and "general" (no
    team): one query for the counts, one for the teams."""
    counts, mine = {}, 0
    for queue_name, count, held in read(_QUEUE_COUNTS, {"viewer_id": viewer.id}):
        counts[queue_name] = count
        mine += held or 0
    listed = [(URGENT_QUEUE, "Urgent", counts.get(URGENT_QUEUE, 0)), ("mine", "Mine", mine)]
    listed += [(slug, name, counts.get(slug, 0)) for slug, name in teams()]
    listed.append(("general", "No team", counts.get("general", 0)))
    listed.append(("all", "All", sum(counts.values())))
    return listed


# Built once, with bind parameters: building a statement cost more than running it on the desk's pages.
_QUEUE_COUNTS = (
    sa.select(Escalation.queue, sa.func.count(),
              sa.func.sum(sa.case((Escalation.assignee_id == sa.bindparam("viewer_id"), 1), else_=0)))
    .where(Escalation.state == constant(OPEN)).group_by(Escalation.queue))
_TEAMS = sa.select(Team.slug, Team.name).order_by(Team.name)
_CATEGORIES = sa.select(Category.id, Category.name).order_by(Category.position, Category.name)


@functools.cache
def _queue_statements(which: str, by_category: bool, state: str):
    """(a page of one queue's rows with the count of them all, that count alone) for a shape of
    queue: `which` is "mine", "all" or "named" (the `queue_name` parameter); the viewer, category,
    time, limit and offset are parameters."""
    question = sa.orm.aliased(Post)
    preview = (sa.select(sa.func.substr(question.body, 1, PREVIEW))
               .where(question.thread_id == Thread.id, question.kind == QUESTION).scalar_subquery())
    # Each reason as "id:code", so that they can be put back in the order they came (any
    # aggregate's own order is the database's to choose).
    reasons = (sa.select(joined_strings(
        sa.cast(EscalationReason.id, sa.String) + ":" + EscalationReason.reason, ","))
        .where(EscalationReason.escalation_id == Escalation.id).scalar_subquery())
    asker, assignee = sa.orm.aliased(User), sa.orm.aliased(User)
    query = (
        sa.select(Escalation.id, Escalation.state, Escalation.priority, Escalation.resolution,
                  Escalation.due_at, Escalation.first_response_at, Escalation.breached_at,
                  Escalation.resolved_at, Escalation.calendar, Thread.title, asker.display_name,
                  assignee.display_name, Category.name, preview, reasons, sa.func.count().over())
        .join(Thread, Thread.id == Escalation.thread_id)
        .join(asker, asker.id == Thread.author_id)
        .join(Category, Category.id == Thread.category_id)
        .outerjoin(assignee, assignee.id == Escalation.assignee_id)
        .where(visibility.counted_threads())
    )
    if which == "mine":
        query = query.where(Escalation.assignee_id == sa.bindparam("viewer_id"))
    elif which == "named":
        query = query.where(Escalation.queue == sa.bindparam("queue_name"))
    if by_category:
        query = query.where(Thread.category_id == sa.bindparam("category_id"))
    if state == "resolved":
        query = (query.where(Escalation.state == constant(RESOLVED))
                 .order_by(Escalation.resolved_at.desc(), Escalation.id))
    else:
        query = query.where(Escalation.state == constant(OPEN))
        if state == "unassigned":
            query = query.where(Escalation.assignee_id.is_(None))
        elif state == "breached":
            query = query.where(Escalation.first_response_at.is_(None),
                                Escalation.due_at < sa.bindparam("now", type_=Escalation.due_at.type))
        query = query.order_by(Escalation.due_at, Escalation.id)
    count = sa.select(sa.func.count()).select_from(query.order_by(None).subquery())
    page = query.limit(sa.bindparam("limit", type_=sa.Integer, literal_execute=True)).offset(
        sa.bindparam("offset", type_=sa.Integer, literal_execute=True))
    return page, count


def queue(viewer: User, name: str, *, category_id: int | None = None, state: str = "open", page: int = 1,
          now: datetime | None = None, listed: list[tuple[str, str, int]] | None = None) -> Queue:
    """One queue's escalations, soonest due first (resolved ones: latest resolved first): one query
    for the page, its reasons and the count (and one more for a page past the end).
    `listed` is `queues(viewer)` when the caller has it already."""
    now = as_utc(now or clock.now())
    titles = {n: t for n, t, _count in (listed if listed is not None else queues(viewer))}
    if name not in titles:
        raise NotFound("No such queue.")
    which = name if name in ("mine", "all") else "named"
    page_statement, count_statement = _queue_statements(which, category_id is not None, state)
    params = {"viewer_id": viewer.id, "queue_name": name, "category_id": category_id, "now": now}
    page = max(1, page)
    found = read(page_statement, {**params, "limit": PER_PAGE, "offset": (page - 1) * PER_PAGE}).all()
    if found:
        total = found[0][-1]
    else:  # nothing on this page: how many there are says which page is the last
        total = read(count_statement, params).scalar_one()
        if total and page > 1:
            page = max(1, -(-total // PER_PAGE))
            found = read(page_statement, {**params, "limit": PER_PAGE, "offset": (page - 1) * PER_PAGE}).all()
    return Queue(name, titles[name], [_queue_row(r, now) for r in found], total, page)


def _queue_row(r, now: datetime) -> QueueRow:
    reasons = sorted((int(number), code) for number, _, code in
                     (part.partition(":") for part in (r[14] or "").split(",") if part))
    escalation = QueueEscalation(*r[:9], reasons=[QueueReason(code) for _, code in reasons])
    preview = r[13]
    return QueueRow(escalation, r[9], r[10], r[11], r[12],
                    plain(preview or "") + ("…" if preview and len(preview) >= PREVIEW else ""),
                    services.time_left(escalation, now))


@dataclass
class Context:
    """Who asked: their profile, recent threads, and earlier escalations with how they ended."""

    asker: User
    threads: list[Thread]
    earlier: list[Escalation]
    thread_count: int


def customer_context(escalation: Escalation, limit: int = 5) -> Context:
    asker = escalation.thread.author
    threads = list(db.session.scalars(
        sa.select(Thread).where(Thread.author_id == asker.id, Thread.id != escalation.thread_id,
                                visibility.counted_threads())
        .order_by(Thread.created_at.desc()).limit(limit)))
    count = db.session.scalar(sa.select(sa.func.count()).select_from(Thread).where(
        Thread.author_id == asker.id, visibility.counted_threads()))
    earlier = list(db.session.scalars(
        sa.select(Escalation).join(Thread, Thread.id == Escalation.thread_id)
        .where(Thread.author_id == asker.id, Escalation.id != escalation.id)
        .options(sa.orm.selectinload(Escalation.reasons), sa.orm.joinedload(Escalation.thread))
        .order_by(Escalation.escalated_at.desc()).limit(limit)))
    return Context(asker, threads, earlier, count)


def assignments(escalation_id: int):
    from escalation.models import Assignment

    return list(db.session.scalars(
        sa.select(Assignment).where(Assignment.escalation_id == escalation_id).order_by(Assignment.id)
        .options(sa.orm.joinedload(Assignment.assignee), sa.orm.joinedload(Assignment.by))))


def reasons(escalation_id: int) -> list[EscalationReason]:
    return list(db.session.scalars(
        sa.select(EscalationReason).where(EscalationReason.escalation_id == escalation_id)
        .order_by(EscalationReason.id).options(sa.orm.joinedload(EscalationReason.by))))


def recent_answers(thread_id: int, limit: int = 10) -> list[Post]:
    """The thread's latest answers (of every state: staff see removed ones with their badge), oldest first."""
    posts = list(db.session.scalars(
        sa.select(Post).where(Post.thread_id == thread_id, Post.kind != QUESTION)
        .order_by(Post.created_at.desc(), Post.id.desc()).limit(limit)
        .options(sa.orm.joinedload(Post.author))))
    return posts[::-1]


def teams() -> list[tuple[str, str]]:
    """Every team's slug and name, by name: memoised under the content version, which saving or
    deleting a team bumps."""
    return pagecache.memoized("escalation-teams", lambda: [tuple(row) for row in read(_TEAMS)])


def categories() -> list:
    """Every category's id and name, in the forum's order (the queue's filter), memoised under the
    content version, which every category change bumps."""
    return pagecache.memoized("escalation-categories", lambda: [tuple(row) for row in read(_CATEGORIES)])


@dataclass(frozen=True, slots=True)
class DeskState:
    """What a thread page says of its open escalation (see escalation.thread_notices)."""

    id: int
    queue: str
    due_at: datetime
    first_response_at: datetime | None
    calendar: dict | None  # its policy's hours and time zone, as views.local_time reads them


def thread_desk(thread_id: int) -> tuple[DeskState | None, int | None]:
    """A thread's open escalation and its private conversation's id, in one query."""
    row = read(_thread_desk_statement(), {"thread_id": thread_id}).first()
    if row is None:
        return None, None
    state = DeskState(*row[:5]) if row[0] is not None else None
    return state, row[5]


@functools.cache
def _thread_desk_statement():
    """Built once: every thread page staff (and its asker) open runs it."""
    from escalation.models import Conversation

    conversation = (sa.select(Conversation.id).where(Conversation.thread_id == Thread.id)
                    .limit(1).scalar_subquery())
    return (sa.select(Escalation.id, Escalation.queue, Escalation.due_at, Escalation.first_response_at,
                      Escalation.calendar, conversation).select_from(Thread)
            .outerjoin(Escalation, sa.and_(Escalation.thread_id == Thread.id,
                                           Escalation.state == constant(OPEN)))
            .where(Thread.id == sa.bindparam("thread_id")))

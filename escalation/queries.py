"""What the staff desk reads: queues of escalations (a fixed number of queries whatever their
length), their counts, and the customer context beside an escalation."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from accounts.models import User
from core import clock
from core.clock import as_utc
from core.errors import NotFound
from core.extensions import db
from escalation import services
from escalation.models import OPEN, RESOLVED, URGENT_QUEUE, Escalation, EscalationReason, Team
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


@dataclass
class QueueRow:
    escalation: Escalation
    thread: Thread
    asker: User
    assignee: User | None
    category: Category
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
    team), in one query for the counts."""
    counts = dict(db.session.execute(
        sa.select(Escalation.queue, sa.func.count()).where(Escalation.state == OPEN)
        .group_by(Escalation.queue)).all())
    mine = db.session.scalar(sa.select(sa.func.count()).select_from(Escalation).where(
        Escalation.state == OPEN, Escalation.assignee_id == viewer.id))
    teams = list(db.session.execute(sa.select(Team.slug, Team.name).order_by(Team.name)))
    listed = [(URGENT_QUEUE, "Urgent", counts.get(URGENT_QUEUE, 0)), ("mine", "Mine", mine)]
    listed += [(slug, name, counts.get(slug, 0)) for slug, name in teams]
    listed.append(("general", "No team", counts.get("general", 0)))
    listed.append(("all", "All", sum(counts.values())))
    return listed


def queue(viewer: User, name: str, *, category_id: int | None = None, state: str = "open", page: int = 1,
          now: datetime | None = None) -> Queue:
    """One queue's escalations, soonest due first (resolved ones: latest resolved first)."""
    now = as_utc(now or clock.now())
    titles = {n: t for n, t, _count in queues(viewer)}
    if name not in titles:
        raise NotFound("No such queue.")
    question = sa.orm.aliased(Post)
    preview = (sa.select(sa.func.substr(question.body, 1, PREVIEW))
               .where(question.thread_id == Thread.id, question.kind == QUESTION).scalar_subquery())
    asker, assignee = sa.orm.aliased(User), sa.orm.aliased(User)
    query = (
        sa.select(Escalation, Thread, asker, assignee, Category, preview)
        .join(Thread, Thread.id == Escalation.thread_id)
        .join(asker, asker.id == Thread.author_id)
        .join(Category, Category.id == Thread.category_id)
        .outerjoin(assignee, assignee.id == Escalation.assignee_id)
        .where(visibility.counted_threads())
        .options(sa.orm.selectinload(Escalation.reasons))
    )
    if name == "mine":
        query = query.where(Escalation.assignee_id == viewer.id)
    elif name != "all":
        query = query.where(Escalation.queue == name)
    if category_id is not None:
        query = query.where(Thread.category_id == category_id)
    if state == "resolved":
        query = (query.where(Escalation.state == RESOLVED)
                 .order_by(Escalation.resolved_at.desc(), Escalation.id))
    else:
        query = query.where(Escalation.state == OPEN)
        if state == "unassigned":
            query = query.where(Escalation.assignee_id.is_(None))
        elif state == "breached":
            query = query.where(Escalation.first_response_at.is_(None), Escalation.due_at < now)
        query = query.order_by(Escalation.due_at, Escalation.id)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(query.order_by(None).subquery()))
    pages = max(1, -(-total // PER_PAGE))
    page = min(max(1, page), pages)
    rows = [QueueRow(e, t, a, s, c, plain(p or "") + ("…" if p and len(p) >= PREVIEW else ""),
                     services.time_left(e, now))
            for e, t, a, s, c, p in db.session.execute(query.limit(PER_PAGE).offset((page - 1) * PER_PAGE))]
    return Queue(name, titles[name], rows, total, page)


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


def categories() -> list[Category]:
    return list(db.session.scalars(sa.select(Category).order_by(Category.position, Category.name)))


def thread_desk(thread_id: int) -> tuple[Escalation | None, int | None]:
    """A thread's open escalation and its private conversation's id, in one query."""
    from escalation.models import Conversation

    conversation = (sa.select(Conversation.id).where(Conversation.thread_id == thread_id)
                    .limit(1).scalar_subquery())
    row = db.session.execute(
        sa.select(Thread.id, Escalation, conversation).select_from(Thread)
        .outerjoin(Escalation, sa.and_(Escalation.thread_id == Thread.id, Escalation.state == OPEN))
        .where(Thread.id == thread_id)
    ).first()
    return (row[1], row[2]) if row else (None, None)

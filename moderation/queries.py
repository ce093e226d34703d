"""Moderation's read side: the review queue with each item's context, a member's record, and the
audit log, each in a fixed number of queries."""

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from accounts.models import AuditEntry, User
from core.extensions import constant, db
from forum.models import DELETED, HIDDEN, QUESTION, SPAM, Category, Post, Thread
from forum.queries import Page
from moderation import trust
from moderation.models import (
    AGREEING_DECISIONS,
    PENDING,
    Flag,
    MemberAction,
    ModerationSettings,
    ReviewItem,
)

PER_PAGE = 20
AUDIT_PER_PAGE = 50


@dataclass
class AuthorStanding:
    posts: int = 0
    removed: int = 0  # hidden, removed as spam, or deleted by moderators
    upheld: int = 0  # earlier review items decided against them

    @property
    def visible(self) -> int:
        """Posts others can still see (or that wait for review)."""
        return self.posts - self.removed


@dataclass
class QueueRow:
    item: ReviewItem
    flags: list = field(default_factory=list)
    standing: AuthorStanding = field(default_factory=AuthorStanding)


def categories() -> list[Category]:
    return list(db.session.scalars(sa.select(Category).order_by(Category.position, Category.name)))


def pending_counts() -> dict[str, int]:
    """Pending items per kind, and "all"."""
    counts = {kind: count for kind, count in db.session.execute(
        sa.select(ReviewItem.kind, sa.func.count()).where(ReviewItem.status == constant(PENDING))
        .group_by(ReviewItem.kind))}
    counts["all"] = sum(counts.values())
    return counts


def _within(total: int, per_page: int, page: int) -> int:
    """The page asked for, or the last one when it is past the end."""
    return min(page, Page([], 1, per_page, total).pages)


def review_queue(*, kind: str | None = None, page: int = 1) -> Page:
    """Pending items, oldest first, each with its post, thread, author, every flag the post has had
    and its author's standing: five queries whatever the page holds."""
    where = [ReviewItem.status == constant(PENDING)]
    if kind:
        where.append(ReviewItem.kind == kind)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(ReviewItem).where(*where))
    page = _within(total, PER_PAGE, page)
    items = list(db.session.scalars(
        sa.select(ReviewItem).where(*where).order_by(ReviewItem.created_at, ReviewItem.id)
        .offset((page - 1) * PER_PAGE).limit(PER_PAGE)
        .options(joinedload(ReviewItem.post), joinedload(ReviewItem.thread), joinedload(ReviewItem.author))))
    rows = {item.id: QueueRow(item) for item in items}
    by_post = {item.post_id: rows[item.id] for item in items}
    if items:
        for flag in db.session.scalars(sa.select(Flag).where(Flag.post_id.in_(list(by_post)))
                                       .order_by(Flag.created_at).options(joinedload(Flag.flagger))):
            by_post[flag.post_id].flags.append(flag)
        standings = standing_of({item.author_id for item in items})
        for row in rows.values():
            row.standing = standings.get(row.item.author_id, AuthorStanding())
    return Page(list(rows.values()), page, PER_PAGE, total)


def standing_of(user_ids: set[int]) -> dict[int, AuthorStanding]:
    """Posts written, posts moderators removed, and earlier decisions against each person."""
    found = {uid: AuthorStanding() for uid in user_ids}
    if not user_ids:
        return found
    removed_states = (HIDDEN, SPAM, DELETED)
    for row in db.session.execute(
            sa.select(Post.author_id, sa.func.count(),
                      sa.func.count(sa.case((sa.or_(Post.state.in_(removed_states),
                                                    sa.and_(Post.kind == QUESTION,
                                                            Thread.state.in_(removed_states))), 1))))
            .join(Thread, Thread.id == Post.thread_id)
            .where(Post.author_id.in_(list(user_ids))).group_by(Post.author_id)):
        found[row[0]].posts, found[row[0]].removed = row[1], row[2]
    for author_id, count in db.session.execute(
            sa.select(ReviewItem.author_id, sa.func.count()).where(
                ReviewItem.author_id.in_(list(user_ids)), ReviewItem.status.in_(sorted(AGREEING_DECISIONS)))
            .group_by(ReviewItem.author_id)):
        found[author_id].upheld = count
    return found


def member_record(user: User, *, own: bool) -> dict:
    """What a member's moderation page shows: warnings and restrictions given, decisions on their
    posts (and, on their own page, the flags they raised with what became of them)."""
    actions = list(db.session.scalars(
        sa.select(MemberAction).where(MemberAction.user_id == user.id)
        .order_by(MemberAction.created_at.desc()).limit(50).options(joinedload(MemberAction.created_by))))
    decided = list(db.session.scalars(
        sa.select(ReviewItem).where(ReviewItem.author_id == user.id)
        .order_by(ReviewItem.created_at.desc()).limit(50)
        .options(joinedload(ReviewItem.thread), joinedload(ReviewItem.decided_by))))
    flags = list(db.session.scalars(
        sa.select(Flag).where(Flag.flagger_id == user.id).order_by(Flag.created_at.desc()).limit(50)
        .options(joinedload(Flag.post).joinedload(Post.thread)))) if own else []
    return {"actions": actions, "decided": decided, "flags": flags,
            "standing": standing_of({user.id})[user.id], "posts_read": trust.posts_read(user.id)}


def audit_log(*, page: int = 1, actor: str = "", action: str = "", member: str = "") -> Page:
    """Every staff and admin action, newest first, filtered by who did it, the action, and the
    member it concerned (the member, or one of their posts or threads)."""
    where = []
    if actor:
        where.append(AuditEntry.actor_id.in_(sa.select(User.id).where(User.username == actor)))
    if action:
        where.append(AuditEntry.action == action)
    if member:
        member_id = sa.select(User.id).where(User.username == member).scalar_subquery()
        where.append(sa.or_(
            sa.and_(AuditEntry.subject_type == "user", AuditEntry.subject_id == member_id),
            sa.and_(AuditEntry.subject_type == "post",
                    AuditEntry.subject_id.in_(sa.select(Post.id).where(Post.author_id == member_id))),
            sa.and_(AuditEntry.subject_type == "thread",
                    AuditEntry.subject_id.in_(sa.select(Thread.id).where(Thread.author_id == member_id)))))
    total = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(*where))
    page = _within(total, AUDIT_PER_PAGE, page)
    entries = list(db.session.scalars(
        sa.select(AuditEntry).where(*where).order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
        .offset((page - 1) * AUDIT_PER_PAGE).limit(AUDIT_PER_PAGE).options(joinedload(AuditEntry.actor))))
    return Page(entries, page, AUDIT_PER_PAGE, total)


def audit_actions() -> list[str]:
    return list(db.session.scalars(sa.select(AuditEntry.action).distinct().order_by(AuditEntry.action)))


def blocked_words_text() -> str:
    return db.session.scalar(
        sa.select(ModerationSettings.blocked_words).where(ModerationSettings.id == 1)) or ""

"""Trust levels: a new member earns basic trust, which lifts the new-member safeguards, by an
accepted or up-voted answer, or by time and reading (days since joining and posts read)."""

from collections.abc import Iterable
from datetime import timedelta

import sqlalchemy as sa

from accounts.models import BASIC, MEMBER, NEW, User
from core import clock
from core.extensions import db
from core.viewcounts import ViewBuffer
from forum.models import ANSWER, VISIBLE, Post, Thread, Vote
from moderation import settings
from moderation.models import ReadingCount

READS = ViewBuffer("posts-read")  # by member id: posts shown on the thread pages they opened


def _earned(rules: settings.Settings):
    """SQL: a user row that has earned basic trust."""
    accepted = sa.exists().where(
        Thread.accepted_post_id == Post.id, Post.author_id == User.id, Thread.author_id != User.id,
        Thread.state == VISIBLE, Post.state == VISIBLE)
    upvoted = sa.exists().where(Vote.post_id == Post.id, Vote.value > 0, Post.author_id == User.id,
                                Post.kind == ANSWER, Post.state == VISIBLE)
    read = sa.func.coalesce(sa.select(ReadingCount.posts_read).where(ReadingCount.user_id == User.id)
                            .scalar_subquery(), 0)
    old_enough = User.created_at <= clock.now() - timedelta(days=rules.basic_trust_days)
    return sa.or_(accepted, upvoted, sa.and_(old_enough, read >= rules.basic_trust_posts_read))


def evaluate(user_ids: Iterable[int] | None = None) -> int:
    """Give basic trust to the new members (of `user_ids`, or all) who have earned it; returns how
    many. Does not commit. Trust is never taken back by this: moderators silence instead."""
    query = sa.update(User).where(User.role == MEMBER, User.trust_level == NEW, _earned(settings.current()))
    if user_ids is not None:
        ids = list(user_ids)
        if not ids:
            return 0
        query = query.where(User.id.in_(ids))
    return db.session.execute(query.values(trust_level=BASIC).execution_options(
        synchronize_session=False)).rowcount or 0


def add_reads(counts: dict[int, int]) -> None:
    """Add buffered reading counts to the members' rows (people deleted since are skipped)."""
    if not counts:
        return
    known = set(db.session.scalars(sa.select(User.id).where(User.id.in_(list(counts)))))
    rows = {row.user_id: row for row in db.session.scalars(
        sa.select(ReadingCount).where(ReadingCount.user_id.in_(list(known))))}
    for user_id in known:
        if user_id in rows:
            rows[user_id].posts_read = ReadingCount.posts_read + counts[user_id]
        else:
            db.session.add(ReadingCount(user_id=user_id, posts_read=counts[user_id]))


def posts_read(user_id: int) -> int:
    return db.session.scalar(sa.select(ReadingCount.posts_read).where(ReadingCount.user_id == user_id)) or 0

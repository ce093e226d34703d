"""Reputation, kept per person in `reputations` as votes and acceptances happen.

Points: +10 for each up-vote and -2 for each down-vote on a visible answer, +15 for each visible answer
accepted in someone else's visible thread. Services add the difference each event makes, in their
own transaction and as SQL arithmetic, so two votes at once both count; `recompute` sums it all
again from the votes and threads (after an import, and as a periodic repair).
"""

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from core.extensions import db
from forum.models import ANSWER, VISIBLE, Post, Reputation, Thread, Vote

UPVOTE_POINTS, DOWNVOTE_POINTS, ACCEPTED_POINTS = 10, -2, 15


def vote_points(value: int) -> int:
    """What one vote of `value` (1, -1 or 0 for none) is worth to the answer's author."""
    return UPVOTE_POINTS if value > 0 else DOWNVOTE_POINTS if value < 0 else 0


def acceptance_points(thread: Thread, post: Post | None) -> int:
    """What having `post` accepted in `thread` is worth to its author (nothing for self-answers)."""
    if post is None or thread.state != VISIBLE or post.author_id == thread.author_id:
        return 0
    return ACCEPTED_POINTS


def votes_worth(post_id: int) -> int:
    """What the votes on one answer are worth to its author."""
    points = sa.case((Vote.value > 0, UPVOTE_POINTS), else_=DOWNVOTE_POINTS)
    return int(db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(points), 0)).where(Vote.post_id == post_id)) or 0)


def add(user_id: int, points: int) -> None:
    """Add `points` (maybe negative) to one person's reputation, inside the caller's transaction."""
    if not points:
        return
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(Reputation).values(user_id=user_id, points=points)
    db.session.execute(statement.on_conflict_do_update(
        index_elements=[Reputation.user_id],
        set_={"points": Reputation.points + statement.excluded.points},
    ))


def for_users(user_ids) -> dict[int, int]:
    """Reputation per user id, 0 for people with none recorded; one query."""
    user_ids = list(dict.fromkeys(user_ids))
    if not user_ids:
        return {}
    found = dict(db.session.execute(
        sa.select(Reputation.user_id, Reputation.points).where(Reputation.user_id.in_(user_ids))).all())
    return {uid: int(found.get(uid, 0)) for uid in user_ids}


def computed(user_ids=None) -> dict[int, int]:
    """Reputation summed from the votes and threads, for `user_ids` or everyone who has any."""
    points = sa.case((Vote.value > 0, UPVOTE_POINTS), else_=DOWNVOTE_POINTS)
    accepted = (
        sa.select(Post.author_id.label("user_id"), (sa.func.count() * ACCEPTED_POINTS).label("points"))
        .select_from(Thread).join(Post, Post.id == Thread.accepted_post_id)
        .where(Thread.state == VISIBLE, Thread.author_id != Post.author_id, Post.state == VISIBLE)
        .group_by(Post.author_id)
    )
    voted = (
        sa.select(Post.author_id.label("user_id"), sa.func.sum(points).label("points"))
        .select_from(Vote).join(Post, Post.id == Vote.post_id)
        .where(Post.state == VISIBLE, Post.kind == ANSWER)
        .group_by(Post.author_id)
    )
    if user_ids is not None:
        user_ids = list(user_ids)
        accepted = accepted.where(Post.author_id.in_(user_ids))
        voted = voted.where(Post.author_id.in_(user_ids))
    both = sa.union_all(accepted, voted).subquery()
    return {int(uid): int(total) for uid, total in db.session.execute(
        sa.select(both.c.user_id, sa.func.sum(both.c.points)).group_by(both.c.user_id)).all()}


def recompute() -> int:
    """Make every stored reputation match the sums; returns how many people's figure changed.
    The caller commits.

    On PostgreSQL the table is locked against writers first: a vote committed between the sums and
    the writes below would otherwise be overwritten; a vote in progress waits, then adds its points
    on top of the sums (which could not see it)."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(sa.text("LOCK TABLE reputations IN SHARE ROW EXCLUSIVE MODE"))
    truth = computed()
    stored = dict(db.session.execute(sa.select(Reputation.user_id, Reputation.points)).all())
    changed = 0
    for user_id in set(truth) | set(stored):
        want, have = truth.get(user_id, 0), stored.get(user_id)
        if have == want or (have is None and want == 0):
            continue
        changed += 1
        if have is None:
            db.session.add(Reputation(user_id=user_id, points=want))
        else:
            db.session.execute(sa.update(Reputation).where(Reputation.user_id == user_id).values(points=want))
    return changed

"""The demo community's satisfaction ratings: its askers' answers to "did this solve your problem?"
about the threads solved in the last 30 days, so that the dashboard shows satisfaction from the
start. `flask demo load` loads them after the community (forum.demo.EXTENSIONS)."""

from datetime import timedelta

import sqlalchemy as sa

from accounts.models import User
from core import clock
from core.clock import as_utc
from core.extensions import db
from forum.demo import DEMO_EMAIL_DOMAIN
from forum.models import Post, Thread
from insights.models import SatisfactionRating
from insights.satisfaction import resolver_of

DAYS = 30
# Scores and comments in the order the threads were solved, oldest first; mostly content askers.
ANSWERS = (
    (5, "Worked first time, thanks!"), (4, ""), (5, ""), (3, "It works, but it took a while to find."),
    (4, ""), (5, "Exactly what I needed."), (2, "A workaround rather than a fix."), (4, ""), (5, ""),
    (1, "Still broken for me after trying this."), (4, ""), (5, ""),
)


def is_empty() -> bool:
    return db.session.scalar(sa.select(SatisfactionRating.id).limit(1)) is None


def load_with_community(if_empty: bool) -> str:
    """The `flask demo load` extension: ratings for the demo community's recently solved threads.
    Raises RuntimeError when ratings exist already (unless `if_empty`)."""
    if not is_empty():
        if if_empty:
            return "Satisfaction ratings exist already; the demo ratings are not loaded."
        raise RuntimeError("the demo satisfaction ratings are loaded already")
    counts = load()
    if counts is None:
        return "This forum is not the demo community, so no demo satisfaction ratings are loaded."
    return (f"Loaded the demo satisfaction ratings: {counts['rated']} answered, "
            f"{counts['waiting']} waiting for the asker.")


def load() -> dict[str, int] | None:
    """One question per demo thread solved in the last DAYS days, answered an hour or a few after it
    was solved, but for the latest, which waits for its asker. None: not the demo community."""
    now = clock.now()
    since = now - timedelta(days=DAYS)
    solved = db.session.execute(
        sa.select(Thread, Post).join(Post, Post.id == Thread.accepted_post_id)
        .where(Thread.solved_at >= since,
               Thread.author.has(User.email.like(f"%@{DEMO_EMAIL_DOMAIN}")))
        .order_by(Thread.solved_at, Thread.id)).all()
    if not solved:
        return None
    counts = {"rated": 0, "waiting": 0}
    for i, (thread, post) in enumerate(solved):
        asked = as_utc(thread.solved_at)
        rating = SatisfactionRating(thread_id=thread.id, asker_id=thread.author_id,
                                    category_id=thread.category_id, resolver=resolver_of(thread, post),
                                    asked_at=asked, comment="")
        if i < len(solved) - 1:
            score, comment = ANSWERS[i % len(ANSWERS)]
            rating.score, rating.comment = score, comment
            rating.rated_at = min(asked + timedelta(hours=1 + 3 * (i % 4)), now - timedelta(minutes=1))
            counts["rated"] += 1
        else:
            counts["waiting"] += 1
        db.session.add(rating)
    db.session.commit()
    return counts


SNAPSHOT_DAYS = 35  # the dashboard's default period (30 days) and the days before it


def roll_up_with_community(if_empty: bool) -> str:
    """The `flask demo load` extension run last: the snapshots of the demo's recent days and weeks,
    so the dashboard shows its charts before the roll-up jobs first run."""
    from insights import measures, rollup
    from insights.models import Snapshot

    if if_empty and db.session.scalar(sa.select(Snapshot.id).limit(1)) is not None:
        return "Metric snapshots exist already; they are not recomputed."
    today = measures.today()
    rollup.recompute(today - timedelta(days=SNAPSHOT_DAYS), today)
    rollup.roll_up_ranges(today)
    return f"Rolled up the metrics of the last {SNAPSHOT_DAYS} days."

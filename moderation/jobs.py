"""Moderation's background jobs."""

from core.extensions import db
from moderation import trust


def update_trust() -> None:
    """Add the posts members read since the last run, then give basic trust to every new member
    who has earned it. Safe to run twice: reading counts are taken from the buffer once."""
    counts = trust.READS.take()
    trust.add_reads(dict(counts))
    trust.evaluate()
    db.session.commit()

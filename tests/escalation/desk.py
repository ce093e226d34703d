"""Helpers for the escalation tests: escalations opened the way people open them, teams, and what
people were told."""

import sqlalchemy as sa

from core.extensions import db
from escalation import services
from escalation.models import NEEDS_STAFF, OPEN, CategoryTeam, DeskProfile, Escalation, Team
from forum.models import Notification
from tests.factories import make_thread, make_user


def escalated(thread=None, *, note: str = "Needs an account lookup", **thread_options) -> Escalation:
    """An advocate sends a thread (a new one unless given) to staff as "needs staff"."""
    thread = thread or make_thread(**thread_options)
    return services.send_up(make_user("advocate"), thread, NEEDS_STAFF, note)


def make_team(name: str, members, *, categories=(), auto_assign: bool = True) -> Team:
    """A team of these staff members answering these categories (admin set-up, made directly)."""
    team = Team(slug=name.lower(), name=name, auto_assign=auto_assign, members=list(members))
    db.session.add(team)
    db.session.flush()
    db.session.add_all([CategoryTeam(category_id=c.id, team_id=team.id) for c in categories])
    db.session.commit()
    return team


def set_desk(user, *, available: bool = True, cap: int = 10) -> None:
    """A person's desk settings: away or available, and their cap on open escalations."""
    profile = db.session.get(DeskProfile, user.id) or DeskProfile(user_id=user.id)
    profile.available, profile.cap = available, cap
    db.session.add(profile)
    db.session.commit()


def notices_of(user, *kinds: str) -> list[tuple[str, int | None]]:
    """(kind, thread id) of the notices a person has, oldest first, of these kinds (all without)."""
    query = sa.select(Notification.kind, Notification.thread_id).where(Notification.user_id == user.id)
    if kinds:
        query = query.where(Notification.kind.in_(kinds))
    return [tuple(row) for row in db.session.execute(query.order_by(Notification.id))]


def open_escalations() -> list[Escalation]:
    return list(db.session.scalars(
        sa.select(Escalation).where(Escalation.state == OPEN).order_by(Escalation.id)))

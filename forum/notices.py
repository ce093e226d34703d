"""Following threads and the in-app notices that following brings."""

import sqlalchemy as sa

from accounts.models import User
from core import clock
from core.errors import Forbidden, NotFound
from core.extensions import db
from forum.models import Notification, Subscription, Thread


def follow(user_id: int, thread_id: int) -> None:
    """Subscribe unless the person unsubscribed from this thread before (that choice stands)."""
    exists = db.session.scalar(
        sa.select(Subscription.id).where(Subscription.thread_id == thread_id,
                                         Subscription.user_id == user_id)
    )
    if exists is None:
        db.session.add(Subscription(thread_id=thread_id, user_id=user_id, active=True))


def set_following(actor: User, thread: Thread, following: bool) -> Subscription:
    """Follow or unfollow a thread explicitly. Raises Forbidden."""
    if not getattr(actor, "is_authenticated", False):
        raise Forbidden("Sign in to follow threads.")
    subscription = db.session.scalar(
        sa.select(Subscription).where(Subscription.thread_id == thread.id,
                                      Subscription.user_id == actor.id)
    )
    if subscription is None:
        subscription = Subscription(thread_id=thread.id, user_id=actor.id)
        db.session.add(subscription)
    subscription.active = following
    db.session.commit()
    return subscription


def unsubscribe(subscription_id: int) -> Subscription:
    """One-click unsubscribe from a mailed link (the link itself is the credential). Raises NotFound."""
    subscription = db.session.get(Subscription, subscription_id)
    if subscription is None:
        raise NotFound("That subscription no longer exists.")
    subscription.active = False
    db.session.commit()
    return subscription


def is_following(user, thread: Thread) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    return bool(db.session.scalar(
        sa.select(Subscription.active).where(Subscription.thread_id == thread.id,
                                             Subscription.user_id == user.id)
    ))


def notifications_for(user: User, limit: int = 50) -> list[Notification]:
    """A person's newest notices, with their threads, in one query."""
    return list(db.session.scalars(
        sa.select(Notification).where(Notification.user_id == user.id)
        .order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit)
        .options(sa.orm.joinedload(Notification.thread))
    ))


def mark_notifications_read(user: User) -> int:
    """Mark every unread notice of `user` read; returns how many."""
    count = db.session.execute(
        sa.update(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
        .values(read_at=clock.now())
    ).rowcount
    db.session.commit()
    return count

"""Moderation's subscribers to the forum's events, in the transaction of the change: a held post
becomes a review item; a hide, removal as spam, delete or approval ends the post's pending item
(flags agreed or rejected, flaggers and author told); answers that earn trust promote their author.
"""

import sqlalchemy as sa

from core import signals
from core.extensions import db
from forum.models import HELD, HIDDEN, SPAM, Post
from forum.services import question_of
from moderation import safeguards, services, trust
from moderation.models import APPROVED, DELETED, HELD_POST, MARKED_SPAM, PENDING, ReviewItem
from moderation.models import HIDDEN as HIDDEN_DECISION

_DECISIONS = {HIDDEN: HIDDEN_DECISION, SPAM: MARKED_SPAM}


def _held(post: Post, reason: str) -> None:
    services.open_item(post, safeguards.kind_of_reason(reason), reason)


def on_thread_created(thread, *, held=None, **_extra) -> None:
    if held:
        _held(question_of(thread), held)


def on_post_created(post, *, held=None, **_extra) -> None:
    if held:
        _held(post, held)


def on_post_edited(post, *, held=None, **_extra) -> None:
    if held:
        _held(post, held)


def _end(post: Post | None, decision: str, actor, note: str = "") -> None:
    if post is None:
        return
    item = services.pending_item(post.id)
    if item is not None:
        services.end_item(item, decision, actor, note)


def on_post_hidden(post, *, actor=None, state=None, reason="", **_extra) -> None:
    if state == HELD:
        if actor is not None:  # a moderator held it by hand: it waits in the queue like the others
            services.open_item(post, HELD_POST, reason or "")
        return
    _end(post, _DECISIONS.get(state, HIDDEN_DECISION), actor, reason)


def on_thread_hidden(thread, *, actor=None, state=None, reason="", **_extra) -> None:
    on_post_hidden(question_of(thread), actor=actor, state=state, reason=reason)


def on_post_unhidden(post, *, actor=None, **_extra) -> None:
    _end(post, APPROVED, actor)


def on_thread_unhidden(thread, *, actor=None, **_extra) -> None:
    _end(question_of(thread), APPROVED, actor)


def on_post_deleted(post, *, actor=None, **_extra) -> None:
    _end(post, DELETED, actor)


def on_thread_deleted(thread, *, actor=None, **_extra) -> None:
    """The whole thread went: every post of it waiting for review is decided with it."""
    items = db.session.scalars(sa.select(ReviewItem).where(ReviewItem.thread_id == thread.id,
                                                           ReviewItem.status == PENDING))
    for item in list(items):
        services.end_item(item, DELETED, actor)


def follow_moved_posts(thread, **_extra) -> None:
    """A merge or a split moved posts to another thread: their review items follow them."""
    moved_to = sa.select(Post.thread_id).where(Post.id == ReviewItem.post_id).scalar_subquery()
    db.session.execute(sa.update(ReviewItem).where(ReviewItem.thread_id == thread.id)
                       .values(thread_id=moved_to).execution_options(synchronize_session=False))


def on_answer_accepted(thread, *, post=None, **_extra) -> None:
    if post is not None and post.author_id != thread.author_id:
        trust.evaluate([post.author_id])


def on_vote_cast(post, *, value=0, **_extra) -> None:
    if value > 0:
        trust.evaluate([post.author_id])


def on_thread_viewed(thread_id, *, viewer_id=None, posts=0, **_extra) -> None:
    if viewer_id is not None and posts:
        trust.READS.record(viewer_id, posts)


def connect() -> None:
    for signal, receiver in (
        (signals.thread_created, on_thread_created), (signals.post_created, on_post_created),
        (signals.post_edited, on_post_edited), (signals.post_hidden, on_post_hidden),
        (signals.thread_hidden, on_thread_hidden), (signals.post_unhidden, on_post_unhidden),
        (signals.thread_unhidden, on_thread_unhidden), (signals.post_deleted, on_post_deleted),
        (signals.thread_deleted, on_thread_deleted), (signals.answer_accepted, on_answer_accepted),
        (signals.vote_cast, on_vote_cast), (signals.thread_viewed, on_thread_viewed),
        (signals.user_signed_up, safeguards.record_signup),
        (signals.thread_merged, follow_moved_posts), (signals.thread_split, follow_moved_posts),
    ):
        signal.connect(receiver, weak=False)

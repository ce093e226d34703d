"""Moderation tables: members' flags, the review queue's items, warnings and restrictions given to
members, the admins' settings (site-wide and per category), sign-up addresses and reading counts."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from accounts.models import User
from core import clock
from core.extensions import db
from forum.models import Category, Post, Thread

NOTE_MAX, MESSAGE_MAX = 500, 2000

# What a flag says is wrong, and how the page and the queue say it.
SPAM, ABUSE, OFF_TOPIC, NEEDS_STAFF, OTHER = "spam", "abuse", "off_topic", "needs_staff", "other"
FLAG_KINDS = {
    SPAM: "Spam: an advertisement or a link farm",
    ABUSE: "Abusive, rude or harassing",
    OFF_TOPIC: "Off-topic: does not belong here",
    NEEDS_STAFF: "Needs staff: only the company can help with this",
    OTHER: "Something else (say what)",
}
FLAG_LABELS = {SPAM: "Spam", ABUSE: "Abuse", OFF_TOPIC: "Off-topic", NEEDS_STAFF: "Needs staff",
               OTHER: "Other"}

# A flag's outcome once a moderator decided the post's item.
AGREED, REJECTED = "agreed", "rejected"

# Why a post is in the review queue.
FLAGGED, HELD_POST, HELD_EDIT, SPAM_SUSPECT = "flagged", "held", "edit", "spam"
ITEM_KINDS = {FLAGGED: "Flagged by members", HELD_POST: "Held for approval",
              HELD_EDIT: "Edit awaiting review", SPAM_SUSPECT: "Spam suspect"}

# A review item's status: pending, or the decision that ended it.
PENDING = "pending"
APPROVED, DISMISSED, HIDDEN, MARKED_SPAM, DELETED = "approved", "dismissed", "hidden", "spam", "deleted"
DECISION_LABELS = {PENDING: "waiting for a moderator", APPROVED: "approved",
                   DISMISSED: "kept (flags dismissed)", HIDDEN: "hidden", MARKED_SPAM: "removed as spam",
                   DELETED: "deleted"}
AGREEING_DECISIONS = frozenset({HIDDEN, MARKED_SPAM, DELETED})

# What a moderator did to a member.
WARNING, SILENCE, SUSPENSION = "warning", "silence", "suspension"
ACTION_LABELS = {WARNING: "Warning", SILENCE: "Silenced", SUSPENSION: "Suspended"}


class ReviewItem(db.Model):
    """One post waiting for a moderator: flagged, held for approval, an edit held, or a spam
    suspect. At most one pending item per post (a partial unique index); a decision ends it."""

    __tablename__ = "review_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(sa.ForeignKey("posts.id", ondelete="CASCADE"), index=True)
    thread_id: Mapped[int] = mapped_column(sa.ForeignKey("threads.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(10))
    reason: Mapped[str] = mapped_column(sa.String(NOTE_MAX), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=clock.now)
    status: Mapped[str] = mapped_column(sa.String(10), default=PENDING, server_default=PENDING)
    decided_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    decision_note: Mapped[str] = mapped_column(sa.String(NOTE_MAX), default="", server_default="")

    post: Mapped[Post] = relationship()
    thread: Mapped[Thread] = relationship()
    author: Mapped[User] = relationship(foreign_keys=[author_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])

    __table_args__ = (
        sa.Index("uq_review_items_pending_post", "post_id", unique=True,
                 sqlite_where=sa.text("status = 'pending'"), postgresql_where=sa.text("status = 'pending'")),
        sa.Index("ix_review_items_status_created_at", "status", "created_at"),
    )

    @property
    def kind_label(self) -> str:
        return ITEM_KINDS.get(self.kind, self.kind)

    @property
    def status_label(self) -> str:
        return DECISION_LABELS.get(self.status, self.status)

    @property
    def post_state(self) -> str:
        """What readers see of the post: a question is as its thread is."""
        return self.thread.state if self.post.is_question else self.post.state


class Flag(db.Model):
    """One member's flag on a post: what is wrong, their weight when they flagged, and, once a
    moderator decided, whether they agreed. One flag per member and post."""

    __tablename__ = "flags"

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(sa.ForeignKey("posts.id", ondelete="CASCADE"), index=True)
    flagger_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(12))
    note: Mapped[str] = mapped_column(sa.String(NOTE_MAX), default="", server_default="")
    weight: Mapped[float] = mapped_column(sa.Float, default=1.0)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=clock.now)
    review_item_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("review_items.id", ondelete="SET NULL"), index=True)
    outcome: Mapped[str | None] = mapped_column(sa.String(10))
    resolved_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))

    flagger: Mapped[User] = relationship()
    post: Mapped[Post] = relationship()

    __table_args__ = (sa.UniqueConstraint("post_id", "flagger_id"),)

    @property
    def kind_label(self) -> str:
        return FLAG_LABELS.get(self.kind, self.kind)


class MemberAction(db.Model):
    """A warning, silence or suspension given to a member: why, by whom, until when, and whether it
    was lifted early (or, for a warning, read and dismissed by the member)."""

    __tablename__ = "member_actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(12))
    reason: Mapped[str] = mapped_column(sa.String(MESSAGE_MAX))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=clock.now)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    ends_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))  # lifted or dismissed
    ended_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    post_id: Mapped[int | None] = mapped_column(sa.ForeignKey("posts.id", ondelete="SET NULL"))

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])

    @property
    def label(self) -> str:
        return ACTION_LABELS.get(self.kind, self.kind)


class ModerationSettings(db.Model):
    """The admins' moderation settings: one row (id 1) of values, read through moderation.settings."""

    __tablename__ = "moderation_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    values: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    blocked_words: Mapped[str] = mapped_column(sa.Text, default="", server_default="")
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=clock.now)


class CategoryModeration(db.Model):
    """A category's own flag threshold (others use the site's)."""

    __tablename__ = "moderation_categories"

    category_id: Mapped[int] = mapped_column(sa.ForeignKey("categories.id", ondelete="CASCADE"),
                                             primary_key=True)
    flag_threshold: Mapped[float] = mapped_column(sa.Float)

    category: Mapped[Category] = relationship()


class SignupAddress(db.Model):
    """Where an account signed up from, hashed with the site's key (never the address itself), so
    that a burst of sign-ups from one place can be told apart."""

    __tablename__ = "signup_addresses"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    address_hash: Mapped[str] = mapped_column(sa.String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=clock.now)


class ReadingCount(db.Model):
    """How many posts a member has read (thread pages they opened, counted by the posts shown),
    added up from the view buffer by a periodic job; part of earning basic trust."""

    __tablename__ = "reading_counts"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    posts_read: Mapped[int] = mapped_column(default=0)

"""Escalation tables: teams and their people, response policies, escalations and their reasons,
internal notes, private conversations, canned replies and webhook deliveries."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from accounts.models import User
from core import clock
from core.extensions import db
from forum.models import Category, Post, Thread

NAME_MAX, NOTE_MAX, REASON_NOTE_MAX, URL_MAX = 80, 20_000, 500, 500

# Why a thread is in a staff queue (escalation_reasons.reason), most pressing first.
URGENT, NEEDS_STAFF, UNANSWERED, UNRESOLVED = "urgent", "needs_staff", "unanswered", "unresolved"
REASONS = (URGENT, NEEDS_STAFF, UNANSWERED, UNRESOLVED)
REASON_LABELS = {URGENT: "Urgent", NEEDS_STAFF: "Needs staff", UNANSWERED: "Unanswered by peers",
                 UNRESOLVED: "Answered, not solved"}
PRIORITIES = {UNRESOLVED: 1, UNANSWERED: 2, NEEDS_STAFF: 3, URGENT: 4}
PRIORITY_LABELS = {1: "Low", 2: "Normal", 3: "High", 4: "Urgent"}

OPEN, RESOLVED = "open", "resolved"
STATES = (OPEN, RESOLVED)
# How an escalation ended.
ANSWERED, SOLVED, HANDED_BACK, CLOSED = "answered", "solved", "handed_back", "closed"
RESOLUTIONS = (ANSWERED, SOLVED, HANDED_BACK, CLOSED)
RESOLUTION_LABELS = {ANSWERED: "Answered by staff", SOLVED: "Solved",
                     HANDED_BACK: "Handed back to the community",
                     CLOSED: "Thread closed or removed"}

URGENT_QUEUE = "urgent"  # every other queue is a team's slug


team_members = sa.Table(
    "escalation_team_members", db.metadata,
    sa.Column("team_id", sa.ForeignKey("escalation_teams.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Team(db.Model):
    """A group of staff who answer the escalations of some categories (Billing, Integrations)."""

    __tablename__ = "escalation_teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(NAME_MAX), unique=True)
    name: Mapped[str] = mapped_column(sa.String(NAME_MAX), unique=True)
    auto_assign: Mapped[bool] = mapped_column(default=True)
    # Outbound notice of each new escalation: a mailbox, and a webhook signed with the secret.
    notify_email: Mapped[str] = mapped_column(sa.String(254), default="", server_default="")
    webhook_url: Mapped[str] = mapped_column(sa.String(URL_MAX), default="", server_default="")
    webhook_secret: Mapped[str] = mapped_column(sa.String(100), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=clock.now)
    # The member who leads the team (gets the weekly summary mail); optional.
    lead_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL",
                                                              name="fk_escalation_teams_lead_id_users"))

    members: Mapped[list[User]] = relationship(secondary=team_members, order_by="User.username")
    lead: Mapped[User | None] = relationship(foreign_keys=[lead_id])


class DeskProfile(db.Model):
    """A person's desk settings: available or away (advocates who are away get no "can you help?"
    notices), a cap on open escalations, and for part-time experts the hours they give (shown to
    colleagues, e.g. "Tue and Thu 14-16")."""

    __tablename__ = "escalation_people"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    available: Mapped[bool] = mapped_column(default=True)
    cap: Mapped[int] = mapped_column(default=10)
    schedule: Mapped[str] = mapped_column(sa.String(200), default="", server_default="")
    last_assigned_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))

    user: Mapped[User] = relationship()


class CategoryTeam(db.Model):
    """Which team answers a category's escalations (one team per category)."""

    __tablename__ = "escalation_category_teams"

    category_id: Mapped[int] = mapped_column(sa.ForeignKey("categories.id", ondelete="CASCADE"),
                                             primary_key=True)
    team_id: Mapped[int] = mapped_column(sa.ForeignKey("escalation_teams.id", ondelete="CASCADE"), index=True)


class Policy(db.Model):
    """Response targets for a category (category_id None: the site default).

    The peer window is wall-clock time (peers answer at any hour); staff targets are business
    time in the policy's calendar (escalation.hours.Calendar, stored as JSON).
    """

    __tablename__ = "escalation_policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    category_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("categories.id", ondelete="CASCADE"), unique=True)
    peer_window_s: Mapped[int] = mapped_column(default=2 * 3600)
    target_s: Mapped[int] = mapped_column(default=3600)
    urgent_target_s: Mapped[int] = mapped_column(default=15 * 60)
    calendar: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    urgent_terms: Mapped[str] = mapped_column(sa.String(2000), default="", server_default="")
    unresolved_after_days: Mapped[int | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=clock.now)

    category: Mapped[Category | None] = relationship()


class EscalationLabels:
    """What an escalation's state, priority and resolution read as; for the model and for the plain
    rows a queue page reads (escalation.queries.QueueEscalation): anything with `state`, `priority`
    and `resolution`."""

    @property
    def is_open(self) -> bool:
        return self.state == OPEN

    @property
    def priority_label(self) -> str:
        return PRIORITY_LABELS.get(self.priority, str(self.priority))

    @property
    def resolution_label(self) -> str:
        return RESOLUTION_LABELS.get(self.resolution or "", "")


class ReasonLabel:
    """What a reason code (`reason`) reads as, for the model and for plain rows."""

    @property
    def label(self) -> str:
        return REASON_LABELS.get(self.reason, self.reason)


class Escalation(EscalationLabels, db.Model):
    """A thread in a staff queue. At most one is open per thread (a partial unique index); new
    reasons add to it. The policy in force when it opened is copied onto it, so a later change of
    policy does not move its due time."""

    __tablename__ = "escalations"

    id: Mapped[int] = mapped_column(primary_key=True)
    thread_id: Mapped[int] = mapped_column(sa.ForeignKey("threads.id", ondelete="CASCADE"), index=True)
    team_id: Mapped[int | None] = mapped_column(sa.ForeignKey("escalation_teams.id", ondelete="SET NULL"))
    queue: Mapped[str] = mapped_column(sa.String(NAME_MAX))
    priority: Mapped[int] = mapped_column(default=2)
    state: Mapped[str] = mapped_column(sa.String(10), default=OPEN)
    # Opened by a rule (created_by_id None, created_by_rule the reason) or by a person.
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_by_rule: Mapped[str | None] = mapped_column(sa.String(20))
    escalated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=clock.now)
    target_s: Mapped[int] = mapped_column()
    calendar: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    due_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    warn_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))  # 80% of the target
    warned_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    breached_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    assignee_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"),
                                                    index=True)
    assigned_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    acknowledged_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    first_response_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    first_response_post_id: Mapped[int | None] = mapped_column(sa.ForeignKey("posts.id", ondelete="SET NULL"))
    response_business_s: Mapped[int | None] = mapped_column()
    resolved_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    resolution: Mapped[str | None] = mapped_column(sa.String(20))
    resolved_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    resolution_note: Mapped[str] = mapped_column(sa.String(REASON_NOTE_MAX), default="", server_default="")

    thread: Mapped[Thread] = relationship()
    team: Mapped[Team | None] = relationship()
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    first_response_post: Mapped[Post | None] = relationship()
    reasons: Mapped[list[EscalationReason]] = relationship(
        back_populates="escalation", order_by="EscalationReason.id", cascade="all, delete-orphan")

    __table_args__ = (
        # One open escalation per thread, whatever two workers or two people do at the same moment.
        sa.Index("uq_escalations_open_thread", "thread_id", unique=True,
                 postgresql_where=sa.text("state = 'open'"), sqlite_where=sa.text("state = 'open'")),
        sa.Index("ix_escalations_state_due_at", "state", "due_at"),
        # The metrics look escalations up by due time and first response, whatever their state.
        sa.Index("ix_escalations_due_at", "due_at"),
        sa.Index("ix_escalations_first_response_at", "first_response_at"),
        sa.Index("ix_escalations_state_warn_at", "state", "warn_at"),
        sa.CheckConstraint(f"state IN ({', '.join(repr(s) for s in STATES)})", name="state_known"),
    )

    @property
    def reason_codes(self) -> list[str]:
        return list(dict.fromkeys(r.reason for r in self.reasons))


class EscalationReason(ReasonLabel, db.Model):
    """One reason an escalation holds, by whom (None: a rule) and with what note."""

    __tablename__ = "escalation_reasons"

    id: Mapped[int] = mapped_column(primary_key=True)
    escalation_id: Mapped[int] = mapped_column(sa.ForeignKey("escalations.id", ondelete="CASCADE"),
                                               index=True)
    # Repeated from the escalation: the sweep asks "was this thread ever escalated for this reason".
    thread_id: Mapped[int] = mapped_column(sa.ForeignKey("threads.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(sa.String(20))
    note: Mapped[str] = mapped_column(sa.String(REASON_NOTE_MAX), default="", server_default="")
    by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=clock.now)

    escalation: Mapped[Escalation] = relationship(back_populates="reasons")
    by: Mapped[User | None] = relationship()

    __table_args__ = (sa.Index("ix_escalation_reasons_thread_id_reason", "thread_id", "reason"),)


class Assignment(db.Model):
    """Who held an escalation from when: claims, assignments, releases and hand-ons, kept."""

    __tablename__ = "escalation_assignments"

    id: Mapped[int] = mapped_column(primary_key=True)
    escalation_id: Mapped[int] = mapped_column(sa.ForeignKey("escalations.id", ondelete="CASCADE"),
                                               index=True)
    assignee_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(sa.String(20))  # claimed, assigned, auto, released
    note: Mapped[str] = mapped_column(sa.String(REASON_NOTE_MAX), default="", server_default="")
    at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=clock.now)

    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])
    by: Mapped[User | None] = relationship(foreign_keys=[by_id])


class InternalNote(db.Model):
    """A note staff leave on a thread for each other: never a post, never indexed, never mailed."""

    __tablename__ = "escalation_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    thread_id: Mapped[int] = mapped_column(sa.ForeignKey("threads.id", ondelete="CASCADE"), index=True)
    escalation_id: Mapped[int | None] = mapped_column(sa.ForeignKey("escalations.id", ondelete="SET NULL"))
    author_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(sa.Text)
    body_html: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=clock.now)

    author: Mapped[User | None] = relationship()


class Conversation(db.Model):
    """A private conversation between a thread's asker and staff, for account details that do not
    belong in public. Never indexed; seen by the asker and staff only."""

    __tablename__ = "escalation_conversations"

    id: Mapped[int] = mapped_column(primary_key=True)
    thread_id: Mapped[int] = mapped_column(sa.ForeignKey("threads.id", ondelete="CASCADE"), index=True)
    asker_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    started_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=clock.now)

    thread: Mapped[Thread] = relationship()
    asker: Mapped[User] = relationship(foreign_keys=[asker_id])
    messages: Mapped[list[ConversationMessage]] = relationship(
        order_by="ConversationMessage.id", cascade="all, delete-orphan")


class ConversationMessage(db.Model):
    __tablename__ = "escalation_conversation_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        sa.ForeignKey("escalation_conversations.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    author_role: Mapped[str] = mapped_column(sa.String(10))
    body: Mapped[str] = mapped_column(sa.Text)
    body_html: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=clock.now)

    author: Mapped[User | None] = relationship()


class CannedReply(db.Model):
    """A staff reply template with placeholders ({asker}, {article:slug}); counted when used."""

    __tablename__ = "escalation_canned_replies"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(NAME_MAX), unique=True)
    body: Mapped[str] = mapped_column(sa.Text)
    is_acknowledgement: Mapped[bool] = mapped_column(default=False)
    use_count: Mapped[int] = mapped_column(default=0)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=clock.now)


class PeerCall(db.Model):
    """Advocates were asked to help with this thread before staff step in (once per thread)."""

    __tablename__ = "escalation_peer_calls"

    thread_id: Mapped[int] = mapped_column(sa.ForeignKey("threads.id", ondelete="CASCADE"), primary_key=True)
    called_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=clock.now)
    advocates: Mapped[int] = mapped_column(default=0)


class WebhookDelivery(db.Model):
    """One escalation's notice to a team's webhook: sent, or failing (shown to admins)."""

    __tablename__ = "escalation_webhook_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(sa.ForeignKey("escalation_teams.id", ondelete="CASCADE"), index=True)
    escalation_id: Mapped[int] = mapped_column(sa.ForeignKey("escalations.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(sa.String(URL_MAX))
    status: Mapped[str] = mapped_column(sa.String(10), default="pending")  # pending, sent, failing
    attempts: Mapped[int] = mapped_column(default=0)
    response_status: Mapped[int | None] = mapped_column()
    last_error: Mapped[str] = mapped_column(sa.String(500), default="", server_default="")
    last_attempt_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=clock.now)

    team: Mapped[Team] = relationship()

    __table_args__ = (sa.UniqueConstraint("team_id", "escalation_id"),)

"""Users, their external identities, password-reset tokens and the account audit trail."""

import hashlib
import secrets
from datetime import datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from core import clock
from core.confusables import name_skeleton
from core.extensions import db

MEMBER, ADVOCATE, STAFF, ADMIN = "member", "advocate", "staff", "admin"
ROLES = (MEMBER, ADVOCATE, STAFF, ADMIN)
STAFF_ROLES = frozenset({STAFF, ADMIN})
ROLE_LABELS = {MEMBER: "Member", ADVOCATE: "Advocate", STAFF: "Staff", ADMIN: "Admin"}
# Trust a member has earned (accounts.standing reads it; moderation raises it).
NEW, BASIC = 0, 1
TRUST_LABELS = {NEW: "New member", BASIC: "Basic trust"}

# Kinds of external identity; the CRM id is for staff eyes only.
IDENTITY_KINDS = {
    "github": "GitHub",
    "x": "X (Twitter)",
    "linkedin": "LinkedIn",
    "mastodon": "Mastodon",
    "website": "Website",
    "crm": "CRM id",
}
PUBLIC_IDENTITY_KINDS = frozenset(IDENTITY_KINDS) - {"crm"}


def new_session_token() -> str:
    """A sign-in session's secret: kept by the browser (session and remember cookies), stored hashed."""
    return secrets.token_urlsafe(32)


def session_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


class User(UserMixin, db.Model):
    """A person (or, later, a system account) with one role."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    username: Mapped[str] = mapped_column(sa.String(30))
    # Case- and width-folded (NFKC): 'Ada', 'ADA' and full-width 'ａｄａ' are one name.
    username_key: Mapped[str] = mapped_column(sa.String(30), unique=True)
    # Its look-alike skeleton (core.confusables.name_skeleton), kept by _keep_skeleton: 'admin' and
    # Cyrillic 'аdmin' share one. Not unique: imported authors may collide, so sign-up refuses a
    # look-alike instead. Up to seven characters per letter of a 30-letter name (Hangul jamo).
    username_skeleton: Mapped[str] = mapped_column(sa.String(255), index=True)
    display_name: Mapped[str] = mapped_column(sa.String(60))
    bio: Mapped[str] = mapped_column(sa.Text, default="")
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[str] = mapped_column(sa.String(10), default=MEMBER, index=True)
    is_active_account: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=clock.now)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    # Standing, set by moderation (accounts.standing reads it): the trust level a member has earned
    # (0 new, 1 basic), a restriction in force until a time (silenced: read-only; suspended: read-only
    # and flagged as such on the profile) with its reason, and whether a warning waits to be read.
    # Kept here, on the row every request loads, so checking them costs no query.
    trust_level: Mapped[int] = mapped_column(default=0, server_default="0")
    restriction: Mapped[str | None] = mapped_column(sa.String(10))
    restricted_until: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    restriction_reason: Mapped[str] = mapped_column(sa.String(500), default="", server_default="")
    has_warning: Mapped[bool] = mapped_column(default=False, server_default=sa.false())

    identities: Mapped[list["ExternalIdentity"]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="ExternalIdentity.kind"
    )

    __table_args__ = (
        sa.CheckConstraint(f"role IN ({', '.join(repr(r) for r in ROLES)})", name="role_known"),
    )

    @validates("username")
    def _keep_skeleton(self, _key, username: str) -> str:
        self.username_skeleton = name_skeleton(username)
        return username

    # The token of the sign-in session this object was loaded for (not a column): Flask-Login keeps
    # it in the session and remember cookies, so that ending the session on the server ends them.
    session_token = None
    # Figures about this person loaded with them for the session (accounts.services.SESSION_FIGURES:
    # the forum's unread notices, say), by name; None when loaded another way.
    session_figures = None

    def get_id(self) -> str | None:
        return self.session_token

    @property
    def is_active(self) -> bool:
        return self.is_active_account

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN

    @property
    def is_advocate(self) -> bool:
        return self.role == ADVOCATE

    @property
    def role_label(self) -> str:
        return ROLE_LABELS[self.role]

    @property
    def trust_label(self) -> str:
        return TRUST_LABELS.get(self.trust_level or NEW, TRUST_LABELS[BASIC])

    def __repr__(self) -> str:
        return f"<User {self.id} {self.username} {self.role}>"


class ExternalIdentity(db.Model):
    """A handle elsewhere (GitHub, X, a CRM id) that helps staff recognise a customer."""

    __tablename__ = "external_identities"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(20))
    value: Mapped[str] = mapped_column(sa.String(200))

    user: Mapped[User] = relationship(back_populates="identities")

    __table_args__ = (sa.UniqueConstraint("user_id", "kind"),)

    @property
    def label(self) -> str:
        return IDENTITY_KINDS.get(self.kind, self.kind)

    @property
    def is_public(self) -> bool:
        return self.kind in PUBLIC_IDENTITY_KINDS


class PasswordResetToken(db.Model):
    """One reset request: the mailed link is signed over this row and works once."""

    __tablename__ = "password_reset_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    nonce: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=clock.now)
    mailed_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))

    user: Mapped[User] = relationship()


class AuditEntry(db.Model):
    """One staff or admin action (and an account's own security changes), appended and never edited:
    who did what to which subject, what it was before and after, and why (accounts.audit)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )  # None: the operator at the shell, or the system
    actor_role: Mapped[str | None] = mapped_column(sa.String(10))
    action: Mapped[str] = mapped_column(sa.String(40))
    subject_type: Mapped[str] = mapped_column(sa.String(20))  # "user", "thread", "post", ...
    subject_id: Mapped[int] = mapped_column()
    before: Mapped[dict | None] = mapped_column(sa.JSON)
    after: Mapped[dict | None] = mapped_column(sa.JSON)
    reason: Mapped[str] = mapped_column(sa.String(500), default="")
    created_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), default=clock.now, index=True
    )

    actor: Mapped[User | None] = relationship(foreign_keys=[actor_id])

    __table_args__ = (sa.Index("ix_audit_log_subject", "subject_type", "subject_id", "created_at"),)

    @property
    def change(self) -> str:
        """"before → after" of the values that changed, for a list of entries."""
        before, after = self.before or {}, self.after or {}
        keys = [k for k in dict.fromkeys([*before, *after]) if before.get(k) != after.get(k)]
        return "; ".join(f"{before.get(k) or '—'} → {after.get(k) or '—'}" for k in keys)


class UserSession(db.Model):
    """One signed-in browser: ends at sign-out, at a password change or reset, or when it expires.

    The browser holds the token; only its hash is stored, so a copy of the database signs nobody in.
    """

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=clock.now)
    expires_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    user_agent: Mapped[str] = mapped_column(sa.String(200), default="")

    user: Mapped[User] = relationship()

"""The audit log: one append-only record of every staff and admin action (and of an account's own
security changes). Services write it in the transaction of the action; nothing edits it."""

import sqlalchemy as sa

from accounts.models import AuditEntry, User
from core.extensions import append_only, db

append_only(AuditEntry)

USER = "user"


def record(actor: User | None, action: str, subject_type: str, subject_id: int, *,
           before: dict | None = None, after: dict | None = None, reason: str = "") -> AuditEntry:
    """Add one entry to the current transaction (`actor` None: the shell's operator or the system)."""
    entry = AuditEntry(actor_id=getattr(actor, "id", None), actor_role=getattr(actor, "role", None),
                       action=action, subject_type=subject_type, subject_id=subject_id,
                       before=before, after=after, reason=reason or "")
    db.session.add(entry)
    return entry


def entries_for(subject_type: str, subject_id: int, limit: int = 50) -> list[AuditEntry]:
    """The newest entries about one subject, with their actors, in one query."""
    return list(db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.subject_type == subject_type,
                                    AuditEntry.subject_id == subject_id)
        .order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc()).limit(limit)
        .options(sa.orm.joinedload(AuditEntry.actor))
    ))

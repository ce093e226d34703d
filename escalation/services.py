"""Escalation rules for people and for the rules engine: open (or add a reason to) a thread's one
open escalation, assign it, stop its clock, resolve it or hand it back, and leave internal notes.

Every change writes the thread's history and the audit log in the caller's transaction; the
services that act for a person commit, those called from forum events or jobs never do.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from accounts import audit
from accounts.models import STAFF_ROLES, User
from accounts.permissions import is_staff
from accounts.standing import check_can_participate
from core import clock, jobs, markup
from core.clock import as_utc
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.extensions import constant, db
from core.text import clean_line, required_text
from escalation import hours
from escalation.models import (
    ANSWERED,
    HANDED_BACK,
    NEEDS_STAFF,
    NOTE_MAX,
    OPEN,
    PRIORITIES,
    REASON_LABELS,
    REASON_NOTE_MAX,
    RESOLUTIONS,
    RESOLVED,
    URGENT,
    URGENT_QUEUE,
    Assignment,
    CategoryTeam,
    DeskProfile,
    Escalation,
    EscalationReason,
    InternalNote,
    Policy,
    Team,
    team_members,
)
from forum import history, visibility
from forum.models import ANSWER, VISIBLE, Post, Thread

ESCALATION = "escalation"  # the audit log's subject type

# Thread history kinds written by this package.
ESCALATED, ESCALATION_RAISED, ASSIGNED, RELEASED, BREACHED, ESCALATION_RESOLVED = (
    "escalated", "escalation_raised", "escalation_assigned", "escalation_released", "escalation_breached",
    "escalation_resolved")

WARN_SHARE = 0.8  # breach warnings go out at 80% of the target


# --- policies and teams -----------------------------------------------------------------------------


def default_policy() -> Policy:
    """The site default (category_id None); an unsaved one with the built-in targets if none is set."""
    found = db.session.scalar(sa.select(Policy).where(Policy.category_id.is_(None)))
    return found or Policy(category_id=None, peer_window_s=2 * 3600, target_s=3600, urgent_target_s=900,
                           calendar={}, urgent_terms="")


def policy_for(category_id: int | None) -> Policy:
    """The policy in force for a category: its own, else the site default."""
    if category_id is not None:
        own = db.session.scalar(sa.select(Policy).where(Policy.category_id == category_id))
        if own is not None:
            return own
    return default_policy()


def calendar_of(data: dict | None) -> hours.Calendar:
    """A stored calendar; an empty one is around the clock in the site's time zone."""
    if not data:
        zone = current_app.config.get("PEERLINE_TIMEZONE", "UTC")
        return hours.Calendar(timezone=zone, around_the_clock=True)
    return hours.Calendar.from_json(data)


def team_for(category_id: int) -> Team | None:
    return db.session.scalar(sa.select(Team).join(CategoryTeam, CategoryTeam.team_id == Team.id)
                             .where(CategoryTeam.category_id == category_id))


def profile_of(user_id: int) -> DeskProfile:
    """A staff member's desk settings, made with the defaults on first use."""
    profile = db.session.get(DeskProfile, user_id)
    if profile is None:
        profile = DeskProfile(user_id=user_id, available=True, cap=10)
        db.session.add(profile)
        db.session.flush()
    return profile


def open_load(user_ids) -> dict[int, int]:
    """Open escalations held by each of these people."""
    rows = db.session.execute(
        sa.select(Escalation.assignee_id, sa.func.count()).where(
            Escalation.state == OPEN, Escalation.assignee_id.in_(list(user_ids)))
        .group_by(Escalation.assignee_id))
    return {uid: n for uid, n in rows}


def urgent_terms(policy: Policy) -> list[str]:
    return [t.strip().lower() for t in policy.urgent_terms.replace("\n", ",").split(",") if t.strip()]


def matches_urgent_terms(policy: Policy, text: str) -> str | None:
    """The first of the policy's urgent terms found in the text (as words, any case), or None."""
    import re

    lowered = " ".join(text.lower().split())
    for term in urgent_terms(policy):
        if re.search(r"(?<!\w)" + re.escape(" ".join(term.split())) + r"(?!\w)", lowered):
            return term
    return None


# --- opening ---------------------------------------------------------------------------------------


def escalatable(thread: Thread) -> bool:
    """Threads staff should take: live, open, and asked by an account that is still active."""
    if thread.state != VISIBLE or thread.closed_at is not None or thread.is_locked:
        return False
    return bool(thread.author and thread.author.is_active_account)


def open_escalation_of(thread_id: int, *, lock: bool = False) -> Escalation | None:
    query = sa.select(Escalation).where(Escalation.thread_id == thread_id, Escalation.state == constant(OPEN))
    if lock:
        query = query.with_for_update()
    return db.session.scalar(query)


def escalate(thread: Thread, reason: str, *, by: User | None = None, note: str = "",
             at: datetime | None = None) -> Escalation | None:
    """Open the thread's escalation for `reason`, or add the reason to the one that is open (which
    may raise its priority and, for urgency, bring its due time forward). Returns the escalation,
    or None when nothing changed: the thread is not one staff should take, or a rule saw a reason
    the open escalation holds already (two sweeps at once: the second adds nothing). Does not commit."""
    if reason not in PRIORITIES:
        raise ValueError(f"unknown escalation reason {reason!r}")
    if not escalatable(thread):
        return None
    now = as_utc(at or clock.now())
    existing = open_escalation_of(thread.id, lock=True)
    if existing is None:
        try:
            with db.session.begin_nested():
                existing = _open(thread, reason, by, note, now)
            return existing
        except IntegrityError:  # another worker or person opened it this moment: add to theirs
            existing = open_escalation_of(thread.id, lock=True)
            if existing is None:
                raise
    return existing if _add_reason(existing, thread, reason, by, note, now) else None


def _open(thread: Thread, reason: str, by: User | None, note: str, now: datetime) -> Escalation:
    policy = policy_for(thread.category_id)
    calendar = calendar_of(policy.calendar)
    team = team_for(thread.category_id)
    target = policy.urgent_target_s if reason == URGENT else policy.target_s
    escalation = Escalation(
        thread_id=thread.id, team_id=team.id if team else None,
        queue=URGENT_QUEUE if reason == URGENT else (team.slug if team else "general"),
        priority=PRIORITIES[reason], state=OPEN, created_by_id=getattr(by, "id", None),
        created_by_rule=None if by else reason, escalated_at=now, target_s=target,
        calendar=calendar.to_json(), due_at=calendar.add(now, target),
        warn_at=calendar.add(now, target * WARN_SHARE))
    db.session.add(escalation)
    db.session.flush()  # the unique index speaks here when another one is open
    db.session.add(EscalationReason(escalation_id=escalation.id, thread_id=thread.id, reason=reason,
                                    note=note, by_id=getattr(by, "id", None), at=now))
    history.record(thread, ESCALATED, by, reason=reason, note=note, at=now)
    audit.record(by, "escalate", ESCALATION, escalation.id, after={
        "thread_id": thread.id, "reason": reason, "queue": escalation.queue,
        "due_at": as_utc(escalation.due_at).isoformat()}, reason=note)
    answered = db.session.scalar(
        sa.select(Post).where(Post.thread_id == thread.id, Post.kind == ANSWER, Post.state == VISIBLE,
                              Post.author_role.in_(sorted(STAFF_ROLES)), Post.created_at >= now)
        .order_by(Post.created_at, Post.id).limit(1))
    if answered is not None:  # staff replied between the sweep's reading and this moment
        stop_clock(escalation, answered)
    if team is not None and team.auto_assign:
        auto_assign(escalation, now=now)
    from escalation import jobs as escalation_jobs

    jobs.enqueue(escalation_jobs.announce_escalation, escalation.id, queue="mail")
    return escalation


def _add_reason(escalation: Escalation, thread: Thread, reason: str, by: User | None, note: str,
                now: datetime) -> bool:
    if reason in escalation.reason_codes:
        if by is not None and reason != URGENT:
            raise Conflict(f"This thread is already with staff as “{REASON_LABELS[reason]}”.")
        if by is None:
            return False  # a rule seeing what it saw before
    db.session.add(EscalationReason(escalation_id=escalation.id, thread_id=thread.id, reason=reason,
                                    note=note, by_id=getattr(by, "id", None), at=now))
    before = {"priority": escalation.priority, "queue": escalation.queue,
              "due_at": as_utc(escalation.due_at).isoformat()}
    escalation.priority = max(escalation.priority, PRIORITIES[reason])
    if reason == URGENT and escalation.first_response_at is None:
        policy = policy_for(thread.category_id)
        calendar = calendar_of(escalation.calendar)
        due = calendar.add(now, policy.urgent_target_s)
        if due < as_utc(escalation.due_at):
            escalation.due_at = due
            escalation.warn_at = min(as_utc(escalation.warn_at),
                                     calendar.add(now, policy.urgent_target_s * WARN_SHARE))
        escalation.queue = URGENT_QUEUE
    history.record(thread, ESCALATION_RAISED, by, reason=reason, note=note, at=now)
    audit.record(by, "escalation-reason", ESCALATION, escalation.id, before=before, after={
        "reason": reason, "priority": escalation.priority, "queue": escalation.queue,
        "due_at": as_utc(escalation.due_at).isoformat()}, reason=note)
    return True


def may_send_up(user) -> bool:
    """Advocates and staff send threads to staff."""
    return bool(user is not None and getattr(user, "is_authenticated", False)
                and (is_staff(user) or user.is_advocate))


def offers_send_up(user, thread) -> bool:
    """Whether a thread page offers this person "Send to staff": they may, and staff could take it."""
    return (may_send_up(user) and thread.state == VISIBLE and thread.closed_at is None
            and not thread.is_locked)


def send_up(actor: User, thread: Thread, reason: str, note: str) -> Escalation:
    """An advocate (or staff) sends a thread to staff: "needs staff" or "urgent", with why."""
    check_can_participate(actor)
    if not may_send_up(actor):
        raise Forbidden("Only advocates and staff can send a thread to staff.")
    if reason not in (NEEDS_STAFF, URGENT):
        raise Invalid("Choose why staff are needed: needs staff, or urgent.")
    note = clean_line(note or "")
    if not note:
        raise Invalid("Say in a few words why staff are needed (for example: needs an account lookup).")
    if len(note) > REASON_NOTE_MAX:
        raise Invalid(f"The reason is {len(note)} characters; keep it under {REASON_NOTE_MAX}.")
    if not visibility.can_see_thread(actor, thread):
        raise NotFound("No such thread.")
    if not escalatable(thread):
        raise Conflict("This thread is closed, locked or removed: there is nothing for staff to answer.")
    escalation = escalate(thread, reason, by=actor, note=note)
    db.session.commit()
    return escalation


# --- assignment -------------------------------------------------------------------------------------


def _staff_user(user_id) -> User:
    user = db.session.get(User, user_id) if isinstance(user_id, int) else None
    if user is None or user.role not in STAFF_ROLES or not user.is_active_account:
        raise Invalid("Escalations can only be assigned to an active staff member.")
    return user


def _require_staff(actor: User) -> None:
    if not is_staff(actor):
        raise Forbidden("Only staff work escalations.")


def _require_open(escalation: Escalation) -> None:
    if escalation.state != OPEN:
        raise Conflict("This escalation is resolved already.")


def _set_assignee(escalation: Escalation, assignee_id: int | None, expected: int | None, *, by: User | None,
                  action: str, note: str = "", now: datetime | None = None) -> bool:
    """One conditional update: the escalation is open and held by `expected` (None: by nobody).
    False when someone else changed it first."""
    now = now or clock.now()
    holder = (Escalation.assignee_id.is_(None) if expected is None else Escalation.assignee_id == expected)
    changed = db.session.execute(
        sa.update(Escalation).where(Escalation.id == escalation.id, Escalation.state == OPEN, holder)
        .values(assignee_id=assignee_id, assigned_at=now if assignee_id else None)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not changed:
        return False
    db.session.refresh(escalation)
    db.session.add(Assignment(escalation_id=escalation.id, assignee_id=assignee_id,
                              by_id=getattr(by, "id", None),
                              action=action, note=note, at=now))
    if assignee_id is not None:
        profile_of(assignee_id).last_assigned_at = now
    thread = db.session.get(Thread, escalation.thread_id)
    kind = RELEASED if assignee_id is None else ASSIGNED
    history.record(thread, kind, by, note=note, at=now, reason=action)
    audit.record(by, f"escalation-{action}", ESCALATION, escalation.id,
                 before={"assignee_id": expected}, after={"assignee_id": assignee_id}, reason=note)
    return True


def claim(actor: User, escalation: Escalation) -> Escalation:
    """Take an unassigned escalation. Two people claiming at once: one wins, the other is told who."""
    _require_staff(actor)
    _require_open(escalation)
    if escalation.assignee_id == actor.id:
        raise Conflict("You have this escalation already.")
    if escalation.assignee_id is not None or not _set_assignee(escalation, actor.id, None, by=actor,
                                                               action="claimed"):
        db.session.rollback()
        db.session.refresh(escalation)
        holder = escalation.assignee.display_name if escalation.assignee else "someone"
        raise Conflict(f"{holder} has claimed this escalation already.")
    db.session.commit()
    return escalation


def assign(actor: User, escalation: Escalation, assignee_id, note: str = "") -> Escalation:
    """Give an escalation to a colleague (or hand it on from its holder), within their cap."""
    _require_staff(actor)
    _require_open(escalation)
    assignee = _staff_user(assignee_id)
    if escalation.assignee_id == assignee.id:
        raise Conflict(f"{assignee.display_name} has this escalation already.")
    profile = profile_of(assignee.id)
    if open_load([assignee.id]).get(assignee.id, 0) >= profile.cap:
        raise Invalid(f"{assignee.display_name} already holds {profile.cap} open escalations, their cap.")
    note = clean_line(note or "")[:REASON_NOTE_MAX]
    action = "assigned" if escalation.assignee_id is None else "handed_on"
    if not _set_assignee(escalation, assignee.id, escalation.assignee_id, by=actor, action=action, note=note):
        db.session.rollback()
        raise Conflict("Someone changed who has this escalation a moment ago; look again.")
    db.session.commit()
    return escalation


def release(actor: User, escalation: Escalation, note: str = "") -> Escalation:
    """Put an escalation back in its queue, unassigned."""
    _require_staff(actor)
    _require_open(escalation)
    if escalation.assignee_id is None:
        raise Conflict("Nobody has this escalation.")
    note = clean_line(note or "")[:REASON_NOTE_MAX]
    if not _set_assignee(escalation, None, escalation.assignee_id, by=actor, action="released", note=note):
        db.session.rollback()
        raise Conflict("Someone changed who has this escalation a moment ago; look again.")
    db.session.commit()
    return escalation


def auto_assign(escalation: Escalation, *, now: datetime | None = None) -> User | None:
    """Round-robin by load: the available member of the escalation's team holding the fewest open
    escalations, under their cap; among equals, the one assigned longest ago. Does not commit."""
    if escalation.team_id is None or escalation.assignee_id is not None:
        return None
    members = list(db.session.scalars(
        sa.select(User).join(team_members, team_members.c.user_id == User.id)
        .where(team_members.c.team_id == escalation.team_id, User.role.in_(sorted(STAFF_ROLES)),
               User.is_active_account.is_(True))))
    if not members:
        return None
    profiles = {p.user_id: p for p in db.session.scalars(
        sa.select(DeskProfile).where(DeskProfile.user_id.in_([m.id for m in members])))}
    load = open_load(m.id for m in members)
    oldest = datetime.min.replace(tzinfo=clock.now().tzinfo)
    candidates = []
    for member in members:
        profile = profiles.get(member.id)
        available, cap = (profile.available, profile.cap) if profile else (True, 10)
        if available and load.get(member.id, 0) < cap:
            last = as_utc(profile.last_assigned_at) if profile and profile.last_assigned_at else oldest
            candidates.append((load.get(member.id, 0), last, member.id, member))
    if not candidates:
        return None
    chosen = min(candidates, key=lambda c: c[:3])[3]
    if _set_assignee(escalation, chosen.id, None, by=None, action="auto", now=now):
        return chosen
    return None


# --- the clock ---------------------------------------------------------------------------------------


def stop_clock(escalation: Escalation, post: Post) -> bool:
    """The first public staff post after escalation stops the clock: stores the response time in
    business seconds. False when the post does not count (before escalation, or not staff)."""
    if escalation.first_response_at is not None or post.author_role not in STAFF_ROLES:
        return False
    at = as_utc(post.created_at)
    escalated = as_utc(escalation.escalated_at)
    if at < escalated:
        return False
    escalation.first_response_at = at
    escalation.first_response_post_id = post.id
    escalation.response_business_s = int(round(calendar_of(escalation.calendar).between(escalated, at)))
    return True


def is_breached(escalation: Escalation, now: datetime | None = None) -> bool:
    """Past its due time without a first response (or answered after it)."""
    due = as_utc(escalation.due_at)
    if escalation.first_response_at is not None:
        return as_utc(escalation.first_response_at) > due
    return as_utc(now or clock.now()) > due


def time_left(escalation: Escalation, now: datetime | None = None) -> float:
    """Business seconds until the due time; negative when overdue (business seconds past it)."""
    calendar = calendar_of(escalation.calendar)
    now = as_utc(now or clock.now())
    due = as_utc(escalation.due_at)
    return calendar.between(now, due) if now <= due else -calendar.between(due, now)


# --- ending ------------------------------------------------------------------------------------------


def _end(escalation: Escalation, resolution: str, by: User | None, note: str = "") -> None:
    now = clock.now()
    before = {"state": escalation.state}
    escalation.state, escalation.resolution = RESOLVED, resolution
    escalation.resolved_at, escalation.resolved_by_id = now, getattr(by, "id", None)
    escalation.resolution_note = note
    thread = db.session.get(Thread, escalation.thread_id)
    history.record(thread, ESCALATION_RESOLVED, by, reason=resolution, note=note, at=now)
    audit.record(by, "escalation-resolve", ESCALATION, escalation.id, before=before,
                 after={"state": RESOLVED, "resolution": resolution}, reason=note)


def resolve(actor: User, escalation: Escalation, resolution: str = ANSWERED, note: str = "") -> Escalation:
    """Staff close the escalation: answered, solved, handed back (with a reason) or closed."""
    _require_staff(actor)
    if resolution not in RESOLUTIONS:
        raise Invalid("Choose how the escalation ended.")
    note = clean_line(note or "")
    if len(note) > REASON_NOTE_MAX:
        raise Invalid(f"The note is {len(note)} characters; keep it under {REASON_NOTE_MAX}.")
    if resolution == HANDED_BACK and not note:
        raise Invalid("Say why the thread goes back to the community (peers can answer it, for example).")
    locked = db.session.scalar(sa.select(Escalation).where(Escalation.id == escalation.id).with_for_update()
                               .execution_options(populate_existing=True))
    _require_open(locked)
    _end(locked, resolution, actor, note)
    db.session.commit()
    return locked


def hand_back(actor: User, escalation: Escalation, note: str) -> Escalation:
    return resolve(actor, escalation, HANDED_BACK, note)


def reroute(thread: Thread, by: User | None) -> None:
    """The thread moved to another category: its open escalation goes to that category's team
    (an urgent one stays in the urgent queue), keeping its due time. Does not commit."""
    escalation = open_escalation_of(thread.id, lock=True)
    if escalation is None:
        return
    team = team_for(thread.category_id)
    team_id = team.id if team else None
    if team_id == escalation.team_id:
        return
    before = {"team_id": escalation.team_id, "queue": escalation.queue}
    escalation.team_id = team_id
    if escalation.queue != URGENT_QUEUE:
        escalation.queue = team.slug if team else "general"
    audit.record(by, "escalation-reroute", ESCALATION, escalation.id, before=before,
                 after={"team_id": team_id, "queue": escalation.queue})


def end_for_thread(thread: Thread, resolution: str, by: User | None) -> None:
    """The thread was solved, closed or removed: its open escalation ends with it. Does not commit."""
    escalation = open_escalation_of(thread.id, lock=True)
    if escalation is not None:
        _end(escalation, resolution, by)


# --- internal notes -----------------------------------------------------------------------------------


def add_note(actor: User, thread: Thread, body: str) -> InternalNote:
    """A note only staff see, on the thread (and its open escalation)."""
    _require_staff(actor)
    body = required_text(body, limit=NOTE_MAX, field="body", empty="Write the note first.", noun="A note")
    escalation = open_escalation_of(thread.id)
    note = InternalNote(thread_id=thread.id, escalation_id=escalation.id if escalation else None,
                        author_id=actor.id, body=body, body_html=str(markup.render(body)))
    db.session.add(note)
    db.session.flush()
    if markup.mentioned(note.body_html):  # staff named in it hear of it; nobody else does
        from escalation import jobs as escalation_jobs

        jobs.enqueue(escalation_jobs.notify_note_mentions, note.id, queue="mail")
    db.session.commit()
    return note


def notes_for(thread_id: int) -> list[InternalNote]:
    return list(db.session.scalars(
        sa.select(InternalNote).where(InternalNote.thread_id == thread_id).order_by(InternalNote.id)
        .options(sa.orm.joinedload(InternalNote.author))))


def get_escalation(escalation_id) -> Escalation:
    escalation = db.session.get(Escalation, escalation_id) if isinstance(escalation_id, int) else None
    if escalation is None:
        raise NotFound("No such escalation.")
    return escalation


# --- answering from the escalation page --------------------------------------------------------------


def reply(actor: User, escalation: Escalation, body: str, canned_id: int | None = None) -> Post:
    """A public staff reply on the thread (the first one after escalation stops the clock, through
    the post_created event); a canned reply it started from is counted. Commits."""
    from escalation import canned
    from forum import services as forum_services

    _require_staff(actor)
    if canned_id is not None:
        canned.count_use(canned.get(canned_id))
    return forum_services.create_post(actor, escalation.thread, body)


def acknowledge(actor: User, escalation: Escalation, reply_template) -> Post:
    """Post a canned acknowledgement ("we are looking into this") as a public staff reply: it
    stops the clock like any staff reply, and records when staff acknowledged. Commits."""
    from escalation import canned
    from forum import services as forum_services

    _require_staff(actor)
    escalation = db.session.scalar(sa.select(Escalation).where(Escalation.id == escalation.id)
                                   .with_for_update().execution_options(populate_existing=True))
    _require_open(escalation)
    if escalation.acknowledged_at is not None or escalation.first_response_at is not None:
        raise Conflict("Staff have answered or acknowledged this escalation already; reply instead.")
    body = canned.fill(reply_template, escalation.thread, actor)
    canned.count_use(reply_template)
    escalation.acknowledged_at = clock.now()
    return forum_services.create_post(actor, escalation.thread, body)

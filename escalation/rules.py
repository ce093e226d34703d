"""The rules that open escalations, on the forum's events and in the periodic sweep, and the
deadline check that warns at 80% of a target and marks breaches.

The sweep selects every thread past its window that has no open escalation (and was never
escalated for the same reason), not the threads of a time slice: a missed run loses nothing, and
two sweeps at once make no duplicate (the database allows one open escalation per thread).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from accounts.models import ADVOCATE, User
from core import clock, jobs, signals
from core.clock import as_utc
from core.extensions import db
from escalation import services
from escalation.models import (
    ANSWERED,
    CLOSED,
    HANDED_BACK,
    OPEN,
    SOLVED,
    UNANSWERED,
    UNRESOLVED,
    URGENT,
    DeskProfile,
    Escalation,
    EscalationReason,
    PeerCall,
    Policy,
)
from forum.models import ANSWER, QUESTION, VISIBLE, Post, Thread, thread_tags

BATCH = 200
PEER_CALL_SHARE = 0.75  # advocates are asked at 75% of the peer window
PEER_CALL_ADVOCATES = 3


# --- forum events --------------------------------------------------------------------------------------


def _on_thread_created(thread: Thread, actor=None, **_extra) -> None:
    """An urgent thread goes to staff at once: ticked urgent by its asker, or words the category's
    policy calls urgent (outage, charged twice...)."""
    if thread.is_urgent:
        services.escalate(thread, URGENT, note=thread.urgent_reason or "Marked urgent by the asker.")
        return
    policy = services.policy_for(thread.category_id)
    if not policy.urgent_terms:
        return
    question = db.session.scalar(
        sa.select(Post.body).where(Post.thread_id == thread.id, Post.kind == QUESTION))
    term = services.matches_urgent_terms(policy, f"{thread.title}\n{question or ''}")
    if term:
        services.escalate(thread, URGENT, note=f"Mentions “{term}”.")


def _on_urgency_changed(thread: Thread, actor=None, urgent: bool = False, **_extra) -> None:
    if urgent:
        services.escalate(thread, URGENT, by=actor, note=thread.urgent_reason or "Marked urgent.")


def _on_post_created(post: Post, actor=None, held=None, **_extra) -> None:
    """A public staff post stops the open escalation's clock."""
    if held or post.kind != ANSWER or post.state != VISIBLE:
        return
    escalation = services.open_escalation_of(post.thread_id)
    if escalation is not None:
        services.stop_clock(escalation, post)


def _on_post_unhidden(post: Post, actor=None, **_extra) -> None:
    _on_post_created(post, actor)


def _on_accepted(thread: Thread, actor=None, **_extra) -> None:
    services.end_for_thread(thread, SOLVED, actor)


def _on_thread_ended(thread: Thread, actor=None, **_extra) -> None:
    services.end_for_thread(thread, CLOSED, actor)


def _on_thread_back(thread: Thread, actor=None, **_extra) -> None:
    """Reopened, unlocked, unhidden or restored: an urgent thread goes back to staff at once (the
    sweep takes an unanswered one at its next run)."""
    if thread.is_urgent and thread.accepted_post_id is None:
        services.escalate(thread, URGENT, note=thread.urgent_reason or "Marked urgent.")


def _on_thread_moved(thread: Thread, actor=None, **_extra) -> None:
    services.reroute(thread, actor)


def init_app() -> None:
    """Subscribe to the forum's events (each once, however many apps a process makes)."""
    wiring = [
        (signals.thread_created, _on_thread_created), (signals.urgency_changed, _on_urgency_changed),
        (signals.post_created, _on_post_created), (signals.post_unhidden, _on_post_unhidden),
        (signals.answer_accepted, _on_accepted),
    ]
    wiring += [(event, _on_thread_ended) for event in (
        signals.thread_closed, signals.thread_deleted, signals.thread_hidden, signals.thread_locked)]
    wiring += [(event, _on_thread_back) for event in (
        signals.thread_reopened, signals.thread_restored, signals.thread_unhidden, signals.thread_unlocked)]
    wiring.append((signals.thread_moved, _on_thread_moved))
    for event, receiver in wiring:
        event.connect(receiver, weak=False)


# --- the sweep -----------------------------------------------------------------------------------------


def _window_clause(now: datetime, seconds_of) -> sa.ColumnElement[bool] | None:
    """Threads whose category's policy window (`seconds_of(policy)`, None: no window) has passed."""
    own = list(db.session.scalars(sa.select(Policy).where(Policy.category_id.is_not(None))))
    default = services.default_policy()
    clauses = []
    for policy in own:
        seconds = seconds_of(policy)
        if seconds is not None:
            clauses.append(sa.and_(Thread.category_id == policy.category_id,
                                   Thread.created_at <= now - timedelta(seconds=seconds)))
    default_seconds = seconds_of(default)
    if default_seconds is not None:
        others = Thread.category_id.not_in([p.category_id for p in own]) if own else sa.true()
        clauses.append(sa.and_(others, Thread.created_at <= now - timedelta(seconds=default_seconds)))
    return sa.or_(*clauses) if clauses else None


def _candidates(now: datetime, reason: str, seconds_of, extra) -> list[int]:
    """Threads past the rule's window with no open escalation, never escalated for this reason
    (escalations that ended because the thread was closed or removed do not count: a thread
    reopened or restored is taken again), and, for the unanswered rule, not already handled by
    staff (an escalation answered, or handed back to the community)."""
    window = _window_clause(now, seconds_of)
    if window is None:
        return []
    open_one = sa.select(Escalation.id).where(Escalation.thread_id == Thread.id, Escalation.state == OPEN)
    before = (sa.select(EscalationReason.id).join(Escalation, Escalation.id == EscalationReason.escalation_id)
              .where(EscalationReason.thread_id == Thread.id, EscalationReason.reason == reason,
                     sa.or_(Escalation.resolution.is_(None), Escalation.resolution != CLOSED)))
    conditions = [Thread.state == VISIBLE, Thread.closed_at.is_(None), Thread.is_locked.is_(False),
                  User.is_active_account.is_(True), extra, window, ~open_one.exists(), ~before.exists()]
    if reason == UNANSWERED:
        conditions.append(~sa.select(Escalation.id).where(
            Escalation.thread_id == Thread.id, Escalation.resolution.in_((ANSWERED, HANDED_BACK))).exists())
    return list(db.session.scalars(
        sa.select(Thread.id).join(User, User.id == Thread.author_id).where(*conditions)
        .order_by(Thread.created_at, Thread.id)))


def _still_due(thread: Thread, reason: str) -> bool:
    """The rule still holds now (the candidates were read before the batch: a reply may have come)."""
    if reason == UNANSWERED:
        return thread.first_reply_at is None
    return thread.first_reply_at is not None and thread.accepted_post_id is None


def sweep(now: datetime | None = None) -> dict[str, int]:
    """Open the escalations the clock has made due, ask advocates about threads close to their peer
    window, and return how many of each. Commits every batch."""
    now = as_utc(now or clock.now())
    counts = {"unanswered": 0, "unresolved": 0, "peer_calls": 0}
    unanswered = _candidates(now, UNANSWERED, lambda p: p.peer_window_s, Thread.first_reply_at.is_(None))
    unresolved = _candidates(
        now, UNRESOLVED, lambda p: p.unresolved_after_days * 86400 if p.unresolved_after_days else None,
        sa.and_(Thread.first_reply_at.is_not(None), Thread.accepted_post_id.is_(None)))
    for reason, ids in ((UNANSWERED, unanswered), (UNRESOLVED, unresolved)):
        for start in range(0, len(ids), BATCH):
            batch = ids[start:start + BATCH]
            for thread in db.session.scalars(sa.select(Thread).where(Thread.id.in_(batch))):
                if _still_due(thread, reason) and services.escalate(thread, reason, at=now) is not None:
                    counts[reason] += 1
            db.session.commit()
    counts["peer_calls"] = call_peers(now)
    return counts


# --- peers before staff ---------------------------------------------------------------------------------


def call_peers(now: datetime) -> int:
    """Threads at 75% of their peer window with no reply: the advocates with the best acceptance
    rate in their tags (not away, not the asker) get a "can you help?" notice, once per thread."""
    window = _window_clause(now, lambda p: int(p.peer_window_s * PEER_CALL_SHARE))
    if window is None:
        return 0
    called = sa.select(PeerCall.thread_id).where(PeerCall.thread_id == Thread.id)
    open_one = sa.select(Escalation.id).where(Escalation.thread_id == Thread.id, Escalation.state == OPEN)
    threads = list(db.session.scalars(
        sa.select(Thread).join(User, User.id == Thread.author_id)
        .where(Thread.state == VISIBLE, Thread.closed_at.is_(None), Thread.is_locked.is_(False),
               Thread.first_reply_at.is_(None), User.is_active_account.is_(True), window,
               ~called.exists(), ~open_one.exists())
        .order_by(Thread.created_at).limit(1000)))
    from forum import jobs as forum_jobs

    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[db.session.get_bind().dialect.name]
    called_now = 0
    for thread in threads:
        advocates = best_advocates(thread)
        # Another sweep may be calling for the same thread this moment: only the one whose row lands calls.
        landed = db.session.execute(
            insert(PeerCall).values(thread_id=thread.id, called_at=now, advocates=len(advocates))
            .on_conflict_do_nothing(index_elements=["thread_id"]).returning(PeerCall.thread_id)).first()
        if landed is None:
            continue
        called_now += 1
        if advocates:
            jobs.enqueue(forum_jobs.notify, "peer_call", advocates, thread.id, None, None, queue="mail")
    db.session.commit()
    return called_now


def best_advocates(thread: Thread, limit: int = PEER_CALL_ADVOCATES) -> list[int]:
    """Advocates ranked by the share of their answers accepted in threads sharing a tag with this
    one (then by accepted answers); away ones and the asker left out."""
    tag_ids = list(db.session.scalars(
        sa.select(thread_tags.c.tag_id).where(thread_tags.c.thread_id == thread.id)))
    answered = sa.orm.aliased(Thread)
    query = (
        sa.select(Post.author_id,
                  sa.func.count().label("answers"),
                  sa.func.sum(sa.case((answered.accepted_post_id == Post.id, 1), else_=0)).label("accepted"))
        .join(answered, answered.id == Post.thread_id)
        .join(User, User.id == Post.author_id)
        .outerjoin(DeskProfile, DeskProfile.user_id == User.id)
        .where(Post.kind == ANSWER, Post.state == VISIBLE, User.role == ADVOCATE,
               User.is_active_account.is_(True), User.id != thread.author_id,
               sa.or_(DeskProfile.available.is_(None), DeskProfile.available.is_(True)))
        .group_by(Post.author_id)
    )
    if tag_ids:
        sharing = sa.select(thread_tags.c.thread_id).where(thread_tags.c.tag_id.in_(tag_ids))
        query = query.where(answered.id.in_(sharing))
    rows = db.session.execute(query).all()
    ranked = sorted(rows, key=lambda r: (-(r.accepted or 0) / r.answers, -(r.accepted or 0), r.author_id))
    return [r.author_id for r in ranked if r.accepted][:limit]


# --- deadlines -----------------------------------------------------------------------------------------


def check_deadlines(now: datetime | None = None) -> dict[str, int]:
    """Warn the holder (or the team when nobody has it) at 80% of the target, and mark and announce
    breaches. Each escalation is warned once and breached once."""
    from escalation import jobs as escalation_jobs

    now = as_utc(now or clock.now())
    counts = {"warned": 0, "breached": 0}
    waiting = sa.and_(Escalation.state == OPEN, Escalation.first_response_at.is_(None))
    for escalation in db.session.scalars(sa.select(Escalation).where(
            waiting, Escalation.breached_at.is_(None), Escalation.due_at <= now).with_for_update()):
        escalation.breached_at = now
        escalation.warned_at = escalation.warned_at or now
        thread = db.session.get(Thread, escalation.thread_id)
        services.history.record(thread, services.BREACHED, None, at=now)
        services.audit.record(None, "escalation-breach", services.ESCALATION, escalation.id,
                              after={"due_at": as_utc(escalation.due_at).isoformat()})
        jobs.enqueue(escalation_jobs.notify_deadline, escalation.id, "esc_breach", queue="mail")
        counts["breached"] += 1
    for escalation in db.session.scalars(sa.select(Escalation).where(
            waiting, Escalation.warned_at.is_(None), Escalation.warn_at <= now).with_for_update()):
        escalation.warned_at = now
        jobs.enqueue(escalation_jobs.notify_deadline, escalation.id, "esc_warning", queue="mail")
        counts["warned"] += 1
    db.session.commit()
    return counts

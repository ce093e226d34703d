"""A thread's history: every change of its state as an appended ThreadEvent, written by the service
that makes the change, in the same transaction. The thread's columns are a cache of where the
history ends; `check` replays the history and reports threads whose cache disagrees.

Packages above the forum add kinds of their own (escalated, resolved) with `record`; the replay
ignores kinds it does not know.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

import sqlalchemy as sa

from accounts.models import User
from core import clock
from core.extensions import append_only, db
from forum.models import DELETED, HELD, HIDDEN, SPAM, VISIBLE, Thread, ThreadEvent

append_only(ThreadEvent)

CREATED = "created"
FIRST_REPLY = "first_reply"
FIRST_STAFF_REPLY = "first_staff_reply"
ACCEPTED, UNACCEPTED = "accepted", "unaccepted"
CLOSED, REOPENED = "closed", "reopened"
LOCKED, UNLOCKED = "locked", "unlocked"
MOVED = "moved"
HELD_EVENT, HIDDEN_EVENT, SPAM_EVENT, UNHIDDEN = "held", "hidden", "spam", "unhidden"
DELETED_EVENT, RESTORED = "deleted", "restored"
URGENT_RAISED, URGENT_CLEARED = "urgent_raised", "urgent_cleared"
# Replies taken away or brought back (the thread's figures change with them); post_id says which.
REPLY_HIDDEN, REPLY_UNHIDDEN = "reply_hidden", "reply_unhidden"
REPLY_DELETED, REPLY_RESTORED = "reply_deleted", "reply_restored"
PINNED, UNPINNED = "pinned", "unpinned"
# Answers moved between threads (forum.restructure); other_thread_id names the other thread.
MERGED_INTO, MERGED_FROM = "merged_into", "merged_from"
SPLIT_TO, SPLIT_FROM = "split_to", "split_from"

FORUM_KINDS = frozenset({
    CREATED, FIRST_REPLY, FIRST_STAFF_REPLY, ACCEPTED, UNACCEPTED, CLOSED, REOPENED, LOCKED, UNLOCKED,
    MOVED, HELD_EVENT, HIDDEN_EVENT, SPAM_EVENT, UNHIDDEN, DELETED_EVENT, RESTORED, URGENT_RAISED,
    URGENT_CLEARED, REPLY_HIDDEN, REPLY_UNHIDDEN, REPLY_DELETED, REPLY_RESTORED, PINNED, UNPINNED,
    MERGED_INTO, MERGED_FROM, SPLIT_TO, SPLIT_FROM,
})
# The moderation state a thread is put into by each kind of event (restored: see _Replay).
_SETS_STATE = {HELD_EVENT: HELD, HIDDEN_EVENT: HIDDEN, SPAM_EVENT: SPAM, UNHIDDEN: VISIBLE}


def record(thread: Thread, kind: str, actor: User | None = None, *, post_id: int | None = None,
           reason: str | None = None, note: str = "", from_category_id: int | None = None,
           other_thread_id: int | None = None, at=None, actor_id: int | None = None,
           actor_role: str | None = None) -> ThreadEvent:
    """Append one event to the current transaction: now (or `at`), by `actor` in the role they have
    now (or by `actor_id` in `actor_role`, for a post's author in the role they wrote it in), in
    the thread's category as it is now (for a move: after it)."""
    event = ThreadEvent(thread_id=thread.id, kind=kind, at=at or clock.now(),
                        actor_id=getattr(actor, "id", actor_id),
                        actor_role=getattr(actor, "role", actor_role),
                        category_id=thread.category_id, from_category_id=from_category_id,
                        other_thread_id=other_thread_id, post_id=post_id, reason=reason, note=note or "")
    db.session.add(event)
    return event


def events_for(thread_id: int) -> list[ThreadEvent]:
    """A thread's history, oldest first, with the actors."""
    return list(db.session.scalars(
        sa.select(ThreadEvent).where(ThreadEvent.thread_id == thread_id)
        .order_by(ThreadEvent.at, ThreadEvent.id).options(sa.orm.joinedload(ThreadEvent.actor))
    ))


@dataclass
class _Replay:
    """Where a thread's history ends, in the terms of the thread's cached columns."""

    category_id: int | None = None
    accepted_post_id: int | None = None
    closed: bool = False
    close_reason: str | None = None
    is_locked: bool = False
    is_urgent: bool = False
    hidden_state: str = VISIBLE  # held, hidden or spam until unhidden; kept under a deletion
    deleted: bool = False
    first_reply_post_ids: set = field(default_factory=set)
    first_staff_reply_post_ids: set = field(default_factory=set)

    @property
    def state(self) -> str:
        return DELETED if self.deleted else self.hidden_state

    def apply(self, event: ThreadEvent) -> None:
        kind = event.kind
        if event.category_id is not None and kind in (CREATED, MOVED):
            self.category_id = event.category_id
        if kind == ACCEPTED:
            self.accepted_post_id = event.post_id
        elif kind == UNACCEPTED:
            self.accepted_post_id = None
        elif kind == CLOSED:
            self.closed, self.close_reason = True, event.reason
        elif kind == REOPENED:
            self.closed, self.close_reason = False, None
        elif kind in (LOCKED, UNLOCKED):
            self.is_locked = kind == LOCKED
        elif kind in (URGENT_RAISED, URGENT_CLEARED):
            self.is_urgent = kind == URGENT_RAISED
        elif kind in _SETS_STATE:
            self.hidden_state = _SETS_STATE[kind]
        elif kind in (DELETED_EVENT, RESTORED):
            self.deleted = kind == DELETED_EVENT
        elif kind == FIRST_REPLY:
            self.first_reply_post_ids.add(event.post_id)
        elif kind == FIRST_STAFF_REPLY:
            self.first_staff_reply_post_ids.add(event.post_id)


@dataclass(frozen=True)
class Disagreement:
    thread_id: int
    field: str
    cached: object
    history: object

    def __str__(self) -> str:
        return f"thread {self.thread_id}: {self.field} is {self.cached!r}, the history says {self.history!r}"


_CHECKED = ("category_id", "accepted_post_id", "closed", "close_reason", "is_locked", "is_urgent", "state")
_FIRSTS = (("first_reply_post_id", "first_reply_post_ids"),
           ("first_staff_reply_post_id", "first_staff_reply_post_ids"))
_BATCH = 500


def check(thread_ids: Iterable[int] | None = None) -> list[Disagreement]:
    """Replay the history of these threads (all when None) and compare it with their columns.

    A first reply or first staff reply in the cache must be one the history recorded as such (a
    removed first reply gives its place to the next, and takes it back when restored); the cache
    may have none where the history recorded one that was since removed."""
    if thread_ids is None:
        thread_ids = db.session.scalars(sa.select(Thread.id).order_by(Thread.id))
    ids = list(thread_ids)
    found: list[Disagreement] = []
    for start in range(0, len(ids), _BATCH):
        batch = ids[start:start + _BATCH]
        replays = {thread_id: _Replay() for thread_id in batch}
        for event in db.session.scalars(
            sa.select(ThreadEvent).where(ThreadEvent.thread_id.in_(batch))
            .order_by(ThreadEvent.thread_id, ThreadEvent.id)  # as written: clocks of two hosts may differ
        ):
            replays[event.thread_id].apply(event)
        for thread in db.session.scalars(sa.select(Thread).where(Thread.id.in_(batch))):
            found += _compare(thread, replays[thread.id])
    return found


def _compare(thread: Thread, replay: _Replay) -> list[Disagreement]:
    cached = {
        "category_id": thread.category_id, "accepted_post_id": thread.accepted_post_id,
        "closed": thread.closed_at is not None, "close_reason": thread.close_reason,
        "is_locked": bool(thread.is_locked), "is_urgent": bool(thread.is_urgent), "state": thread.state,
        "first_reply_post_id": thread.first_reply_post_id,
        "first_staff_reply_post_id": thread.first_staff_reply_post_id,
    }
    out = [Disagreement(thread.id, name, cached[name], getattr(replay, name))
           for name in _CHECKED if cached[name] != getattr(replay, name)]
    for name, recorded in _FIRSTS:
        if cached[name] is not None and cached[name] not in getattr(replay, recorded):
            out.append(Disagreement(thread.id, name, cached[name], sorted(getattr(replay, recorded))))
    return out

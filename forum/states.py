"""Changes of a thread's or a post's state: delete and restore, hide and unhide, lock, close and
reopen, move, urgency, pin and unpin.

Each change is checked first (a refused or no-op change raises, writing nothing), then written
with its history event (forum.history), its audit entry when staff did it (accounts.audit) and its
domain event carrying the actor, all in one transaction.
"""

import sqlalchemy as sa

from accounts import audit
from accounts.models import User
from accounts.permissions import is_staff
from accounts.standing import check_can_participate
from core import clock, jobs, signals
from core.errors import Conflict, Forbidden, Invalid
from core.extensions import db
from core.text import clean_text
from forum import history, reputation
from forum import jobs as forum_jobs
from forum import permissions as can
from forum.categories import get_category
from forum.models import (
    CLOSE_REASONS,
    CLOSED_ABANDONED,
    DELETED,
    HELD,
    HIDDEN,
    QUESTION,
    REASON_MAX,
    SPAM,
    VISIBLE,
    Post,
    Thread,
    ThreadEvent,
)
from forum.services import (
    accepted_author_points,
    clean_urgent_reason,
    lock_post_with_thread,
    lock_row,
    question_of,
    refresh_thread_stats,
    take_away_answer,
)

THREAD, POST = "thread", "post"
HIDING_STATES = (HELD, HIDDEN, SPAM)


def _audit(actor: User | None, action: str, subject_type: str, subject_id: int, *, before=None,
           after=None, reason: str = "") -> None:
    """Staff and admin actions go to the audit log; a member removing their own post does not."""
    if is_staff(actor):
        audit.record(actor, action, subject_type, subject_id, before=before, after=after, reason=reason)


def _clean_reason(reason: str | None, *, required: bool, what: str) -> str:
    reason = clean_text(reason or "")
    if required and not reason:
        raise Invalid(f"Say why the {what} is hidden: the author and other staff will see it.",
                      field="reason")
    if len(reason) > REASON_MAX:
        raise Invalid(f"Keep the reason under {REASON_MAX} characters.", field="reason")
    return reason


def _staff_only(actor: User, doing: str) -> None:
    if not can.can_moderate(actor):
        raise Forbidden(f"Only staff {doing}.")


# --- deleting and restoring -----------------------------------------------------------------------------


def delete_post(actor: User, post: Post, reason: str = "") -> Post:
    """Delete an answer (for the question: the whole thread). Raises Forbidden or Conflict."""
    if post.is_question:
        delete_thread(actor, post.thread, reason)
        return post
    check_can_participate(actor)
    if not can.can_delete_post(actor, post):
        if post.author_id == actor.id:
            raise Forbidden("The accepted answer cannot be deleted by its author; ask staff.")
        raise Forbidden("You can only delete your own posts.")
    thread = lock_post_with_thread(post)
    if post.state == DELETED:
        raise Conflict("This post is already deleted.")
    reason = _clean_reason(reason, required=False, what="post")
    before = post.state
    take_away_answer(post, thread, actor, reason="deleted")
    post.state, post.deleted_at, post.deleted_by_id = DELETED, clock.now(), actor.id
    history.record(thread, history.REPLY_DELETED, actor, post_id=post.id, note=reason)
    refresh_thread_stats(thread)
    _audit(actor, "delete", POST, post.id, before={"state": before}, after={"state": DELETED}, reason=reason)
    signals.post_deleted.send(post, actor=actor)
    db.session.commit()
    return post


def _bring_back(post: Post) -> None:
    reputation.add(post.author_id, reputation.votes_worth(post.id))


def _notify_followers(post: Post) -> None:
    """An answer that becomes visible (approved after a hold, say) reaches the followers it never
    reached; the notices' keys make sure nobody hears of one answer twice."""
    jobs.enqueue(forum_jobs.notify_new_post, post.id, queue="mail")
    jobs.enqueue(forum_jobs.notify_mentions, post.id, queue="mail")


def delete_thread(actor: User, thread: Thread, reason: str = "") -> Thread:
    """Delete a thread: the asker before any answer, staff always. Raises Forbidden or Conflict."""
    question = question_of(thread)
    check_can_participate(actor)
    if not can.can_delete_post(actor, question):
        if thread.author_id == actor.id:
            raise Forbidden("This question has answers now, so it stays; ask staff if it must go.")
        raise Forbidden("You can only delete your own questions.")
    if lock_row(thread).state == DELETED:
        raise Conflict("This thread is already deleted.")
    reason = _clean_reason(reason, required=False, what="thread")
    before = thread.state
    if before == VISIBLE:
        reputation.add(*accepted_author_points(thread, sign=-1))
    thread.state, thread.deleted_at, thread.deleted_by_id = DELETED, clock.now(), actor.id
    history.record(thread, history.DELETED_EVENT, actor, note=reason)
    _audit(actor, "delete", THREAD, thread.id, before={"state": before}, after={"state": DELETED},
           reason=reason)
    signals.thread_deleted.send(thread, actor=actor)
    db.session.commit()
    return thread


def _state_before_deletion(thread_id: int, post_id: int | None, hidden_at) -> str:
    """What a deleted thread or post goes back to: visible, or the hold, hide or spam it was under
    (its last such event in the history says which)."""
    if hidden_at is None:
        return VISIBLE
    if post_id is None:
        kinds = (history.HELD_EVENT, history.HIDDEN_EVENT, history.SPAM_EVENT)
        kind = db.session.scalar(
            sa.select(ThreadEvent.kind).where(ThreadEvent.thread_id == thread_id, ThreadEvent.kind.in_(kinds))
            .order_by(ThreadEvent.id.desc()).limit(1))
        return kind if kind in HIDING_STATES else HIDDEN
    reason = db.session.scalar(
        sa.select(ThreadEvent.reason).where(ThreadEvent.post_id == post_id,
                                            ThreadEvent.kind == history.REPLY_HIDDEN)
        .order_by(ThreadEvent.id.desc()).limit(1))
    return reason if reason in HIDING_STATES else HIDDEN


def restore_thread(actor: User, thread: Thread) -> Thread:
    """Bring back a deleted thread, as it was before (hidden stays hidden). Raises Forbidden or Conflict."""
    _staff_only(actor, "restore deleted threads")
    if lock_row(thread).state != DELETED:
        raise Conflict("This thread is not deleted.")
    thread.state = _state_before_deletion(thread.id, None, thread.hidden_at)
    thread.deleted_at, thread.deleted_by_id = None, None
    if thread.state == VISIBLE:
        reputation.add(*accepted_author_points(thread, sign=1))
    history.record(thread, history.RESTORED, actor)
    _audit(actor, "restore", THREAD, thread.id, before={"state": DELETED}, after={"state": thread.state})
    signals.thread_restored.send(thread, actor=actor)
    db.session.commit()
    return thread


def restore_post(actor: User, post: Post) -> Post:
    """Bring back a deleted answer, as it was before. Raises Forbidden or Conflict."""
    if post.is_question:
        restore_thread(actor, post.thread)
        return post
    _staff_only(actor, "restore deleted posts")
    thread = lock_post_with_thread(post)
    if post.state != DELETED:
        raise Conflict("This post is not deleted.")
    post.state = _state_before_deletion(thread.id, post.id, post.hidden_at)
    post.deleted_at, post.deleted_by_id = None, None
    if post.state == VISIBLE:
        _bring_back(post)
        _notify_followers(post)
    history.record(thread, history.REPLY_RESTORED, actor, post_id=post.id)
    refresh_thread_stats(thread)
    _audit(actor, "restore", POST, post.id, before={"state": DELETED}, after={"state": post.state})
    signals.post_restored.send(post, actor=actor)
    db.session.commit()
    return post


# --- hiding (moderation) -----------------------------------------------------------------------------------


def hide_thread(actor: User, thread: Thread, reason: str, state: str = HIDDEN) -> Thread:
    """Hide a thread from members (or hold it for review, or mark it spam), saying why.
    Raises Forbidden, Invalid or Conflict."""
    _hide_thread(actor, thread, reason, state)
    db.session.commit()
    return thread


def _hide_thread(actor: User, thread: Thread, reason: str, state: str) -> None:
    _staff_only(actor, "hide threads")
    if state not in HIDING_STATES:
        raise Invalid("A thread is hidden, held for review or marked as spam.", field="state")
    reason = _clean_reason(reason, required=True, what="thread")
    current = lock_row(thread).state
    if current == DELETED:
        raise Conflict("This thread is deleted; restore it before hiding it.")
    if current == state:
        raise Conflict(f"This thread is already {_state_words(state)}.")
    if current == VISIBLE:
        reputation.add(*accepted_author_points(thread, sign=-1))
    thread.state, thread.hidden_at, thread.hidden_by_id, thread.hidden_reason = (
        state, clock.now(), actor.id, reason)
    history.record(thread, state, actor, note=reason)  # the kinds are named as the states
    _audit(actor, "hide", THREAD, thread.id, before={"state": current}, after={"state": state}, reason=reason)
    signals.thread_hidden.send(thread, actor=actor, state=state, reason=reason)


def unhide_thread(actor: User, thread: Thread) -> Thread:
    """Show a hidden, held or spam thread to everyone again (unhide is not restore: a deleted thread
    stays deleted). Raises Forbidden or Conflict."""
    _staff_only(actor, "unhide threads")
    current = lock_row(thread).state
    if current not in HIDING_STATES:
        raise Conflict("This thread is not hidden." if current == VISIBLE
                       else "This thread is deleted; restore it instead.")
    thread.state, thread.hidden_at, thread.hidden_by_id, thread.hidden_reason = VISIBLE, None, None, ""
    reputation.add(*accepted_author_points(thread, sign=1))
    history.record(thread, history.UNHIDDEN, actor)
    _audit(actor, "unhide", THREAD, thread.id, before={"state": current}, after={"state": VISIBLE})
    signals.thread_unhidden.send(thread, actor=actor)
    db.session.commit()
    return thread


def hide_post(actor: User, post: Post, reason: str, state: str = HIDDEN) -> Post:
    """Hide an answer (for the question: the thread), or hold it, or mark it spam, saying why.
    Raises Forbidden, Invalid or Conflict."""
    _hide_post(actor, post, reason, state)
    db.session.commit()
    return post


def _hide_post(actor: User, post: Post, reason: str, state: str) -> None:
    if post.is_question:
        _hide_thread(actor, post.thread, reason, state)
        return
    _staff_only(actor, "hide posts")
    if state not in HIDING_STATES:
        raise Invalid("A post is hidden, held for review or marked as spam.", field="state")
    reason = _clean_reason(reason, required=True, what="post")
    thread = lock_post_with_thread(post)
    current = post.state
    if current == DELETED:
        raise Conflict("This post is deleted; restore it before hiding it.")
    if current == state:
        raise Conflict(f"This post is already {_state_words(state)}.")
    take_away_answer(post, thread, actor, reason="hidden")
    post.state, post.hidden_at, post.hidden_by_id, post.hidden_reason = state, clock.now(), actor.id, reason
    history.record(thread, history.REPLY_HIDDEN, actor, post_id=post.id, reason=state, note=reason)
    refresh_thread_stats(thread)
    _audit(actor, "hide", POST, post.id, before={"state": current}, after={"state": state}, reason=reason)
    signals.post_hidden.send(post, actor=actor, state=state, reason=reason)


def hide_all_by(actor: User, author: User, reason: str, state: str = SPAM) -> int:
    """Hide (by default: mark as spam) every post of `author` that members can see, their questions
    with their threads, in one transaction. Returns how many. Raises Forbidden or Invalid."""
    _staff_only(actor, "hide posts")
    _clean_reason(reason, required=True, what="post")
    posts = list(db.session.scalars(
        sa.select(Post).join(Thread, Thread.id == Post.thread_id)
        .where(Post.author_id == author.id,
               sa.or_(sa.and_(Post.kind == QUESTION, Thread.state.in_((VISIBLE, HELD))),
                      sa.and_(Post.kind != QUESTION, Post.state.in_((VISIBLE, HELD)),
                              Thread.state != DELETED)))
        .order_by(Post.id)))
    for post in posts:
        _hide_post(actor, post, reason, state)
    db.session.commit()
    return len(posts)


def unhide_post(actor: User, post: Post) -> Post:
    """Show a hidden, held or spam answer again. Raises Forbidden or Conflict."""
    if post.is_question:
        unhide_thread(actor, post.thread)
        return post
    _staff_only(actor, "unhide posts")
    thread = lock_post_with_thread(post)
    current = post.state
    if current not in HIDING_STATES:
        raise Conflict("This post is not hidden." if current == VISIBLE
                       else "This post is deleted; restore it instead.")
    post.state, post.hidden_at, post.hidden_by_id, post.hidden_reason = VISIBLE, None, None, ""
    _bring_back(post)
    _notify_followers(post)
    history.record(thread, history.REPLY_UNHIDDEN, actor, post_id=post.id)
    refresh_thread_stats(thread)
    _audit(actor, "unhide", POST, post.id, before={"state": current}, after={"state": VISIBLE})
    signals.post_unhidden.send(post, actor=actor)
    db.session.commit()
    return post


def hold_for_review(post: Post, reason: str) -> bool:
    """The system holds a visible post (for the question: its thread) until a moderator decides, as
    moderation does when members' flags reach the threshold. Does not commit: the caller's
    transaction saves it with whatever caused it. False when it was not visible (nothing changed)."""
    thread = lock_post_with_thread(post)
    now = clock.now()
    if post.is_question:
        if thread.state != VISIBLE:
            return False
        reputation.add(*accepted_author_points(thread, sign=-1))
        thread.state, thread.hidden_at, thread.hidden_by_id, thread.hidden_reason = HELD, now, None, reason
        history.record(thread, history.HELD_EVENT, None, at=now, note=reason)
        signals.thread_hidden.send(thread, actor=None, state=HELD, reason=reason)
        return True
    if post.state != VISIBLE:
        return False
    take_away_answer(post, thread, None, reason="held")
    post.state, post.hidden_at, post.hidden_by_id, post.hidden_reason = HELD, now, None, reason
    history.record(thread, history.REPLY_HIDDEN, None, at=now, post_id=post.id, reason=HELD, note=reason)
    refresh_thread_stats(thread)
    signals.post_hidden.send(post, actor=None, state=HELD, reason=reason)
    return True


def _state_words(state: str) -> str:
    return {HELD: "held for review", SPAM: "marked as spam"}.get(state, state)


# --- lock, close, reopen, move, urgency ----------------------------------------------------------------


def set_locked(actor: User, thread: Thread, locked: bool) -> Thread:
    """Lock (no new posts or edits except by staff) or unlock a thread. Raises Forbidden or Conflict."""
    _staff_only(actor, "lock threads")
    if lock_row(thread).is_locked == bool(locked):
        raise Conflict("This thread is already " + ("locked." if locked else "unlocked."))
    thread.is_locked = bool(locked)
    history.record(thread, history.LOCKED if locked else history.UNLOCKED, actor)
    _audit(actor, "lock" if locked else "unlock", THREAD, thread.id, before={"locked": not locked},
           after={"locked": bool(locked)})
    (signals.thread_locked if locked else signals.thread_unlocked).send(thread, actor=actor)
    db.session.commit()
    return thread


def close_thread(actor: User, thread: Thread, reason: str, note: str = "") -> Thread:
    """Close a thread without an accepted answer, for one of CLOSE_REASONS, with an optional note.
    Raises Forbidden, Invalid or Conflict."""
    _staff_only(actor, "close threads")
    if reason not in CLOSE_REASONS or reason == CLOSED_ABANDONED:  # abandoned: the job's reason alone
        choices = ", ".join(r for r in CLOSE_REASONS if r != CLOSED_ABANDONED)
        raise Invalid(f"Choose why the thread is closed: {choices}.", field="reason")
    note = _clean_reason(note, required=False, what="thread")
    if lock_row(thread).closed_at is not None:
        raise Conflict("This thread is already closed.")
    if not thread.is_visible:
        raise Conflict("Only a visible thread can be closed.")
    _close(thread, actor, reason, note)
    _audit(actor, "close", THREAD, thread.id, before={"closed": None}, after={"closed": reason}, reason=note)
    db.session.commit()
    return thread


def _close(thread: Thread, actor: User | None, reason: str, note: str = "") -> None:
    thread.closed_at, thread.close_reason, thread.close_note = clock.now(), reason, note
    thread.closed_by_id = getattr(actor, "id", None)
    history.record(thread, history.CLOSED, actor, reason=reason, note=note)
    signals.thread_closed.send(thread, actor=actor, reason=reason)


def reopen_thread(actor: User, thread: Thread) -> Thread:
    """Reopen a closed thread. Raises Forbidden or Conflict."""
    _staff_only(actor, "reopen threads")
    if lock_row(thread).closed_at is None:
        raise Conflict("This thread is not closed.")
    if thread.merged_into_id is not None:
        raise Conflict("This thread was merged into another one, which has its answers: it stays closed.")
    before = thread.close_reason
    thread.closed_at = thread.close_reason = thread.closed_by_id = None
    thread.close_note = ""
    history.record(thread, history.REOPENED, actor)
    _audit(actor, "reopen", THREAD, thread.id, before={"closed": before}, after={"closed": None})
    signals.thread_reopened.send(thread, actor=actor)
    db.session.commit()
    return thread


def move_thread(actor: User, thread: Thread, category_id) -> Thread:
    """Move a thread to another category. Raises Forbidden, Invalid (unknown or same category)."""
    _staff_only(actor, "move threads")
    category = get_category(category_id)
    if lock_row(thread).category_id == category.id:
        raise Invalid(f"This thread is already in {category.name}.", field="category_id")
    previous = thread.category_id
    thread.category_id = category.id
    thread.category = category
    history.record(thread, history.MOVED, actor, from_category_id=previous)
    _audit(actor, "move", THREAD, thread.id, before={"category_id": previous},
           after={"category_id": category.id})
    signals.thread_moved.send(thread, actor=actor, from_category_id=previous)
    db.session.commit()
    return thread


def set_urgent(actor: User, thread: Thread, urgent: bool, reason: str = "") -> Thread:
    """Mark a thread urgent (with why) or not urgent: its asker or staff.
    Raises Forbidden, Invalid or Conflict."""
    check_can_participate(actor)
    if not can.can_accept(actor, thread):  # the asker, or staff on their behalf
        raise Forbidden("Only the person who asked (or staff) can change whether it is urgent.")
    reason = clean_urgent_reason(urgent, reason)
    if lock_row(thread).is_urgent == bool(urgent):
        raise Conflict("This thread is already " + ("urgent." if urgent else "not urgent."))
    if thread.merged_into_id is not None:
        raise Conflict("This thread was merged into another one: mark that one urgent instead.")
    thread.is_urgent, thread.urgent_reason = bool(urgent), reason
    history.record(thread, history.URGENT_RAISED if urgent else history.URGENT_CLEARED, actor)
    _audit(actor, "urgent" if urgent else "not-urgent", THREAD, thread.id,
           before={"urgent": not urgent}, after={"urgent": bool(urgent)})
    signals.urgency_changed.send(thread, actor=actor, urgent=bool(urgent))
    db.session.commit()
    return thread


# --- pinning -------------------------------------------------------------------------------------------


def pin_thread(actor: User, thread: Thread) -> Thread:
    """Pin a thread to the top of the latest lists (the site's and its category's).
    Raises Forbidden or Conflict."""
    _staff_only(actor, "pin threads")
    if lock_row(thread).pinned_at is not None:
        raise Conflict("This thread is already pinned.")
    if thread.merged_into_id is not None:
        raise Conflict("This thread was merged into another one; pin that one instead.")
    if not thread.is_visible:
        raise Conflict("Only a visible thread can be pinned: members would not see it in the lists.")
    thread.pinned_at, thread.pinned_by_id = clock.now(), actor.id
    history.record(thread, history.PINNED, actor)
    _audit(actor, "pin", THREAD, thread.id, before={"pinned": False}, after={"pinned": True})
    signals.thread_pinned.send(thread, actor=actor)
    db.session.commit()
    return thread


def unpin_thread(actor: User, thread: Thread) -> Thread:
    """Let a pinned thread take its place by activity again. Raises Forbidden or Conflict."""
    _staff_only(actor, "unpin threads")
    if lock_row(thread).pinned_at is None:
        raise Conflict("This thread is not pinned.")
    unpin(thread, actor)
    _audit(actor, "unpin", THREAD, thread.id, before={"pinned": True}, after={"pinned": False})
    signals.thread_unpinned.send(thread, actor=actor)
    db.session.commit()
    return thread


def unpin(thread: Thread, actor: User | None) -> None:
    """Take the pin off a pinned thread, with its history event (no audit, no event, no commit:
    for the services that do those, forum.restructure's merge among them)."""
    thread.pinned_at = thread.pinned_by_id = None
    history.record(thread, history.UNPINNED, actor)

"""Staff moving answers between threads: merging a thread into another, and splitting answers off
into a new thread.

Posts move as they are (authors, times, votes, revisions, states), so the votes and the reputation
they are worth follow them; an accepted answer that leaves its thread takes the thread's
acceptance away (forum.services.clear_acceptance). Each service checks, locks both threads, writes
the history of both (with `other_thread_id` naming the other one), an audit entry, and one domain
event that names both threads, so that the page cache and the search index refresh both; then it
commits once.
"""

import re
from collections.abc import Iterable

import sqlalchemy as sa

from accounts.models import User
from core import clock, signals
from core.errors import Conflict, Invalid, NotFound
from core.extensions import db
from core.ids import possible_id
from forum import history, notices, reputation
from forum.categories import get_category
from forum.models import ANSWER, DELETED, QUESTION, REASON_MAX, VISIBLE, Post, Thread
from forum.services import (
    accepted_author_points,
    clean_title,
    clear_acceptance,
    lock_row,
    record_revision,
    refresh_threads_stats,
)
from forum.states import THREAD, _audit, _close, _staff_only, unpin

DUPLICATE = "duplicate"  # the close reason of a merged thread (forum.models.CLOSE_REASONS)

# A thread's number as typed ("42", "#42"), or its address as copied from the browser
# ("https://forum.example.com/t/42/some-title#post-7", "/t/42").
_NUMBER = re.compile(r"#?\s*(\d+)")
_ADDRESS = re.compile(r"/t/(\d+)(?:[/?#]|$)")
REFERENCE_MAX = 2000


def thread_id_from(reference) -> int:
    """The thread a staff member means by `reference`: its number or its address. Raises Invalid."""
    text = str(reference if reference is not None else "").strip()
    match = (_NUMBER.fullmatch(text) or _ADDRESS.search(text)) if len(text) <= REFERENCE_MAX else None
    thread_id = possible_id(match.group(1)) if match else None
    if thread_id is None:
        raise Invalid("Give the number of the thread to merge into (42, as in /t/42) or paste its address.",
                      field="target")
    return thread_id


# --- merging ------------------------------------------------------------------------------------------


def merge_target(actor: User, thread: Thread, reference) -> Thread:
    """The thread `reference` names, if `thread` may be merged into it as both are now; nothing is
    written (the merge form's confirmation shows it). Raises Forbidden, Invalid, NotFound or
    Conflict."""
    _staff_only(actor, "merge threads")
    target = _target(thread, thread_id_from(reference))
    _check_merge(thread, target)
    return target


def merge_thread(actor: User, thread: Thread, reference) -> Thread:
    """Merge `thread` into the thread `reference` names (its number or address), and return that one.

    The answers move there (with their votes); the active followers follow it too, unless they
    unfollowed it; `thread` is closed as a duplicate (if it was open), leaves the lists and the
    search index, and its address leads to the other one for everyone but staff. An accepted
    answer that moves takes `thread`'s acceptance with it; the other thread keeps its own.
    Raises Forbidden, Invalid, NotFound or Conflict, and then writes nothing."""
    _staff_only(actor, "merge threads")
    target = _target(thread, thread_id_from(reference))
    # Both rows locked in the order of their ids (two merges of one pair at once would otherwise
    # each hold one and wait for the other), then judged as they are now.
    for row in sorted((thread, target), key=lambda t: t.id):
        lock_row(row)
    _check_merge(thread, target)

    moved = list(db.session.scalars(
        sa.select(Post.id).where(Post.thread_id == thread.id, Post.kind == ANSWER).order_by(Post.id)))
    if thread.accepted_post_id in moved:
        reputation.add(*accepted_author_points(thread, sign=-1))
        clear_acceptance(thread, actor, reason="merged")
    if moved:
        db.session.execute(sa.update(Post).where(Post.id.in_(moved)).values(thread_id=target.id))
    notices.follow_all(notices.active_followers(thread.id), target.id)
    notices.move_answer_notices(moved, target.id)
    if thread.pinned_at is not None:
        unpin(thread, actor)
    thread.merged_into_id = target.id
    answers = _count(len(moved), "answer")
    history.record(thread, history.MERGED_INTO, actor, other_thread_id=target.id, note=answers)
    history.record(target, history.MERGED_FROM, actor, other_thread_id=thread.id, note=answers)
    if thread.closed_at is None:  # one closed earlier keeps that close (and its place in the figures)
        _close(thread, actor, DUPLICATE, _merged_note(target))
    refresh_threads_stats([thread, target])
    _audit(actor, "merge", THREAD, thread.id, before={"merged_into": None},
           after={"merged_into": target.id, "answers": moved})
    signals.thread_merged.send(thread, actor=actor, into=target, post_ids=moved)
    db.session.commit()
    return target


def _target(thread: Thread, target_id: int) -> Thread:
    if target_id == thread.id:
        raise Invalid("A thread cannot be merged into itself: give the number of the thread it repeats.",
                      field="target")
    target = db.session.get(Thread, target_id)
    if target is None:
        raise NotFound(f"There is no thread #{target_id}.", field="target")
    return target


def _check_movable(thread: Thread, *, merged: str, hidden: str, locked: str) -> None:
    """A thread whose answers may move (merged into another, or split off): not merged already,
    visible and unlocked; each refusal in the words of the action."""
    if thread.merged_into_id is not None:
        raise Conflict(merged.format(target=thread.merged_into_id))
    if not thread.is_visible:
        raise Conflict(hidden)
    if thread.is_locked:
        raise Conflict(locked)


def _check_merge(thread: Thread, target: Thread) -> None:
    _check_movable(thread, merged="This thread was merged into #{target} already.",
                   hidden="Only a visible thread can be merged: restore it, or unhide it, first.",
                   locked="This thread is locked: unlock it before merging it into another.")
    if target.merged_into_id is not None:
        raise Conflict(f"#{target.id} was merged into #{target.merged_into_id} itself: merge into that "
                       f"one instead.", field="target")
    if not target.is_visible:
        state = "deleted" if target.is_deleted else "hidden from members"
        raise Conflict(f"#{target.id} is {state}: merge into a thread members can read.", field="target")
    if target.is_locked:
        raise Conflict(f"#{target.id} is locked: unlock it before merging into it.", field="target")


def _merged_note(target: Thread) -> str:
    note = f"Merged into #{target.id}: {target.title}"
    return note if len(note) <= REASON_MAX else note[:REASON_MAX - 1] + "…"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


# --- splitting ------------------------------------------------------------------------------------------


def split_thread(actor: User, thread: Thread, post_ids: Iterable, title: str, category_id=None) -> Thread:
    """Split the answers `post_ids` of `thread` off into a new thread titled `title`, in
    `category_id` (default: the same category), with the same tags, and return it.

    The oldest of them becomes its question, asked by its author (its votes stop counting, as
    votes on questions do); the others become its answers. The authors follow the new thread. An
    accepted answer that moves takes `thread`'s acceptance away; the new thread starts unsolved.
    Raises Forbidden, Invalid or Conflict, and then writes nothing."""
    _staff_only(actor, "split threads")
    ids = _picked(post_ids)
    title = clean_title(title)
    category = get_category(thread.category_id if category_id in (None, "") else category_id)
    lock_row(thread)
    _check_movable(thread, merged="This thread was merged into #{target}: its answers are there now.",
                   hidden="Only answers of a visible thread can be split off: restore it, or unhide it, "
                          "first.",
                   locked="This thread is locked: unlock it before splitting answers off.")
    posts = list(db.session.scalars(
        sa.select(Post).where(Post.id.in_(ids)).order_by(Post.created_at, Post.id).with_for_update()))
    _check_split(thread, ids, posts)

    question = posts[0]
    moved = [post.id for post in posts]
    if thread.accepted_post_id in moved:
        reputation.add(*accepted_author_points(thread, sign=-1))
        clear_acceptance(thread, actor, reason="split")
    reputation.add(question.author_id, -reputation.votes_worth(question.id))
    now = clock.now()
    new = Thread(category=category, author_id=question.author_id, title=title, created_at=now,
                 last_activity_at=now, tags=list(thread.tags))
    db.session.add(new)
    db.session.flush()
    question.kind = QUESTION
    for post in posts:
        post.thread = new
    db.session.flush()
    record_revision(question, actor, title=title)  # who gave the question its title
    history.record(new, history.CREATED, actor, at=now, post_id=question.id)
    posts_moved = _count(len(posts), "post")
    history.record(new, history.SPLIT_FROM, actor, other_thread_id=thread.id, note=posts_moved)
    history.record(thread, history.SPLIT_TO, actor, other_thread_id=new.id, note=posts_moved)
    refresh_threads_stats([thread, new])
    notices.follow_all({post.author_id for post in posts}, new.id)
    notices.move_answer_notices(moved, new.id)
    _audit(actor, "split", THREAD, thread.id, before={"post_ids": moved}, after={"thread_id": new.id})
    signals.thread_split.send(thread, actor=actor, new_thread=new, post_ids=moved)
    db.session.commit()
    return new


def _picked(post_ids) -> list[int]:
    """The picked posts' ids, each once. Raises Invalid."""
    if isinstance(post_ids, str | int):
        post_ids = [post_ids]
    ids = []
    for value in post_ids or ():
        post_id = possible_id(value)
        if post_id is None:
            raise Invalid(f"“{str(value)[:20]}” is not the number of an answer.", field="post_ids")
        if post_id not in ids:
            ids.append(post_id)
    if not ids:
        raise Invalid("Pick at least one answer to split off.", field="post_ids")
    return ids


def _check_split(thread: Thread, ids: list[int], posts: list[Post]) -> None:
    found = {post.id: post for post in posts}
    strangers = [post_id for post_id in ids if post_id not in found or found[post_id].thread_id != thread.id]
    if strangers:
        raise Invalid(f"Only answers of this thread can be split off: #{strangers[0]} is not one of them.",
                      field="post_ids")
    for post in posts:
        if post.kind == QUESTION:
            raise Invalid("The question stays with its thread: pick answers only.", field="post_ids")
        if post.state != VISIBLE:
            which = f"The answer by {post.author.display_name} (#{post.id})"
            if post.state == DELETED:
                raise Invalid(f"{which} is deleted: restore it first, or leave it out.", field="post_ids")
            raise Invalid(f"{which} is hidden from members: unhide it first, or leave it out.",
                          field="post_ids")

"""Forum rules: ask, answer, edit, delete, accept, vote, tags; staff lock, close and reopen.

Each service sends its domain event before it commits: subscribers (the search index, the page
cache) add their rows and jobs to the same transaction, so a change and its follow-ups are saved
together or not at all."""

import re

import sqlalchemy as sa

from accounts.models import STAFF_ROLES, User
from core import clock, jobs, markup, signals
from core.clock import as_utc
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.extensions import db
from core.ids import possible_id
from core.text import clean_line, required_text
from forum import jobs as forum_jobs
from forum import permissions as can
from forum import reputation
from forum.askflows import ask_flow_is_theirs, record_posted
from forum.categories import get_category
from forum.models import (
    ANSWER,
    BODY_MAX,
    CLOSED_ABANDONED,
    CLOSED_BY_STAFF,
    QUESTION,
    TAG_MAX,
    TAGS_PER_THREAD,
    TITLE_MAX,
    URGENT_REASON_MAX,
    Post,
    PostRevision,
    Tag,
    Thread,
    Vote,
)
from forum.notices import follow

_TAG_RE = re.compile(r"^[a-z0-9][a-z0-9+#.-]*$")


# --- input ------------------------------------------------------------------------------------------


def clean_title(title: str | None) -> str:
    """Raises Invalid for an empty or over-long title."""
    return required_text(title, limit=TITLE_MAX, field="title", one_line=True, noun="A title",
                         empty="Write a title that says what the problem is.")


def clean_body(body: str | None) -> str:
    """Raises Invalid for an empty or over-long body."""
    return required_text(body, limit=BODY_MAX, field="body", noun="A post",
                         empty="Write something: the text is empty.")


def normalise_tag(name: str) -> str:
    return clean_line(name).lower().replace(" ", "-")


def resolve_tags(actor, names) -> list[Tag]:
    """Existing tags by name; staff create missing ones. Raises Invalid for unknown or bad tags."""
    if isinstance(names, str):
        names = re.split(r"[,\s]+", names)
    wanted = []
    for raw in names or []:
        name = normalise_tag(raw)
        if name and name not in wanted:
            wanted.append(name)
    if len(wanted) > TAGS_PER_THREAD:
        raise Invalid(f"Use at most {TAGS_PER_THREAD} tags.", field="tags")
    for name in wanted:
        if len(name) > TAG_MAX or not _TAG_RE.fullmatch(name):
            raise Invalid(f"“{name[:40]}” is not a valid tag: use lowercase letters, digits and -.",
                          field="tags")
    if not wanted:
        return []
    found = {t.name: t for t in db.session.scalars(sa.select(Tag).where(Tag.name.in_(wanted)))}
    missing = [name for name in wanted if name not in found]
    if missing and not can.can_create_tags(actor):
        raise Invalid(f"Unknown tag: {', '.join(missing)}. Pick from the existing tags.", field="tags")
    for name in missing:
        found[name] = Tag(name=name)
        db.session.add(found[name])
    return [found[name] for name in wanted]


def get_thread(actor, thread_id: int) -> Thread:
    """Raises NotFound for a missing thread, or a deleted one the actor may not see."""
    thread_id = possible_id(thread_id)
    thread = db.session.get(Thread, thread_id) if thread_id is not None else None
    if thread is None or not can.can_see_thread(actor, thread):
        raise NotFound("There is no such thread. It may have been deleted.")
    return thread


def get_post(actor, post_id: int) -> Post:
    """Raises NotFound for a missing post, or a deleted one the actor may not see."""
    post_id = possible_id(post_id)
    post = db.session.get(Post, post_id) if post_id is not None else None
    if post is None or not can.can_see_thread(actor, post.thread):
        raise NotFound("There is no such post.")
    if post.deleted_at is not None and not can.can_moderate(actor):
        raise NotFound("That post was deleted.")
    return post


# --- asking and answering ---------------------------------------------------------------------------


def create_thread(actor: User, category_id, title: str, body: str, tags=(), *,
                  urgent: bool = False, urgent_reason: str = "", ask_flow: str | None = None) -> Thread:
    """Ask a question; `ask_flow` is the ask form's flow token, so the flow counts as posted.
    Raises Forbidden or Invalid (never for a bad flow token: that only goes unrecorded)."""
    if not can.can_ask(actor):
        raise Forbidden("Sign in to ask a question.")
    title, body = clean_title(title), clean_body(body)
    category = get_category(category_id)
    urgent_reason = clean_line(urgent_reason) if urgent else ""
    if urgent and not urgent_reason:
        raise Invalid("Say in a few words why this is urgent (an outage, billing, security...).",
                      field="urgent_reason")
    if len(urgent_reason) > URGENT_REASON_MAX:
        raise Invalid(f"Keep the reason under {URGENT_REASON_MAX} characters.", field="urgent_reason")
    tag_rows = resolve_tags(actor, tags)
    now = clock.now()
    thread = Thread(category=category, author=actor, title=title, is_urgent=bool(urgent),
                    urgent_reason=urgent_reason, created_at=now, last_activity_at=now, tags=tag_rows)
    question = Post(thread=thread, author=actor, author_role=actor.role, kind=QUESTION, body=body,
                    body_html=str(markup.render(body)), created_at=now)
    db.session.add_all([thread, question])
    db.session.flush()
    _record_revision(question, actor, title=title)
    follow(actor.id, thread.id)
    if ask_flow_is_theirs(actor, ask_flow):
        record_posted(actor, ask_flow, thread, now)
    signals.thread_created.send(thread)
    db.session.commit()
    return thread


# --- the ask flow ------------------------------------------------------------------------------------


def create_post(actor: User, thread: Thread, body: str) -> Post:
    """Answer or follow up in a thread. Raises Forbidden (locked, deleted) or Invalid."""
    if not can.can_reply(actor, thread):
        if thread.deleted_at is not None:
            raise Forbidden("This thread was deleted; it takes no new posts.")
        if thread.is_locked:
            raise Forbidden("This thread is locked: staff closed it to new posts.")
        raise Forbidden("Sign in to answer.")
    body = clean_body(body)
    _lock_row(thread)  # reply_count and the first-reply times are counted below
    now = clock.now()
    post = Post(thread=thread, author=actor, author_role=actor.role, kind=ANSWER, body=body,
                body_html=str(markup.render(body)), created_at=now)
    db.session.add(post)
    if thread.close_reason == CLOSED_ABANDONED:
        # New activity brings an abandoned thread back.
        thread.closed_at, thread.close_reason = None, None
    db.session.flush()
    _record_revision(post, actor)
    refresh_thread_stats(thread)
    follow(actor.id, thread.id)
    jobs.enqueue(forum_jobs.notify_new_post, post.id, queue="mail")
    signals.post_created.send(post)
    db.session.commit()
    return post


def check_can_edit_post(actor: User, post: Post) -> None:
    """Nothing if `actor` may edit `post`; raises Forbidden saying why not."""
    if can.can_edit_post(actor, post):
        return
    if post.author_id == getattr(actor, "id", None) and post.thread.is_locked:
        raise Forbidden("This thread is locked: its posts can no longer be edited.")
    raise Forbidden("You can only edit your own posts.")


def edit_post(actor: User, post: Post, body: str, title: str | None = None, tags=None) -> Post:
    """Change a post (and, for the question, the title and tags), keeping a revision.
    Raises Forbidden or Invalid."""
    check_can_edit_post(actor, post)
    if post.deleted_at is not None or post.thread.deleted_at is not None:
        raise Forbidden("Deleted posts cannot be edited.")
    body = clean_body(body)
    thread = post.thread
    new_title = clean_title(title) if post.is_question and title is not None else None
    tag_rows = resolve_tags(actor, tags) if post.is_question and tags is not None else None
    changed = body != post.body or (new_title is not None and new_title != thread.title)
    if tag_rows is not None and [t.name for t in tag_rows] != [t.name for t in thread.tags]:
        thread.tags = tag_rows
        changed = True
    if not changed:
        return post
    post.body, post.body_html = body, str(markup.render(body))
    post.edited_at, post.edited_by_id = clock.now(), actor.id
    if new_title is not None:
        thread.title = new_title
    _record_revision(post, actor, title=thread.title if post.is_question else None)
    signals.post_edited.send(post)
    db.session.commit()
    return post


def _record_revision(post: Post, editor: User, title: str | None = None) -> None:
    number = db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.max(PostRevision.number), 0)).where(
            PostRevision.post_id == post.id)
    ) + 1
    db.session.add(PostRevision(post_id=post.id, number=number, editor_id=editor.id,
                                title=title, body=post.body))


def revisions(post: Post) -> list[PostRevision]:
    return list(db.session.scalars(
        sa.select(PostRevision).where(PostRevision.post_id == post.id)
        .order_by(PostRevision.number.desc()).options(sa.orm.joinedload(PostRevision.editor))
    ))


# --- deleting -----------------------------------------------------------------------------------------


def delete_post(actor: User, post: Post) -> Post:
    """Soft-delete an answer (or, for the question, the whole thread). Raises Forbidden."""
    if post.is_question:
        delete_thread(actor, post.thread)
        return post
    if post.deleted_at is not None:
        return post
    if not can.can_delete_post(actor, post):
        if post.author_id == actor.id:
            raise Forbidden("The accepted answer cannot be deleted by its author; ask staff.")
        raise Forbidden("You can only delete your own posts.")
    thread = _lock_row(post.thread)
    _lock_row(post)
    if post.deleted_at is not None:
        return post
    lost = reputation.votes_worth(post.id)
    if thread.accepted_post_id == post.id:
        lost += reputation.acceptance_points(thread, post)
    reputation.add(post.author_id, -lost)
    post.deleted_at, post.deleted_by_id = clock.now(), actor.id
    if thread.accepted_post_id == post.id:
        _clear_acceptance(thread)
    refresh_thread_stats(thread)
    signals.post_deleted.send(post)
    db.session.commit()
    return post


def delete_thread(actor: User, thread: Thread) -> Thread:
    """Soft-delete a thread: the asker before any answer, staff always. Raises Forbidden."""
    question = _question_of(thread)
    if not can.can_delete_post(actor, question):
        if thread.author_id == actor.id:
            raise Forbidden("This question has answers now, so it stays; ask staff if it must go.")
        raise Forbidden("You can only delete your own questions.")
    _lock_row(thread)
    if thread.deleted_at is None:
        reputation.add(*_accepted_author_points(thread, sign=-1))
        thread.deleted_at, thread.deleted_by_id = clock.now(), actor.id
        signals.thread_deleted.send(thread)
        db.session.commit()
    return thread


def restore_thread(actor: User, thread: Thread) -> Thread:
    """Bring back a deleted thread. Raises Forbidden."""
    if not can.can_moderate(actor):
        raise Forbidden("Only staff restore deleted threads.")
    if _lock_row(thread).deleted_at is None:
        return thread
    thread.deleted_at, thread.deleted_by_id = None, None
    reputation.add(*_accepted_author_points(thread, sign=1))
    signals.thread_created.send(thread)
    db.session.commit()
    return thread


def restore_post(actor: User, post: Post) -> Post:
    """Bring back a deleted answer. Raises Forbidden."""
    if not can.can_moderate(actor):
        raise Forbidden("Only staff restore deleted posts.")
    _lock_row(post.thread)
    if _lock_row(post).deleted_at is None:
        return post
    post.deleted_at, post.deleted_by_id = None, None
    if not post.is_question:
        reputation.add(post.author_id, reputation.votes_worth(post.id))
    refresh_thread_stats(post.thread)
    signals.post_edited.send(post)
    db.session.commit()
    return post


def _lock_row(row):
    """Lock `row` for the rest of the transaction and read it afresh (PostgreSQL: SELECT ... FOR
    UPDATE; SQLite's write transactions are exclusive already). The services that change a
    thread's answers, acceptance or votes, and the reputation they carry, decide from what they
    read after this, so two requests at once apply one after the other."""
    model = type(row)
    return db.session.execute(sa.select(model).where(model.id == row.id).with_for_update()
                              .execution_options(populate_existing=True)).scalar_one()


def _accepted_author_points(thread: Thread, sign: int) -> tuple[int, int]:
    """(author of the accepted answer, points) for a live thread; (0, 0) when there is none."""
    if thread.accepted_post_id is None:
        return 0, 0
    post = db.session.get(Post, thread.accepted_post_id)
    if post is None or post.deleted_at is not None:
        return 0, 0
    return post.author_id, sign * reputation.acceptance_points(thread, post)


def _question_of(thread: Thread) -> Post:
    return db.session.scalar(
        sa.select(Post).where(Post.thread_id == thread.id, Post.kind == QUESTION)
    )


# --- accepting and voting ---------------------------------------------------------------------------


def accept_answer(actor: User, post: Post) -> Thread:
    """Mark `post` as the thread's solution (replacing any other). Raises Forbidden or Invalid."""
    thread = post.thread
    if not can.can_accept(actor, thread):
        raise Forbidden("Only the person who asked (or staff) can accept an answer.")
    if post.is_question or not post.is_visible:
        raise Invalid("Only a visible answer can be accepted.")
    _lock_row(thread)
    if thread.deleted_at is not None:
        raise Forbidden("This thread was deleted.")
    if _lock_row(post).deleted_at is not None:
        raise Invalid("Only a visible answer can be accepted.")
    if thread.accepted_post_id == post.id:
        return thread
    reputation.add(*_accepted_author_points(thread, sign=-1))
    reputation.add(post.author_id, reputation.acceptance_points(thread, post))
    now = clock.now()
    thread.accepted_post_id, thread.accepted_by_id, thread.solved_at = post.id, actor.id, now
    if thread.close_reason == CLOSED_ABANDONED:
        thread.closed_at, thread.close_reason = None, None
    thread.last_activity_at = now
    jobs.enqueue(forum_jobs.notify_accepted, thread.id, post.id, queue="mail")
    signals.answer_accepted.send(thread, post=post)
    db.session.commit()
    return thread


def unaccept_answer(actor: User, thread: Thread) -> Thread:
    """Take back the accepted answer; the thread is unsolved again. Raises Forbidden."""
    if not can.can_accept(actor, thread):
        raise Forbidden("Only the person who asked (or staff) can change the accepted answer.")
    if _lock_row(thread).accepted_post_id is None:
        return thread
    reputation.add(*_accepted_author_points(thread, sign=-1))
    _clear_acceptance(thread)
    signals.answer_accepted.send(thread, post=None)
    db.session.commit()
    return thread


def _clear_acceptance(thread: Thread) -> None:
    thread.accepted_post_id = thread.accepted_by_id = thread.solved_at = None


def vote(actor: User, post: Post, value: int) -> Post:
    """Up-vote (1), down-vote (-1) or withdraw (0) a vote on an answer.
    Raises Forbidden (own post, question), Invalid (bad value) or Conflict (same vote twice)."""
    if value not in (-1, 0, 1):
        raise Invalid("A vote is up, down or withdrawn.")
    if not can.can_vote(actor, post):
        if getattr(actor, "id", None) == post.author_id:
            raise Forbidden("You cannot vote on your own post.")
        raise Forbidden("Votes are for answers, by signed-in members.")
    if not _lock_row(post).is_visible:  # votes on one answer apply one after the other
        raise Invalid("That post is not visible any more.")
    existing = db.session.scalar(
        sa.select(Vote).where(Vote.post_id == post.id, Vote.user_id == actor.id)
    )
    old = existing.value if existing else 0
    if value != 0 and old == value:
        raise Conflict("You have already " + ("up" if value > 0 else "down") + "-voted this answer.")
    if existing and value == 0:
        db.session.delete(existing)
    elif existing:
        existing.value = value
    elif value:
        db.session.add(Vote(post_id=post.id, user_id=actor.id, value=value))
    # Arithmetic in SQL, so two simultaneous votes both count.
    db.session.execute(sa.update(Post).where(Post.id == post.id).values(score=Post.score + value - old))
    reputation.add(post.author_id, reputation.vote_points(value) - reputation.vote_points(old))
    try:
        db.session.commit()
    except sa.exc.IntegrityError as exc:  # a double click raced the first vote
        db.session.rollback()
        raise Conflict("You have already voted on this answer.") from exc
    db.session.refresh(post)
    return post


# --- derived thread fields -----------------------------------------------------------------------------


def _reply_filter(thread: Thread):
    """A reply, as the metric definitions say: visible, and not by the thread's own author."""
    return sa.and_(
        Post.thread_id == thread.id,
        Post.kind == ANSWER,
        Post.deleted_at.is_(None),
        Post.hidden_at.is_(None),
        Post.author_id != thread.author_id,
    )


def refresh_thread_stats(thread: Thread) -> None:
    """Recompute reply count, first reply, first staff reply and last activity from the posts."""
    db.session.flush()
    reply = _reply_filter(thread)
    first = db.session.execute(
        sa.select(Post.id, Post.created_at).where(reply).order_by(Post.created_at, Post.id).limit(1)
    ).first()
    thread.first_reply_post_id = first.id if first else None
    thread.first_reply_at = first.created_at if first else None
    thread.first_staff_reply_at = db.session.scalar(
        sa.select(sa.func.min(Post.created_at)).where(reply, Post.author_role.in_(STAFF_ROLES))
    )
    thread.reply_count = db.session.scalar(
        sa.select(sa.func.count()).select_from(Post).where(
            Post.thread_id == thread.id, Post.kind == ANSWER, Post.deleted_at.is_(None),
            Post.hidden_at.is_(None))
    )
    latest = db.session.scalar(
        sa.select(sa.func.max(Post.created_at)).where(
            Post.thread_id == thread.id, Post.deleted_at.is_(None))
    )
    thread.last_activity_at = max(as_utc(t) for t in (latest, thread.solved_at, thread.created_at) if t)


# --- following -------------------------------------------------------------------------------------------


# --- staff: lock, close, reopen -------------------------------------------------------------------------


def set_locked(actor: User, thread: Thread, locked: bool) -> Thread:
    """Lock (no new posts except staff) or unlock a thread. Raises Forbidden."""
    if not can.can_moderate(actor):
        raise Forbidden("Only staff lock threads.")
    thread.is_locked = locked
    db.session.commit()
    return thread


def close_thread(actor: User, thread: Thread) -> Thread:
    """Close a thread without an accepted answer. Raises Forbidden."""
    if not can.can_moderate(actor):
        raise Forbidden("Only staff close threads.")
    if thread.closed_at is None:
        thread.closed_at, thread.close_reason = clock.now(), CLOSED_BY_STAFF
        signals.thread_closed.send(thread)
        db.session.commit()
    return thread


def reopen_thread(actor: User, thread: Thread) -> Thread:
    """Reopen a closed thread. Raises Forbidden."""
    if not can.can_moderate(actor):
        raise Forbidden("Only staff reopen threads.")
    thread.closed_at = thread.close_reason = None
    db.session.commit()
    return thread


# --- categories -------------------------------------------------------------------------------------------


# --- notifications -------------------------------------------------------------------------------------



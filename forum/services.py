"""Forum rules for writing: ask, answer, edit, accept, vote, tags, and the thread statistics they keep.
(Deleting, hiding, locking, closing and moving are in forum.states.)

Each service writes the thread's history and sends its domain event (with the actor) before it
commits: subscribers (the search index, the page cache, packages above) add their rows and jobs to
the same transaction, so a change and its follow-ups are saved together or not at all."""

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from markupsafe import Markup

from accounts import audit
from accounts.models import STAFF_ROLES, User
from accounts.permissions import is_staff
from accounts.standing import check_can_participate
from core import clock, jobs, markup, signals
from core.clock import as_utc
from core.errors import Conflict, Forbidden, Invalid, NotFound, TooLarge, collect, raise_problems
from core.extensions import db
from core.ids import possible_id
from core.text import check_stacked_marks, clean_line, clean_text, has_visible, required_text, visible_length
from forum import history, hooks, reputation, uploads, visibility
from forum import jobs as forum_jobs
from forum import permissions as can
from forum.askflows import ask_flow_is_theirs, record_posted
from forum.categories import get_category
from forum.models import (
    ANSWER,
    BODY_MAX,
    BODY_MIN,
    CLOSED_ABANDONED,
    DELETED,
    HELD,
    HOLDER_POST,
    QUESTION,
    REVISION_SUMMARY_MAX,
    TAG_MAX,
    TAGS_PER_THREAD,
    TITLE_MAX,
    TITLE_MIN,
    URGENT_REASON_MAX,
    VISIBLE,
    Category,
    Post,
    PostRevision,
    Tag,
    Thread,
    ThreadEvent,
    Vote,
)
from forum.notices import follow

# --- input ------------------------------------------------------------------------------------------


def clean_title(title: str | None) -> str:
    """Raises Invalid for an empty or over-long title."""
    return required_text(title, limit=TITLE_MAX, field="title", one_line=True, noun="A title",
                         empty="Write a title that says what the problem is.")


def clean_body(body: str | None) -> str:
    """Raises Invalid for an empty or over-long body."""
    return required_text(body, limit=BODY_MAX, field="body", noun="A post",
                         empty="Write something: the text is empty.")


MENTION_LIMIT = 10  # people one post may mention: a reply is not a mass ping


def render_body(body: str) -> str:
    """A cleaned body's HTML as it is stored. Raises Invalid when it mentions more than
    MENTION_LIMIT people, or links more files than a post may carry (forum.uploads)."""
    html = str(markup.render(body))
    named = markup.mentioned(html)
    if len(named) > MENTION_LIMIT:
        raise Invalid(f"Mention at most {MENTION_LIMIT} people in one post (this one mentions "
                      f"{len(named)}); for more, ask staff to announce it.", field="body")
    uploads.check_count(html)
    return html


def unknown_mentions(body: str | None) -> list[str]:
    """The @names in a body that match nobody who could be told (no such name, or a closed account)."""
    return markup.mention_misses(clean_text(body) if body else "")


def _notify_mentions(post: Post) -> None:
    """After the commit: tell the people a visible post mentions (forum.jobs.notify_mentions)."""
    if post.state == VISIBLE and markup.mentioned(post.body_html):
        jobs.enqueue(forum_jobs.notify_mentions, post.id, queue="mail")


def preview_body(body: str | None) -> Markup:
    """Markdown as it would show once saved: cleaned as clean_body cleans it and rendered by
    core.markup, the one renderer. Raises Invalid (nothing to show, a pile of accents) or TooLarge
    (longer than a post or an article may be)."""
    text = clean_text(body)
    if not has_visible(text):
        raise Invalid("Nothing to preview yet: write something first.", field="body")
    if len(text) > BODY_MAX:
        raise TooLarge(f"This text is too long to preview or post: at most {BODY_MAX:,} characters "
                       f"(it has {len(text):,}).", field="body")
    check_stacked_marks(text, field="body", noun="A post")
    return markup.render(text)


def clean_summary(summary: str | None) -> str:
    """An edit's summary on one line ("" when unsaid). Raises Invalid when it is over-long."""
    summary = clean_line(summary)
    check_stacked_marks(summary, field="summary", noun="A summary")
    if len(summary) > REVISION_SUMMARY_MAX:
        raise Invalid(f"Say what you changed in at most {REVISION_SUMMARY_MAX} characters "
                      f"(this has {len(summary):,}).", field="summary")
    return summary


def check_minimum_lengths(title: str | None, body: str | None) -> None:
    """For a new question from the ask form: raises Invalid (Problems for both) when a title or body
    that is there says less than TITLE_MIN or BODY_MIN (an empty one is clean_title's to refuse)."""
    problems: list[Invalid] = []
    title_length, body_length = visible_length(clean_line(title)), visible_length(clean_text(body))
    if 0 < title_length < TITLE_MIN:
        problems.append(Invalid(f"Make the title at least {TITLE_MIN} characters long, so that others can "
                                f"tell the problem from it (this one has {title_length}).", field="title"))
    if 0 < body_length < BODY_MIN:
        problems.append(Invalid(f"Say a little more in the details: at least {BODY_MIN} characters (you "
                                f"wrote {body_length}). What did you try, and what happened?", field="body"))
    raise_problems(problems)


def tag_names(names) -> list[str]:
    """The distinct tag names in `names` (a list, or text split at commas and spaces), normalised.
    Raises Invalid for more than TAGS_PER_THREAD or a name that is not a tag's."""
    if isinstance(names, str):
        names = re.split(r"[,\s]+", names)
    wanted = []
    for raw in names or []:
        name = Tag.normalise(raw)
        if name and name not in wanted:
            wanted.append(name)
    if len(wanted) > TAGS_PER_THREAD:
        raise Invalid(f"Use at most {TAGS_PER_THREAD} tags.", field="tags")
    for name in wanted:
        if len(name) > TAG_MAX or not Tag.PATTERN.fullmatch(name):
            raise Invalid(f"“{name[:40]}” is not a valid tag: use lowercase letters, digits and -.",
                          field="tags")
    return wanted


def nearest_tags(name: str, names: list[str], limit: int = 3) -> list[str]:
    """The existing tags most like `name`: those it begins, then the closest spellings (difflib)."""
    starting = [other for other in names if other.startswith(name) or name.startswith(other)]
    close = difflib.get_close_matches(name, names, n=limit, cutoff=0.6)
    return list(dict.fromkeys(starting[:limit] + close))[:limit]


def _unknown_tags_message(missing: list[str]) -> str:
    names = db.session.scalars(sa.select(Tag.name)).all()
    parts = []
    for name in missing:
        near = nearest_tags(name, names)
        near_text = " or ".join(f"“{n}”" for n in near)
        parts.append(f"“{name}” (did you mean {near_text}?)" if near else f"“{name}”")
    noun = "Unknown tag" if len(missing) == 1 else "Unknown tags"
    return (f"{noun}: {', '.join(parts)}. {can.TAG_CREATORS} can create new tags; everyone else picks "
            "from the existing ones.")


def resolve_tags(actor, names, *, create: bool = True) -> list[Tag]:
    """Existing tags by name; for those who may create tags, new ones for the missing names (added to
    the session unless `create` is False, which only checks). Raises Invalid for unknown or bad tags,
    naming the nearest existing ones."""
    wanted = tag_names(names)
    if not wanted:
        return []
    found = {t.name: t for t in db.session.scalars(sa.select(Tag).where(Tag.name.in_(wanted)))}
    missing = [name for name in wanted if name not in found]
    if missing and not can.can_create_tags(actor):
        raise Invalid(_unknown_tags_message(missing), field="tags")
    for name in missing:
        found[name] = Tag(name=name)
        if create:
            db.session.add(found[name])
    return [found[name] for name in wanted]


def clean_urgent_reason(urgent: bool, reason: str | None) -> str:
    """Why an urgent thread is urgent (required); "" for one that is not. Raises Invalid."""
    reason = clean_line(reason) if urgent else ""
    if urgent and not reason:
        raise Invalid("Say in a few words why this is urgent (an outage, billing, security...).",
                      field="urgent_reason")
    if len(reason) > URGENT_REASON_MAX:
        raise Invalid(f"Keep the reason under {URGENT_REASON_MAX} characters.", field="urgent_reason")
    return reason


def get_thread(actor, thread_id: int) -> Thread:
    """Raises NotFound for a missing thread, or one the actor may not see (forum.visibility)."""
    thread_id = possible_id(thread_id)
    thread = db.session.get(Thread, thread_id) if thread_id is not None else None
    if thread is None or not visibility.can_see_thread(actor, thread):
        raise NotFound("There is no such thread. It may have been deleted.")
    return thread


def get_post(actor, post_id: int) -> Post:
    """Raises NotFound for a missing post, or one the actor may not see (forum.visibility)."""
    post_id = possible_id(post_id)
    post = db.session.get(Post, post_id) if post_id is not None else None
    if post is None or not visibility.can_see_post(actor, post):
        raise NotFound("There is no such post. It may have been deleted.")
    return post


# --- asking and answering ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Question:
    """A question's input as check_question cleaned it."""

    title: str
    body: str
    category: Category
    urgent_reason: str
    tags: list[Tag]


# The ask form's fields in the order it shows them: problems are listed in that order.
_QUESTION_FIELDS = ("title", "category_id", "body", "tags", "urgent_reason")


def check_question(actor: User, category_id, title: str | None, body: str | None, tags=(), *,
                   urgent: bool = False, urgent_reason: str | None = "",
                   minimum_lengths: bool = False) -> Question:
    """Every problem with a question at once, writing nothing; `minimum_lengths` holds the title and
    body to TITLE_MIN and BODY_MIN (the ask form's rule). Raises Forbidden, or Invalid (Problems
    when several fields are wrong, in the form's order)."""
    check_can_participate(actor)
    if not can.can_ask(actor):
        raise Forbidden("Sign in to ask a question.")
    problems: list[Invalid] = []
    title = collect(problems, clean_title, title)
    category = collect(problems, get_category, category_id)
    body = collect(problems, clean_body, body)
    if minimum_lengths:
        collect(problems, check_minimum_lengths, title, body)
    tag_rows = collect(problems, resolve_tags, actor, tags, create=False)
    urgent_reason = collect(problems, clean_urgent_reason, urgent, urgent_reason)
    problems.sort(key=lambda problem: _QUESTION_FIELDS.index(problem.field)
                  if problem.field in _QUESTION_FIELDS else len(_QUESTION_FIELDS))
    raise_problems(problems)
    return Question(title, body, category, urgent_reason, tag_rows)


def create_thread(actor: User, category_id, title: str, body: str, tags=(), *,
                  urgent: bool = False, urgent_reason: str = "", ask_flow: str | None = None,
                  minimum_lengths: bool = False) -> Thread:
    """Ask a question; `ask_flow` is the ask form's flow token, so the flow counts as posted, and
    `minimum_lengths` is check_question's. Raises Forbidden or Invalid (all the input's problems at
    once, see check_question; never for a bad flow token: that only goes unrecorded)."""
    checked = check_question(actor, category_id, title, body, tags, urgent=urgent,
                             urgent_reason=urgent_reason, minimum_lengths=minimum_lengths)
    title, body, category, tag_rows = checked.title, checked.body, checked.category, checked.tags
    urgent_reason = checked.urgent_reason
    body_html = render_body(body)
    db.session.add_all([tag for tag in tag_rows if tag.id is None])  # new tags, made by staff
    held = hooks.check_post(hooks.Draft(actor=actor, category_id=category.id, body=body, title=title))
    now = clock.now()
    thread = Thread(category=category, author=actor, title=title, is_urgent=bool(urgent),
                    urgent_reason=urgent_reason, created_at=now, last_activity_at=now, tags=tag_rows,
                    state=HELD if held else VISIBLE, hidden_at=now if held else None,
                    hidden_reason=held or "")
    question = Post(thread=thread, author=actor, author_role=actor.role, kind=QUESTION, body=body,
                    body_html=body_html, created_at=now)
    db.session.add_all([thread, question])
    db.session.flush()
    record_revision(question, actor, title=title)
    uploads.claim(actor, HOLDER_POST, question.id, body_html)
    follow(actor.id, thread.id)
    if ask_flow_is_theirs(actor, ask_flow):
        record_posted(actor, ask_flow, thread, now)
    history.record(thread, history.CREATED, actor, at=now, post_id=question.id)
    if urgent:
        history.record(thread, history.URGENT_RAISED, actor, at=now)
    if held:
        history.record(thread, history.HELD_EVENT, None, at=now, note=held)
    if not held:
        _notify_mentions(question)
    signals.thread_created.send(thread, actor=actor, held=held)
    db.session.commit()
    return thread


def check_can_reply(actor: User, thread: Thread) -> None:
    """Nothing if `actor` may answer in `thread`; raises Forbidden saying why not."""
    check_can_participate(actor)
    if can.can_reply(actor, thread):
        return
    if not thread.is_visible:
        raise Forbidden("This thread was deleted; it takes no new posts." if thread.is_deleted
                        else "This thread is not open to answers while staff review it.")
    if thread.is_merged:
        raise Forbidden("This thread was merged into another one, which has its answers now: "
                        "answer there.")
    if thread.is_closed:
        raise Forbidden("This thread is closed, so it takes no new answers. "
                        "If you have the same problem, ask a new question.")
    if thread.is_locked:
        raise Forbidden("This thread is locked: staff closed it to new posts.")
    raise Forbidden("Sign in to answer.")


def create_post(actor: User, thread: Thread, body: str) -> Post:
    """Answer or follow up in a thread. Raises Forbidden (closed, locked, removed) or Invalid; a
    check of a package above may hold the post for review (it is saved, waiting) or refuse it."""
    check_can_reply(actor, thread)
    body = clean_body(body)
    body_html = render_body(body)
    lock_row(thread)  # reply_count and the first-reply times are counted below
    check_can_reply(actor, thread)  # as it is now that no one else can change it
    held = hooks.check_post(hooks.Draft(actor=actor, category_id=thread.category_id, body=body,
                                        thread_id=thread.id))
    now = clock.now()
    post = Post(thread=thread, author=actor, author_role=actor.role, kind=ANSWER, body=body,
                body_html=body_html, created_at=now, state=HELD if held else VISIBLE,
                hidden_at=now if held else None, hidden_reason=held or "")
    db.session.add(post)
    db.session.flush()
    record_revision(post, actor)
    uploads.claim(actor, HOLDER_POST, post.id, body_html)
    if held:
        history.record(thread, history.REPLY_HIDDEN, None, at=now, post_id=post.id, reason=HELD,
                       note=held)
    refresh_thread_stats(thread)
    follow(actor.id, thread.id)
    if not held:
        jobs.enqueue(forum_jobs.notify_new_post, post.id, queue="mail")
    _notify_mentions(post)
    signals.post_created.send(post, actor=actor, held=held)
    db.session.commit()
    return post


def check_can_edit_post(actor: User, post: Post) -> None:
    """Nothing if `actor` may edit `post`; raises Forbidden saying why not."""
    check_can_participate(actor)
    if can.can_edit_post(actor, post):
        return
    if post.author_id == getattr(actor, "id", None) and post.thread.is_locked:
        raise Forbidden("This thread is locked: its posts can no longer be edited.")
    raise Forbidden("You can only edit your own posts.")


def edit_post(actor: User, post: Post, body: str, title: str | None = None, tags=None,
              summary: str | None = None) -> Post:
    """Change a post (and, for the question, the title and tags), keeping a revision with the
    editor's `summary` of what changed. Raises Forbidden or Invalid."""
    check_can_edit_post(actor, post)
    if post.state == DELETED or post.thread.is_deleted:
        raise Forbidden("Deleted posts cannot be edited.")
    thread = post.thread
    problems: list[Invalid] = []  # all of them at once, in the edit form's order
    new_title = collect(problems, clean_title, title) if post.is_question and title is not None else None
    body = collect(problems, clean_body, body)
    body_html = collect(problems, render_body, body) if body is not None else None
    tag_rows = (collect(problems, resolve_tags, actor, tags, create=False)
                if post.is_question and tags is not None else None)
    summary = collect(problems, clean_summary, summary)
    raise_problems(problems)
    changed = body != post.body or (new_title is not None and new_title != thread.title)
    if tag_rows is not None and [t.name for t in tag_rows] != [t.name for t in thread.tags]:
        db.session.add_all([tag for tag in tag_rows if tag.id is None])  # new tags, made by staff
        thread.tags = tag_rows
        changed = True
    if not changed:
        return post
    held = hooks.check_post(hooks.Draft(actor=actor, category_id=thread.category_id, body=body,
                                        title=new_title, thread_id=thread.id, post_id=post.id))
    post.body, post.body_html = body, body_html
    post.edited_at, post.edited_by_id = clock.now(), actor.id
    if new_title is not None:
        thread.title = new_title
    record_revision(post, actor, title=thread.title if post.is_question else None, summary=summary)
    uploads.claim(actor, HOLDER_POST, post.id, body_html)
    if actor.id != post.author_id and is_staff(actor):
        audit.record(actor, "edit", "post", post.id, reason="edited someone else's post")
    if held:
        _hold_after_edit(post, thread, held)
    if not held:
        _notify_mentions(post)
    signals.post_edited.send(post, actor=actor, held=held)
    db.session.commit()
    return post


def _hold_after_edit(post: Post, thread: Thread, reason: str) -> None:
    """An edit a check holds for review (moderation's rules for new members, say): the post, or for
    the question the thread, waits, as a new post would; staff approve it with unhide."""
    now = clock.now()
    if post.is_question:
        if thread.state == VISIBLE:
            reputation.add(*accepted_author_points(thread, sign=-1))
            thread.state, thread.hidden_at, thread.hidden_reason = HELD, now, reason
            thread.hidden_by_id = None
            history.record(thread, history.HELD_EVENT, None, at=now, note=reason)
        return
    if post.state == VISIBLE:
        take_away_answer(post, thread, None, reason="held")
        post.state, post.hidden_at, post.hidden_by_id, post.hidden_reason = HELD, now, None, reason
        history.record(thread, history.REPLY_HIDDEN, None, at=now, post_id=post.id, reason=HELD, note=reason)
        refresh_thread_stats(thread)


def record_revision(post: Post, editor: User, title: str | None = None, summary: str = "") -> None:
    """Keep the post as it is now as its next revision (with the thread's title, for a question, and
    what the editor said they changed)."""
    number = db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.max(PostRevision.number), 0)).where(
            PostRevision.post_id == post.id)
    ) + 1
    db.session.add(PostRevision(post_id=post.id, number=number, editor_id=editor.id,
                                title=title, body=post.body, summary=summary))


def revisions(post: Post) -> list[PostRevision]:
    return list(db.session.scalars(
        sa.select(PostRevision).where(PostRevision.post_id == post.id)
        .order_by(PostRevision.number.desc()).options(sa.orm.joinedload(PostRevision.editor))
    ))


# --- accepting and voting ---------------------------------------------------------------------------


def accept_answer(actor: User, post: Post) -> Thread:
    """Mark `post` as the thread's solution (replacing any other). Raises Forbidden or Invalid.
    Accepting in a thread closed as abandoned reopens it (its asker came back)."""
    thread = post.thread
    check_can_participate(actor)
    if not can.can_accept(actor, thread):
        raise Forbidden("Only the person who asked (or staff) can accept an answer.")
    if post.is_question or not post.is_visible:
        raise Invalid("Only a visible answer can be accepted.")
    thread = lock_post_with_thread(post)
    if not can.can_accept(actor, thread):  # a merge or a split moved the answer meanwhile
        raise Forbidden("Only the person who asked (or staff) can accept an answer.")
    if not thread.is_visible:
        raise Forbidden("This thread was removed.")
    if post.is_question or not post.is_visible:
        raise Invalid("Only a visible answer can be accepted.")
    if thread.accepted_post_id == post.id:
        return thread
    reputation.add(*accepted_author_points(thread, sign=-1))
    reputation.add(post.author_id, reputation.acceptance_points(thread, post))
    now = clock.now()
    if thread.close_reason == CLOSED_ABANDONED:
        thread.closed_at, thread.close_reason, thread.closed_by_id, thread.close_note = None, None, None, ""
        history.record(thread, history.REOPENED, actor, at=now)
        signals.thread_reopened.send(thread, actor=actor)
    _audit_for_asker(actor, thread, "accept", before={"accepted": thread.accepted_post_id},
                     after={"accepted": post.id})
    thread.accepted_post_id, thread.accepted_by_id, thread.solved_at = post.id, actor.id, now
    thread.last_activity_at = now
    history.record(thread, history.ACCEPTED, actor, at=now, post_id=post.id)
    jobs.enqueue(forum_jobs.notify_accepted, thread.id, post.id, queue="mail")
    signals.answer_accepted.send(thread, actor=actor, post=post)
    db.session.commit()
    return thread


def unaccept_answer(actor: User, thread: Thread) -> Thread:
    """Take back the accepted answer; the thread is unsolved again. Raises Forbidden or Conflict."""
    check_can_participate(actor)
    if not can.can_accept(actor, thread):
        raise Forbidden("Only the person who asked (or staff) can change the accepted answer.")
    if lock_row(thread).accepted_post_id is None:
        raise Conflict("No answer is accepted in this thread.")
    reputation.add(*accepted_author_points(thread, sign=-1))
    _audit_for_asker(actor, thread, "unaccept", before={"accepted": thread.accepted_post_id},
                     after={"accepted": None})
    clear_acceptance(thread, actor)
    db.session.commit()
    return thread


def take_away_answer(post: Post, thread: Thread, actor: User | None, reason: str) -> None:
    """A visible answer leaves the thread: its votes' reputation goes, and so does its acceptance."""
    if post.state != VISIBLE:
        return  # already taken away when it was hidden
    lost = reputation.votes_worth(post.id)
    if thread.accepted_post_id == post.id:
        lost += reputation.acceptance_points(thread, post)
        clear_acceptance(thread, actor, reason=reason)
    reputation.add(post.author_id, -lost)


def clear_acceptance(thread: Thread, actor: User | None, reason: str | None = None) -> None:
    """The thread has no accepted answer any more (un-accepted, or the answer was removed): its
    history event, and `answer_unaccepted` with the answer it had."""
    previous = db.session.get(Post, thread.accepted_post_id)
    history.record(thread, history.UNACCEPTED, actor, post_id=thread.accepted_post_id, reason=reason)
    thread.accepted_post_id = thread.accepted_by_id = thread.solved_at = None
    signals.answer_unaccepted.send(thread, actor=actor, post=previous)


def _audit_for_asker(actor: User, thread: Thread, action: str, **change) -> None:
    """Staff acting on the asker's behalf (accepting, un-accepting) is a staff action: audited."""
    if actor.id != thread.author_id and is_staff(actor):
        audit.record(actor, action, "thread", thread.id, **change)


def vote(actor: User, post: Post, value: int) -> Post:
    """Up-vote (1), down-vote (-1) or withdraw (0) a vote on an answer.
    Raises Forbidden (own post, question), Invalid (bad value) or Conflict (same vote twice)."""
    if value not in (-1, 0, 1):
        raise Invalid("A vote is up, down or withdrawn.")
    check_can_participate(actor)
    if not can.can_vote(actor, post):
        if getattr(actor, "id", None) == post.author_id:
            raise Forbidden("You cannot vote on your own post.")
        raise Forbidden("Votes are for answers, by signed-in members.")
    # Votes on one answer apply one after the other.
    if not lock_row(post).is_visible or not post.thread.is_visible:
        raise Invalid("That post is not visible any more.")
    existing = db.session.scalar(
        sa.select(Vote).where(Vote.post_id == post.id, Vote.user_id == actor.id)
    )
    old = existing.value if existing else 0
    if value != 0 and old == value:
        raise Conflict("You have already " + ("up" if value > 0 else "down") + "-voted this answer.")
    if value == 0 and old == 0:
        raise Conflict("You have not voted on this answer.")
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
        db.session.flush()
        signals.vote_cast.send(post, actor=actor, value=value, previous=old)
        db.session.commit()
    except sa.exc.IntegrityError as exc:  # a double click raced the first vote
        db.session.rollback()
        raise Conflict("You have already voted on this answer.") from exc
    db.session.refresh(post)
    return post


def lock_row(row):
    """Lock `row` for the rest of the transaction and read it afresh (PostgreSQL: SELECT ... FOR
    UPDATE; SQLite's write transactions are exclusive already). The services that change a
    thread's answers, acceptance, state or votes, and the reputation they carry, decide from what
    they read after this, so two requests at once apply one after the other."""
    model = type(row)
    return db.session.execute(sa.select(model).where(model.id == row.id).with_for_update()
                              .execution_options(populate_existing=True)).scalar_one()


def lock_post_with_thread(post: Post) -> Thread:
    """Lock `post`'s thread, then `post` (lock_row), and return the thread as it is now. A merge or
    a split (forum.restructure) that committed while this waited may have moved the post to
    another thread: that one is locked then, so that no service changes one thread's figures for
    another thread's post."""
    thread = lock_row(db.session.get(Thread, post.thread_id))
    while lock_row(post).thread_id != thread.id:
        thread = lock_row(db.session.get(Thread, post.thread_id))
    return thread


def accepted_author_points(thread: Thread, sign: int) -> tuple[int, int]:
    """(author of the accepted answer, points) for a live thread; (0, 0) when there is none."""
    if thread.accepted_post_id is None:
        return 0, 0
    post = db.session.get(Post, thread.accepted_post_id)
    if post is None or not post.is_visible:
        return 0, 0
    return post.author_id, sign * reputation.acceptance_points(thread, post)


def question_of(thread: Thread) -> Post:
    return db.session.scalar(
        sa.select(Post).where(Post.thread_id == thread.id, Post.kind == QUESTION)
    )


# --- derived thread fields -----------------------------------------------------------------------------


_STATS_BATCH = 500  # threads per statement: well under SQLite's limit on bound parameters


def refresh_thread_stats(thread: Thread, *, backfill: bool = False) -> None:
    """Recompute reply count, first reply, first staff reply and last activity from the visible
    posts; a new first reply or first staff reply goes into the history (`backfill`: at the
    reply's own time, for posts written before their history was kept)."""
    refresh_threads_stats([thread], backfill=backfill)


def refresh_threads_stats(threads: Iterable[Thread], *, backfill: bool = False) -> None:
    """refresh_thread_stats for many threads with a few statements per batch (imports, the demo).

    A reply, as the metric definitions say, is a visible answer by someone other than the
    thread's own author; reply_count counts every visible answer; last activity is the latest of
    the newest visible post, the solution and the question itself.
    """
    db.session.flush()
    threads = list(threads)
    for start in range(0, len(threads), _STATS_BATCH):
        batch = {thread.id: thread for thread in threads[start:start + _STATS_BATCH]}
        firsts, staff_firsts = _first_replies(list(batch))
        totals = {row.thread_id: row for row in db.session.execute(
            sa.select(Post.thread_id,
                      sa.func.count(sa.case((Post.kind == ANSWER, 1))).label("replies"),
                      sa.func.max(Post.created_at).label("latest"))
            .where(Post.thread_id.in_(list(batch)), visibility.counted_posts()).group_by(Post.thread_id))}
        new_firsts = [(thread, kind, first) for thread in batch.values() for kind, first, cached in (
            (history.FIRST_REPLY, firsts.get(thread.id), thread.first_reply_post_id),
            (history.FIRST_STAFF_REPLY, staff_firsts.get(thread.id), thread.first_staff_reply_post_id),
        ) if first is not None and first.id != cached]
        _record_firsts(new_firsts, backfill)
        for thread_id, thread in batch.items():
            first, first_staff = firsts.get(thread_id), staff_firsts.get(thread_id)
            total = totals.get(thread_id)
            thread.first_reply_post_id = first.id if first else None
            thread.first_reply_at = _replied_at(first, thread)
            thread.first_staff_reply_post_id = first_staff.id if first_staff else None
            thread.first_staff_reply_at = _replied_at(first_staff, thread)
            thread.reply_count = total.replies if total else 0
            latest = total.latest if total else None
            thread.last_activity_at = max(
                as_utc(t) for t in (latest, thread.solved_at, thread.created_at) if t)


def _replied_at(reply, thread: Thread):
    """When `reply` (a row of _first_replies, or None) answered `thread`: when it was written, but
    never before the question. An answer moved in from an older thread (a merge, a split: see
    forum.restructure) keeps its own time, and would otherwise give a negative response time."""
    if reply is None:
        return None
    if as_utc(reply.created_at) < as_utc(thread.created_at):
        return thread.created_at
    return reply.created_at


def _first_replies(thread_ids: list[int]) -> tuple[dict, dict]:
    """{thread id: its first reply} and {thread id: its first staff reply}, as rows of
    (id, created_at, author_id, author_role)."""
    staff = Post.author_role.in_(sorted(STAFF_ROLES))
    ranked = (
        sa.select(Post.id, Post.created_at, Post.author_id, Post.author_role, Post.thread_id,
                  staff.label("by_staff"),
                  sa.func.row_number().over(partition_by=Post.thread_id,
                                            order_by=(Post.created_at, Post.id)).label("nth"),
                  sa.func.row_number().over(partition_by=(Post.thread_id, staff),
                                            order_by=(Post.created_at, Post.id)).label("nth_of_role"))
        .join(Thread, Thread.id == Post.thread_id)
        .where(Post.thread_id.in_(thread_ids), Post.kind == ANSWER, visibility.counted_posts(),
               Post.author_id != Thread.author_id)
        .subquery()
    )
    firsts, staff_firsts = {}, {}
    for row in db.session.execute(sa.select(ranked).where(
            sa.or_(ranked.c.nth == 1, sa.and_(ranked.c.by_staff, ranked.c.nth_of_role == 1)))):
        if row.nth == 1:
            firsts[row.thread_id] = row
        if row.by_staff and row.nth_of_role == 1:
            staff_firsts[row.thread_id] = row
    return firsts, staff_firsts


def _record_firsts(new_firsts: list[tuple[Thread, str, sa.Row]], backfill: bool) -> None:
    """A new first (staff) reply goes into the history once per post, by the reply's author in the
    role they wrote it in: now (when it was posted, or approved, or took the place of one removed
    since), so that no closed period changes; at the reply's own time only when the history of
    posts written earlier is filled in (the demo, an import)."""
    if not new_firsts:
        return
    recorded = {tuple(row) for row in db.session.execute(
        sa.select(ThreadEvent.thread_id, ThreadEvent.kind, ThreadEvent.post_id).where(
            ThreadEvent.thread_id.in_({thread.id for thread, _, _ in new_firsts}),
            ThreadEvent.kind.in_((history.FIRST_REPLY, history.FIRST_STAFF_REPLY))))}
    for thread, kind, first in new_firsts:
        if (thread.id, kind, first.id) not in recorded:
            history.record(thread, kind, post_id=first.id, actor_id=first.author_id,
                           actor_role=first.author_role, at=as_utc(first.created_at) if backfill else None)

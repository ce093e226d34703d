"""Asker satisfaction: once a thread is solved or closed its asker is asked, once, whether it solved
their problem (1-5, with an optional comment).

The question is put on the forum's events, in the transaction of the acceptance or the close (the
forum sends them before it commits, with the thread row locked): a `SatisfactionRating` row with
no score, and a `csat_ask` notice job that lists and mails it. A thread is asked about once, ever:
un-accepting, accepting again, reopening and closing again ask nothing more. Who is asked:

- on an acceptance, the asker, whoever accepted (the asker, or staff on their behalf);
- on a close by staff, for any reason (a duplicate too: the asker was pointed to an answer, and
  whether it solved their problem is the question); not a close by the system (abandoned: the asker
  ignored the reminders already, and is asked if they come back and accept), nor one by the asker
  themselves (a staff member closing their own question).

Until it is answered, the question follows the thread's latest resolution: an answer accepted after
a close (or another answer accepted after an un-accept) makes it about that answer.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import url_for
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy.dialects import postgresql, sqlite

from accounts.models import STAFF_ROLES
from core import clock, jobs, signals
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.extensions import db
from core.text import check_stacked_marks, clean_text
from forum import jobs as forum_jobs
from forum.models import Post, Thread
from forum.notices import NoticeKind
from insights.models import CLOSED, COMMENT_MAX, PEER, SELF, STAFF_SOLVED, SatisfactionRating

ASK = "csat_ask"
SCORES = {1: "1 (not at all)", 2: "2 (a little)", 3: "3 (partly)", 4: "4 (mostly)", 5: "5 (completely)"}


def _rating_link(notice):
    return "insights.rate_thread", {"thread_id": notice.thread_id}


def _outcome(notice) -> dict:
    thread = notice.thread
    return {"outcome": "solved" if thread is not None and thread.accepted_post_id is not None else "closed"}


NOTICE_KIND = NoticeKind(
    ASK, summary="Did “{title}” solve your problem?", link_to_post=False, link=_rating_link, values=_outcome,
    label="Did your solved question solve your problem?",
    mail_text="Your question “{title}” is {outcome} now. Did this solve your problem? Tell us in one "
              "click, from 1 (not at all) to 5 (completely), with a comment if you like:\n\n{link}\n\n"
              "We ask once. Your answer shows us where the community and our staff help, and where "
              "they don't yet.")


# --- putting the question ---------------------------------------------------------------------------


def resolver_of(thread: Thread, post: Post | None) -> str:
    """Who solved `thread` with `post` (its accepted answer; None: closed without one): the asker
    themselves, staff (by the role the answer was written in), or a peer."""
    if post is None:
        return CLOSED
    if post.author_id == thread.author_id:
        return SELF
    if post.author_role in STAFF_ROLES:
        return STAFF_SOLVED
    return PEER


def ask(thread: Thread, post: Post | None) -> bool:
    """Put the question to the thread's asker unless it was put already (then, while unanswered, it
    follows this resolution); enqueue the notice. Writes in the caller's transaction, never commits.
    Returns whether it was put now."""
    resolver = resolver_of(thread, post)
    existing = db.session.scalar(
        sa.select(SatisfactionRating).where(SatisfactionRating.thread_id == thread.id))
    if existing is not None:
        if existing.score is None:
            existing.resolver, existing.category_id = resolver, thread.category_id
        return False
    values = {"thread_id": thread.id, "asker_id": thread.author_id, "resolver": resolver,
              "category_id": thread.category_id, "asked_at": clock.now(), "comment": ""}
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[db.session.get_bind().dialect.name]
    # The forum locked the thread row, so nobody else is asking now; the unique thread_id settles it
    # if some other path ever does (nothing is inserted, and nobody is notified twice).
    added = db.session.execute(insert(SatisfactionRating).values(**values)
                               .on_conflict_do_nothing(index_elements=["thread_id"])).rowcount
    if not added:
        return False
    jobs.enqueue(forum_jobs.notify, ASK, [thread.author_id], thread.id, None, None, queue="mail")
    return True


def _on_accepted(thread: Thread, actor=None, post: Post | None = None, **_extra) -> None:
    if post is None and thread.accepted_post_id is not None:
        post = db.session.get(Post, thread.accepted_post_id)
    if post is not None:
        ask(thread, post)


def _on_closed(thread: Thread, actor=None, **_extra) -> None:
    if actor is None or actor.id == thread.author_id:
        return  # the system's close (abandoned), or the asker closing their own question
    post = db.session.get(Post, thread.accepted_post_id) if thread.accepted_post_id is not None else None
    ask(thread, post)


def init_app() -> None:
    """Subscribe to the forum's events (each once, however many apps a process makes)."""
    for event, receiver in ((signals.answer_accepted, _on_accepted), (signals.thread_closed, _on_closed)):
        event.connect(receiver, weak=False)  # blinker connects a receiver once


# --- answering it --------------------------------------------------------------------------------------


def question_for(actor, thread: Thread) -> SatisfactionRating:
    """The question put to `actor` about `thread`, answered or not. Raises Forbidden (not its asker)
    or NotFound (no question was put about it)."""
    if not getattr(actor, "is_authenticated", False) or actor.id != thread.author_id:
        raise Forbidden("Only the person who asked this question can say whether it solved their problem.")
    rating = db.session.scalar(sa.select(SatisfactionRating).where(SatisfactionRating.thread_id == thread.id))
    if rating is None or rating.asker_id != actor.id:
        raise NotFound("We have not asked about this thread: it is not solved or closed yet.")
    return rating


def _score(value) -> int:
    if isinstance(value, bool):
        value = None
    if isinstance(value, str):
        value = value.strip()
        value = int(value) if value.isascii() and value.isdigit() and len(value) < 3 else None
    if not isinstance(value, int) or value not in SCORES:
        raise Invalid("Choose how well it solved your problem, from 1 (not at all) to 5 (completely).",
                      field="score")
    return value


def rate(actor, thread: Thread, score, comment: str | None = "") -> SatisfactionRating:
    """The asker's answer to the question about `thread`: a score from 1 to 5 and an optional
    comment, given once. Raises Forbidden (not the asker), NotFound (no question was put), Conflict
    (answered already) or Invalid (a score that is not 1-5, a comment too long)."""
    rating = question_for(actor, thread)
    rating = db.session.execute(
        sa.select(SatisfactionRating).where(SatisfactionRating.id == rating.id).with_for_update()
        .execution_options(populate_existing=True)).scalar_one()  # two answers at once: one wins
    if rating.score is not None:
        raise Conflict("You have told us already how well this solved your problem: an answer is "
                       "given once, not twice.")
    score = _score(score)
    comment = clean_text(comment)
    check_stacked_marks(comment, field="comment", noun="The comment")
    if len(comment) > COMMENT_MAX:
        raise Invalid(f"The comment has at most {COMMENT_MAX:,} characters (this one has {len(comment):,}).",
                      field="comment")
    rating.score, rating.comment, rating.rated_at = score, comment, clock.now()
    db.session.commit()
    return rating


# --- the thread page's prompt ----------------------------------------------------------------------


def thread_notices(thread) -> list[Markup]:
    """forum.hooks.thread_notices: the asker of a solved or closed thread sees a link to the question
    while it is unanswered (one query, only for them)."""
    if not current_user.is_authenticated or current_user.id != thread.author_id:
        return []
    if thread.accepted_post_id is None and thread.closed_at is None:
        return []  # unsolved again (un-accepted, reopened): not the moment to ask
    waiting = db.session.scalar(
        sa.select(SatisfactionRating.id).where(SatisfactionRating.thread_id == thread.id,
                                               SatisfactionRating.asker_id == current_user.id,
                                               SatisfactionRating.score.is_(None)))
    if waiting is None:
        return []
    return [Markup('Did this solve your problem? <a href="{}">Tell us in one click</a>.')
            .format(url_for("insights.rate_thread", thread_id=thread.id))]

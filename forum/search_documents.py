"""Forum threads as search documents: one per thread (the question and its visible answers),
kept fresh by index jobs enqueued on the forum's own events."""

import sqlalchemy as sa
from flask import url_for
from sqlalchemy.orm import joinedload, selectinload

from core import signals
from core.extensions import db
from core.markup import plain_text
from forum import queries, visibility
from forum.models import Category, Post, Thread, ThreadEvent
from search import THREAD, Document, HitFacts, make_doc_id, register_type
from search.jobs import enqueue_index

BODY_LIMIT = 20_000  # characters of question and answers per thread: small stored fields, fast queries


def _updated_at():
    """A thread's version for the index: the latest of its posts' writes and edits and of its
    history's events (every hide, unhide, delete, restore, move and close is one), so that
    reconcile sees any change a missed index job left out."""
    moment = sa.DateTime(timezone=True)
    latest_post_change = (
        sa.select(sa.func.max(sa.func.coalesce(Post.edited_at, Post.created_at, type_=moment), type_=moment))
        .where(Post.thread_id == Thread.id).scalar_subquery()
    )
    latest_event = (sa.select(sa.func.max(ThreadEvent.at)).where(ThreadEvent.thread_id == Thread.id)
                    .scalar_subquery())
    latest = sa.func.max if db.engine.dialect.name == "sqlite" else sa.func.greatest
    return latest(sa.func.coalesce(latest_post_change, Thread.last_activity_at, type_=moment),
                  sa.func.coalesce(latest_event, Thread.last_activity_at, type_=moment), type_=moment)


def _searchable():
    # A thread merged into another is found as that one, which holds its answers (forum.restructure).
    return visibility.listed_threads()


def load(keys) -> list[Document]:
    """The documents for these thread ids that should be searchable now."""
    threads = list(db.session.scalars(
        sa.select(Thread).where(Thread.id.in_(keys), _searchable())
        .options(joinedload(Thread.category), selectinload(Thread.tags))
    ).unique())
    versions = dict(db.session.execute(
        sa.select(Thread.id, _updated_at()).where(Thread.id.in_([t.id for t in threads]))).all())
    bodies: dict[int, list[str]] = {}
    for thread_id, body in db.session.execute(
        sa.select(Post.thread_id, Post.body_html).where(
            Post.thread_id.in_([t.id for t in threads]), visibility.counted_posts())
        .order_by(Post.thread_id, Post.created_at, Post.id)
    ):
        # The text a reader sees, not the Markdown source: snippets show no `**` or `[link](...)`.
        bodies.setdefault(thread_id, []).append(plain_text(body))
    return [
        Document(doc_id=make_doc_id(THREAD, t.id), kind=THREAD, title=t.title,
                 body="\n\n".join(bodies.get(t.id, []))[:BODY_LIMIT], tags=[tag.name for tag in t.tags],
                 category=t.category.slug, solved=t.accepted_post_id is not None, url=f"/t/{t.id}",
                 updated_at=versions.get(t.id))
        for t in threads
    ]


def facts(keys) -> dict[int, HitFacts]:
    """What a results page shows beside each of these threads (category, answers, the top answer's
    score, solved, asked and last active), in one query; threads no longer searchable are left out."""
    rows = db.session.execute(
        sa.select(Thread.id, Category.name, Category.slug, Thread.reply_count, queries.top_answer_score(),
                  Thread.accepted_post_id, Thread.created_at, Thread.last_activity_at)
        .join(Category, Category.id == Thread.category_id)
        .where(Thread.id.in_(keys), _searchable()))
    return {
        r[0]: HitFacts(category=r[1], category_url=url_for("forum.view_category", slug=r[2]), answers=r[3],
                       votes=r[4], solved=r[5] is not None, date_label="asked", date=r[6],
                       last_activity=r[7])
        for r in rows
    }


def all_ids():
    """(thread id, version) for every searchable thread."""
    rows = db.session.execute(sa.select(Thread.id, _updated_at()).where(_searchable()))
    return [tuple(row) for row in rows]


def count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Thread).where(_searchable()))


def _reindex_thread(sender, **extra) -> None:
    """Queue the thread's re-index in the transaction of the change (the services send their events
    before they commit), so that the change and its index job are saved together. A merge or a
    split changes two threads: the other one is named by the event (signals.OTHER_THREAD_ARGS)."""
    thread_ids = [sender.thread_id if isinstance(sender, Post) else sender.id]
    thread_ids += [extra[name].id for name in signals.OTHER_THREAD_ARGS if extra.get(name) is not None]
    enqueue_index([make_doc_id(THREAD, thread_id) for thread_id in thread_ids])


def init_app() -> None:
    """Register threads with the search engine and re-index a thread whenever it changes."""
    register_type(THREAD, load=load, all_ids=all_ids, count=count, facts=facts)
    for signal in signals.THREAD_CHANGES:
        signal.connect(_reindex_thread, weak=False)

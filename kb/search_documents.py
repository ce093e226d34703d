"""KB articles as search documents: one per published article, kept fresh by index jobs that the
kb services enqueue in their own transaction (publish, edit, restore, archive, unpublish, delete)."""

import sqlalchemy as sa
from flask import url_for
from sqlalchemy.orm import joinedload, selectinload

from core.extensions import db
from core.markup import plain_text
from forum.models import Category
from kb.models import PUBLISHED, Article
from search import ARTICLE, Document, HitFacts, make_doc_id, register_type
from search.jobs import enqueue_index, enqueue_remove

BODY_LIMIT = 20_000  # characters of the article's text, as for threads


def _searchable():
    return Article.status == PUBLISHED


def load(keys) -> list[Document]:
    """The documents for these article ids that should be searchable now (the published ones)."""
    articles = db.session.scalars(
        sa.select(Article).where(Article.id.in_(keys), _searchable())
        .options(joinedload(Article.category), selectinload(Article.tags))
    ).unique()
    return [
        Document(doc_id=make_doc_id(ARTICLE, a.id), kind=ARTICLE, title=a.title,
                 body=plain_text(a.body_html)[:BODY_LIMIT],
                 tags=[tag.name for tag in a.tags], category=a.category.slug, url=f"/kb/{a.slug}",
                 updated_at=a.updated_at)
        for a in articles
    ]


def facts(keys) -> dict[int, HitFacts]:
    """What a results page shows beside each of these articles (its KB category and when it was last
    updated), in one query; articles no longer published are left out."""
    rows = db.session.execute(
        sa.select(Article.id, Category.name, Category.slug, Article.updated_at)
        .join(Category, Category.id == Article.category_id)
        .where(Article.id.in_(keys), _searchable()))
    return {r[0]: HitFacts(category=r[1], category_url=url_for("kb.view_category", slug=r[2]),
                           date_label="updated", date=r[3]) for r in rows}


def all_ids():
    """(article id, version) for every published article; the version is `updated_at`, which every
    change the index could see (text, address, category, tags, status) moves on."""
    return [tuple(row) for row in db.session.execute(sa.select(Article.id, Article.updated_at)
                                                     .where(_searchable()))]


def count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Article).where(_searchable()))


def enqueue(article_id: int) -> None:
    """Queue a re-index of one article in the current transaction: the job indexes it if it is
    published when it runs, and removes it otherwise."""
    enqueue_index([make_doc_id(ARTICLE, article_id)])


def enqueue_removal(article_id: int) -> None:
    """Queue the removal of a deleted article in the current transaction."""
    enqueue_remove([make_doc_id(ARTICLE, article_id)])


def init_app() -> None:
    """Register articles with the search engine."""
    register_type(ARTICLE, load=load, all_ids=all_ids, count=count, facts=facts)

"""Read side of the knowledge base: the home page, category pages, an article's related articles
and solved threads, the writers' drafts, the reply-form picker and the thread-page notice, each in
a fixed number of SQL queries whatever the number of rows."""

import math
import re
from dataclasses import dataclass
from functools import cache

import sqlalchemy as sa
from sqlalchemy.orm import joinedload, selectinload

from core.extensions import db, read
from forum import visibility
from forum.models import Category, Thread, thread_tags
from forum.queries import Page, category_ids
from kb.models import PUBLISHED, Article, KbCategorySetting, article_tags

ARTICLES_PER_PAGE = 30
RELATED_LIMIT = 5
_WORD_RE = re.compile(r"\w+", re.UNICODE)


@dataclass
class CategoryCount:
    category: Category
    published: int
    children: list["CategoryCount"]

    @property
    def total(self) -> int:
        return self.published + sum(child.published for child in self.children)


@dataclass
class Home:
    categories: list[CategoryCount]
    most_viewed: list[Article]
    recently_updated: list[Article]


def _published():
    return Article.status == PUBLISHED


def home(limit: int = 6) -> Home:
    """Categories (as a tree) with their published article counts, the most viewed and the most
    recently updated articles: three queries."""
    rows = db.session.execute(
        sa.select(Category, sa.func.count(Article.id))
        .outerjoin(Article, sa.and_(Article.category_id == Category.id, _published()))
        .group_by(Category.id).order_by(Category.position, Category.name)
    ).all()
    counts = {category.id: CategoryCount(category, int(n), []) for category, n in rows}
    tree = []
    for category, _n in rows:
        node = counts[category.id]
        parent = counts.get(category.parent_id) if category.parent_id is not None else None
        (parent.children if parent is not None else tree).append(node)
    listed = sa.select(Article).where(_published()).options(joinedload(Article.category)).limit(limit)
    most_viewed = list(db.session.scalars(listed.order_by(Article.view_count.desc(), Article.id)))
    recent = list(db.session.scalars(listed.order_by(Article.updated_at.desc(), Article.id.desc())))
    return Home(categories=[node for node in tree if node.total], most_viewed=most_viewed,
                recently_updated=recent)


def category_articles(category: Category, page: int = 1, per_page: int = ARTICLES_PER_PAGE) -> Page:
    """Published articles of a category and its sub-categories, most viewed first."""
    scope = sa.and_(_published(), Article.category_id.in_(category_ids(category)))
    total = db.session.scalar(sa.select(sa.func.count()).select_from(Article).where(scope))
    page = min(max(page, 1), max(1, math.ceil(total / per_page)))
    items = list(db.session.scalars(
        sa.select(Article).where(scope).options(joinedload(Article.category), selectinload(Article.tags))
        .order_by(Article.view_count.desc(), Article.title, Article.id)
        .limit(per_page).offset((page - 1) * per_page)
    ).unique())
    return Page(items=items, page=page, per_page=per_page, total=total)


@dataclass
class Related:
    articles: list[Article]
    threads: list[Thread]


def related(article: Article, limit: int = RELATED_LIMIT) -> Related:
    """Published articles and solved threads that share the article's tags or category, those
    sharing the most tags first: two queries (the article's tags must be loaded)."""
    tag_ids = [tag.id for tag in article.tags]
    article_score, article_near = _closeness(article_tags.c.article_id, Article.id, Article.category_id,
                                             tag_ids, article.category_id)
    articles = list(db.session.scalars(
        sa.select(Article)
        .where(_published(), Article.id != article.id, article_near)
        .order_by(article_score.desc(), Article.view_count.desc(), Article.id).limit(limit)
    ))
    thread_score, thread_near = _closeness(thread_tags.c.thread_id, Thread.id, Thread.category_id, tag_ids,
                                           article.category_id)
    threads = list(db.session.scalars(
        sa.select(Thread)
        .where(visibility.counted_threads(), Thread.accepted_post_id.is_not(None),
               Thread.id != (article.source_thread_id or 0), thread_near)
        .order_by(thread_score.desc(), Thread.view_count.desc(), Thread.id.desc()).limit(limit)
    ))
    return Related(articles=articles, threads=threads)


def _closeness(link_column, row_id, row_category, tag_ids, category_id):
    """A score (2 per tag shared with the article, 1 more for the same category) and the condition
    that picks the candidates (same category or a shared tag), which the indexes serve."""
    same_category = row_category == category_id
    score = sa.case((same_category, sa.literal(1)), else_=0)
    if not tag_ids:
        return score, same_category
    tag_id = link_column.table.c.tag_id
    shared = (sa.select(sa.func.count()).select_from(link_column.table)
              .where(link_column == row_id, tag_id.in_(tag_ids)).scalar_subquery())
    tagged = row_id.in_(sa.select(link_column).where(tag_id.in_(tag_ids)))
    return shared * 2 + score, sa.or_(same_category, tagged)


def unpublished_for(category_ids_allowed: frozenset[int] | None) -> list[Article]:
    """Drafts and archived articles, newest change first: all of them (None) or those of some
    categories (an advocate's)."""
    query = (sa.select(Article).where(Article.status != PUBLISHED)
             .options(joinedload(Article.category), joinedload(Article.author))
             .order_by(Article.status, Article.updated_at.desc(), Article.id.desc()))
    if category_ids_allowed is not None:
        query = query.where(Article.category_id.in_(category_ids_allowed))
    return list(db.session.scalars(query))


def picker(text: str | None, limit: int = 8) -> list[Article]:
    """Published articles whose titles hold every word typed (the most viewed when nothing is
    typed), for the staff picker in the reply form: one query."""
    words = list(dict.fromkeys(_WORD_RE.findall((text or "").lower()[:200])))[:8]
    query = sa.select(Article).where(_published())
    lowered = sa.func.lower(Article.title)
    for word in words:
        query = query.where(lowered.contains(word, autoescape=True))
    return list(db.session.scalars(query.order_by(Article.view_count.desc(), Article.title).limit(limit)))


@dataclass
class ThreadArticle:
    """The article promoted from a thread (if any), and who may write where, for the thread page."""

    slug: str | None
    title: str | None
    status: str | None
    article_category_id: int | None
    advocates_in_article_category: bool
    advocates_in_thread_category: bool


@cache
def _thread_article_statement():
    """Built once (every thread page runs it): constructing it was a good part of its cost."""
    settings = sa.orm.aliased(KbCategorySetting)
    thread_setting = (
        sa.select(KbCategorySetting.advocates_may_write)
        .where(KbCategorySetting.category_id == sa.bindparam("category_id")).scalar_subquery()
    )
    anchor = sa.select(sa.literal(1).label("one")).subquery()
    return (
        sa.select(Article.slug, Article.title, Article.status, Article.category_id,
                  settings.advocates_may_write, thread_setting)
        .select_from(anchor)
        .outerjoin(Article, Article.source_thread_id == sa.bindparam("thread_id"))
        .outerjoin(settings, settings.category_id == Article.category_id)
        .limit(1)
    )


def thread_article(thread: Thread) -> ThreadArticle:
    """One query: the article promoted from `thread` and whether advocates may write in its
    category and in the thread's."""
    row = read(_thread_article_statement(), {"thread_id": thread.id, "category_id": thread.category_id}).one()
    slug, title, status, category_id, in_article_category, in_thread_category = row
    return ThreadArticle(slug=slug, title=title, status=status, article_category_id=category_id,
                         advocates_in_article_category=bool(in_article_category),
                         advocates_in_thread_category=bool(in_thread_category))

"""Knowledge-base rows: articles and their revisions, reader feedback, and per-category writer settings."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from accounts.models import User
from core import clock
from core.extensions import db
from forum.models import Category, Tag, Thread

TITLE_MAX = 200
BODY_MAX = 50_000
SLUG_MAX = 120
COMMENT_MAX = 1000
TAGS_PER_ARTICLE = 5

DRAFT, PUBLISHED, ARCHIVED = "draft", "published", "archived"
STATUSES = (DRAFT, PUBLISHED, ARCHIVED)
STATUS_LABELS = {DRAFT: "Draft", PUBLISHED: "Published", ARCHIVED: "Archived"}
HOLDER_ARTICLE = "article"  # what holds a file attached to an article (forum.uploads)

article_tags = sa.Table(
    "article_tags",
    db.metadata,
    sa.Column("article_id", sa.ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("tag_id", sa.ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Article(db.Model):
    """A knowledge-base article: Markdown source and its HTML, rendered once when saved."""

    __tablename__ = "articles"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(TITLE_MAX))
    slug: Mapped[str] = mapped_column(sa.String(SLUG_MAX), unique=True)
    body: Mapped[str] = mapped_column(sa.Text)
    body_html: Mapped[str] = mapped_column(sa.Text)
    category_id: Mapped[int] = mapped_column(sa.ForeignKey("categories.id"), index=True)
    status: Mapped[str] = mapped_column(sa.String(10), default=DRAFT)
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=clock.now)
    # Any change a reader or the search index could see: text, slug, category, tags, status.
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=clock.now)
    # When it was last published; kept while archived, so the page can still say when.
    published_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    view_count: Mapped[int] = mapped_column(default=0)
    # The solved thread it was promoted from; one article per thread.
    source_thread_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("threads.id", ondelete="SET NULL"), unique=True)

    category: Mapped[Category] = relationship()
    author: Mapped[User] = relationship()
    tags: Mapped[list[Tag]] = relationship(secondary=article_tags, order_by=Tag.name)
    source_thread: Mapped[Thread | None] = relationship()

    __table_args__ = (
        sa.CheckConstraint(f"status IN ({', '.join(repr(s) for s in STATUSES)})", name="status_known"),
        # The KB home lists published articles by views and by last update.
        sa.Index("ix_articles_status_view_count", "status", "view_count"),
        sa.Index("ix_articles_status_updated_at", "status", "updated_at"),
    )

    @property
    def is_published(self) -> bool:
        return self.status == PUBLISHED

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)


class ArticleRevision(db.Model):
    """One saved version of an article's title and body; every save adds one."""

    __tablename__ = "article_revisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(sa.ForeignKey("articles.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column()
    title: Mapped[str] = mapped_column(sa.String(TITLE_MAX))
    body: Mapped[str] = mapped_column(sa.Text)
    editor_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    # Why this version exists when it is not a plain edit: "Restored version 2", "Promoted from…".
    note: Mapped[str] = mapped_column(sa.String(200), default="")
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=clock.now)

    editor: Mapped[User] = relationship()

    __table_args__ = (sa.UniqueConstraint("article_id", "number"),)


class ArticleFeedback(db.Model):
    """A reader's "was this helpful?" answer, with an optional comment.

    Signed-in readers have one answer per article, which they may change (the unique
    constraint on article and user). Answers from readers who are not signed in are
    kept too, each as its own row with no user: they are keyed by nothing, because
    telling two anonymous readers apart would mean storing an address or a cookie
    for a yes/no button. Their counts are therefore indicative, and staff see how
    many of the answers came from readers who were not signed in.
    """

    __tablename__ = "article_feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(sa.ForeignKey("articles.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    helpful: Mapped[bool] = mapped_column()
    comment: Mapped[str] = mapped_column(sa.String(COMMENT_MAX), default="")
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=clock.now)

    user: Mapped[User | None] = relationship()

    __table_args__ = (sa.UniqueConstraint("article_id", "user_id"),)


class KbCategorySetting(db.Model):
    """What an admin allowed in one category's part of the knowledge base."""

    __tablename__ = "kb_category_settings"

    category_id: Mapped[int] = mapped_column(
        sa.ForeignKey("categories.id", ondelete="CASCADE"), primary_key=True)
    advocates_may_write: Mapped[bool] = mapped_column(default=False)

"""Knowledge-base rules: write, edit, publish, archive and delete articles, their revisions, reader
feedback, thread-to-article promotion and the categories advocates may write in.

As in the forum, each change sends its event before it commits, so subscribers' rows and jobs are
saved with it."""

import re
import unicodedata
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import joinedload, selectinload

from accounts.models import User
from accounts.permissions import is_staff
from accounts.standing import check_can_participate
from core import clock, markup, signals
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.extensions import db
from core.ids import possible_id
from core.text import clean_line, clean_text, required_text
from forum import categories, uploads
from forum import services as forum_services
from forum.models import QUESTION, Category, Post, Thread
from kb import diff, queries, search_documents
from kb import permissions as can
from kb.models import (
    BODY_MAX,
    COMMENT_MAX,
    DRAFT,
    HOLDER_ARTICLE,
    PUBLISHED,
    SLUG_MAX,
    STATUSES,
    TITLE_MAX,
    Article,
    ArticleFeedback,
    ArticleRevision,
    KbCategorySetting,
)

_SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
# Pages of the knowledge base that sit where an article's address would (/kb/new, /kb/drafts).
RESERVED_SLUGS = frozenset({"new", "drafts", "admin", "c", "promote", "picker"})
_NOT_FOUND = "There is no such article. It may have moved or been deleted."
_HELPFUL = {"yes": True, "1": True, "true": True, "no": False, "0": False, "false": False}


# --- input ------------------------------------------------------------------------------------------


def clean_title(title: str | None) -> str:
    """Raises Invalid for an empty or over-long title."""
    return required_text(title, limit=TITLE_MAX, field="title", one_line=True, noun="A title",
                         empty="Give the article a title.")


def clean_body(body: str | None) -> str:
    """Raises Invalid for an empty or over-long body."""
    return required_text(body, limit=BODY_MAX, field="body", noun="An article",
                         empty="Write the article: the text is empty.")


def slugify(text: str) -> str:
    """An address from a title: ASCII letters and digits joined by dashes ("article" if none are left)."""
    ascii_text = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")
    if len(slug) > SLUG_MAX:
        slug = slug[:SLUG_MAX + 1].rsplit("-", 1)[0] if "-" in slug[:SLUG_MAX] else slug[:SLUG_MAX]
    return slug.strip("-") or "article"


def clean_slug(slug: str | None) -> str:
    """A slug typed by a writer. Raises Invalid for a malformed or reserved one."""
    slug = clean_line(slug).lower()
    if len(slug) > SLUG_MAX or not _SLUG_RE.fullmatch(slug):
        raise Invalid(f"An address is lowercase letters, digits and single dashes, at most {SLUG_MAX} "
                      "characters, like “reconnect-a-bank-feed”.", field="slug")
    if slug in RESERVED_SLUGS:
        raise Invalid(f"“{slug}” is the address of a knowledge-base page; choose another.", field="slug")
    return slug


def _check_slug_free(slug: str, article_id: int | None = None) -> None:
    clash = db.session.scalar(sa.select(Article.id).where(Article.slug == slug))
    if clash is not None and clash != article_id:
        raise Conflict(f"Another article already has the address /kb/{slug}.", field="slug")


def _unique_slug(base: str, article_id: int | None = None) -> str:
    """`base`, or `base-2`, `base-3`... whichever no other article has."""
    taken = set(db.session.scalars(
        sa.select(Article.slug).where(sa.or_(Article.slug == base, Article.slug.startswith(f"{base}-")),
                                      Article.id != (article_id or 0))
    )) | RESERVED_SLUGS
    if base not in taken:
        return base
    number = 2
    while True:
        suffix = f"-{number}"
        candidate = base[:SLUG_MAX - len(suffix)].rstrip("-") + suffix
        if candidate not in taken:
            return candidate
        number += 1


# The forum's lookups refuse ids no row can have (core.ids) with the messages readers expect.
get_category = categories.get_category
get_thread = forum_services.get_thread


def _clean_status(status: str | None) -> str:
    status = clean_line(status).lower()
    if status not in STATUSES:
        raise Invalid("An article is a draft, published or archived.", field="status")
    return status


def _clean_comment(comment: str | None) -> str:
    comment = clean_text(comment)
    if len(comment) > COMMENT_MAX:
        raise Invalid(f"Keep the comment under {COMMENT_MAX:,} characters (this one has {len(comment):,}).",
                      field="comment")
    return comment


# --- who may write where ------------------------------------------------------------------------------


def advocate_category_ids(user) -> frozenset[int]:
    """The categories an advocate may write in (empty for everyone else, without a query)."""
    if not can.is_advocate(user):
        return frozenset()
    return advocate_categories()


def _require_writer(actor, category_id: int, allowed: frozenset[int]) -> None:
    if can.can_write_in(actor, category_id, allowed):
        return
    if can.is_advocate(actor):
        raise Forbidden("Advocates write articles only in the categories an admin opened to them, "
                        "and this is not one of them.")
    raise Forbidden("Only staff, and advocates where an admin allows it, write knowledge-base articles.")


def advocate_categories() -> frozenset[int]:
    """Every category open to advocates' writing."""
    return frozenset(db.session.scalars(
        sa.select(KbCategorySetting.category_id).where(KbCategorySetting.advocates_may_write.is_(True))))


def require_some_writing(actor) -> None:
    """Raises Forbidden unless `actor` may write in at least one category."""
    if not can.may_write_somewhere(actor, advocate_category_ids(actor)):
        raise Forbidden("Only staff, and advocates where an admin allows it, write knowledge-base articles.")


def require_writer(actor, article: Article) -> None:
    """Raises Forbidden unless `actor` may edit this article."""
    _require_writer(actor, article.category_id, advocate_category_ids(actor))


def writable_categories(user) -> list[Category]:
    """The categories `user` may write in, in the forum's order, with their parents."""
    allowed = advocate_category_ids(user)
    if not can.may_write_somewhere(user, allowed):
        return []
    query = (sa.select(Category).order_by(Category.position, Category.name)
             .options(selectinload(Category.parent)))
    if not is_staff(user):
        query = query.where(Category.id.in_(allowed))
    return list(db.session.scalars(query))


# --- reading --------------------------------------------------------------------------------------------


def get_article(actor, slug: str) -> Article:
    """The article at `slug`. Raises NotFound when there is none, or when it is a draft or
    archived and `actor` does not write in its category."""
    article = db.session.scalar(
        sa.select(Article).where(Article.slug == str(slug or "")[:SLUG_MAX + 1])
        .options(joinedload(Article.category), joinedload(Article.author), joinedload(Article.source_thread))
    )
    if article is None:
        raise NotFound(_NOT_FOUND)
    if not article.is_published and not can.can_see_article(actor, article, advocate_category_ids(actor)):
        raise NotFound(_NOT_FOUND)
    return article


def get_category_by_slug(slug: str) -> Category:
    """A category by its address. Raises NotFound."""
    category = db.session.scalar(sa.select(Category).where(Category.slug == str(slug or "")[:80]))
    if category is None:
        raise NotFound("There is no such category.")
    return category


def unpublished_articles(actor) -> list[Article]:
    """The drafts and archived articles `actor` writes, newest change first. Raises Forbidden."""
    allowed = advocate_category_ids(actor)
    if not can.may_write_somewhere(actor, allowed):
        raise Forbidden("Only the knowledge base's writers see its drafts.")
    return queries.unpublished_for(None if is_staff(actor) else allowed)


def can_write(actor, article: Article) -> bool:
    """Whether `actor` may edit, publish or archive this article."""
    return can.can_write_in(actor, article.category_id, advocate_category_ids(actor))


def _require_history_reader(actor, article: Article) -> None:
    if not can_write(actor, article):
        raise Forbidden("Only the people who write this article see its history.")


def revisions(actor, article: Article) -> list[ArticleRevision]:
    """Every version of the article, newest first. Raises Forbidden for non-writers."""
    _require_history_reader(actor, article)
    return list(db.session.scalars(
        sa.select(ArticleRevision).where(ArticleRevision.article_id == article.id)
        .order_by(ArticleRevision.number.desc()).options(joinedload(ArticleRevision.editor))
    ))


def get_revision(article: Article, revision_id) -> ArticleRevision:
    """One version of this article by its id. Raises Invalid (not a number, or a version of
    another article) or NotFound."""
    try:
        revision_id = int(revision_id)
    except (TypeError, ValueError):
        raise Invalid("Choose the versions to compare from the article's history.") from None
    revision = db.session.get(ArticleRevision, revision_id) if possible_id(revision_id) else None
    if revision is None:
        raise NotFound(f"There is no version #{revision_id}.")
    if revision.article_id != article.id:
        raise Invalid(f"Version #{revision_id} belongs to another article; "
                      "pick versions from this article's own history.")
    return revision


def compare_revisions(actor, article: Article, old_id, new_id) -> diff.Comparison:
    """What changed between two versions of the same article. Raises Forbidden, Invalid, NotFound."""
    _require_history_reader(actor, article)
    old, new = get_revision(article, old_id), get_revision(article, new_id)
    return diff.compare(old, new)


# --- writing --------------------------------------------------------------------------------------------


def _record_revision(article: Article, editor: User, note: str = "") -> ArticleRevision:
    number = db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.max(ArticleRevision.number), 0))
        .where(ArticleRevision.article_id == article.id)
    ) + 1
    revision = ArticleRevision(article_id=article.id, number=number, title=article.title, body=article.body,
                               editor_id=editor.id, note=note[:200], created_at=article.updated_at)
    db.session.add(revision)
    return revision


def _render(body: str) -> str:
    """An article's stored HTML. Raises Invalid when it links more files than one may carry."""
    html = str(markup.render(body))
    uploads.check_count(html)
    return html


def _set_text(article: Article, title: str, body: str) -> None:
    if body != article.body:
        article.body_html = _render(body)  # first: it may refuse, and then nothing has changed
        article.body = body
    article.title = title


# --- attachments (forum.uploads) -------------------------------------------------------------------------


def attach_to_article(actor, target) -> None:
    """forum.hooks.upload_places["article"]: files go into an article its writer may edit (`target`
    its id), or into a new one (`target` empty) in some category they may write in."""
    article_id = possible_id(target) if str(target or "").strip() else None
    if article_id is None and str(target or "").strip():
        raise NotFound(_NOT_FOUND)
    if article_id is None:
        require_some_writing(actor)
        return
    article = db.session.get(Article, article_id)
    if article is None:
        raise NotFound(_NOT_FOUND)
    require_writer(actor, article)


def article_shown(viewer, article_id: int) -> bool:
    """forum.hooks.upload_holders["article"]: a file in an article shows to whoever sees the article."""
    article = db.session.get(Article, article_id)
    return article is not None and (article.is_published or can.can_see_article(
        viewer, article, advocate_category_ids(viewer)))


def _commit(message: str, field: str | None = "slug") -> None:
    """Commit, turning a unique-key race (another writer took the slug a moment ago) into Conflict."""
    try:
        db.session.commit()
    except sa.exc.IntegrityError as exc:
        db.session.rollback()
        raise Conflict(message, field=field) from exc


def create_article(actor: User, category_id, title: str, body: str, tags=(), slug: str | None = "", *,
                   status: str = DRAFT, source_thread: Thread | None = None, note: str = "") -> Article:
    """Write a new article (a draft unless `status` says otherwise), keeping revision 1.
    Raises Forbidden, Invalid (title, body, category, slug, tags, status) or Conflict (slug taken)."""
    check_can_participate(actor)
    allowed = advocate_category_ids(actor)
    if not can.may_write_somewhere(actor, allowed):
        raise Forbidden("Only staff, and advocates where an admin allows it, write knowledge-base articles.")
    title, body = clean_title(title), clean_body(body)
    category = get_category(category_id)
    _require_writer(actor, category.id, allowed)
    status = _clean_status(status)
    if clean_line(slug):
        slug = clean_slug(slug)
        _check_slug_free(slug)
    else:
        slug = _unique_slug(slugify(title))
    tag_rows = forum_services.resolve_tags(actor, tags)
    now = clock.now()
    article = Article(title=title, slug=slug, body=body, body_html=_render(body),
                      category=category, status=status, author=actor, created_at=now, updated_at=now,
                      published_at=now if status == PUBLISHED else None, tags=tag_rows,
                      source_thread_id=source_thread.id if source_thread is not None else None)
    try:
        db.session.add(article)
        db.session.flush()
    except sa.exc.IntegrityError as exc:
        db.session.rollback()
        if source_thread is not None:  # the thread's one article: another writer promoted it just now
            raise Conflict("Someone promoted this thread a moment ago; find it among the drafts.") from exc
        raise Conflict("Another article took that address a moment ago; save again.", field="slug") from exc
    _record_revision(article, actor, note)
    uploads.claim(actor, HOLDER_ARTICLE, article.id, article.body_html)
    search_documents.enqueue(article.id)
    signals.article_saved.send(article, actor=actor,
                               source_thread_id=source_thread.id if source_thread else None)
    _commit("Another article took that address a moment ago; save again.")
    return article


def edit_article(actor: User, article: Article, *, title: str, body: str, category_id=None, tags=None,
                 slug: str | None = None) -> Article:
    """Change an article; a change of title or body adds a revision. An empty `slug` makes a new
    one from the title; None keeps it. Raises Forbidden, Invalid or Conflict."""
    check_can_participate(actor)
    allowed = advocate_category_ids(actor)
    _require_writer(actor, article.category_id, allowed)
    title, body = clean_title(title), clean_body(body)
    category = article.category
    if category_id is not None and str(category_id) != str(article.category_id):
        category = get_category(category_id)
        _require_writer(actor, category.id, allowed)
    new_slug = article.slug
    if slug is not None:
        new_slug = clean_slug(slug) if clean_line(slug) else _unique_slug(slugify(title), article.id)
        if new_slug != article.slug:
            _check_slug_free(new_slug, article.id)
    tag_rows = forum_services.resolve_tags(actor, tags) if tags is not None else None
    text_changed = title != article.title or body != article.body
    changed = text_changed or category.id != article.category_id or new_slug != article.slug
    if tag_rows is not None and [t.name for t in tag_rows] != [t.name for t in article.tags]:
        article.tags = tag_rows
        changed = True
    if not changed:
        return article
    _set_text(article, title, body)
    article.category, article.slug, article.updated_at = category, new_slug, clock.now()
    if text_changed:
        _record_revision(article, actor)
        uploads.claim(actor, HOLDER_ARTICLE, article.id, article.body_html)
    search_documents.enqueue(article.id)
    signals.article_saved.send(article, actor=actor, source_thread_id=article.source_thread_id)
    _commit("Another article took that address a moment ago; choose another.")
    return article


def restore_revision(actor: User, article: Article, revision_id) -> ArticleRevision:
    """Bring back an old version's title and body, as a new revision. Raises Forbidden, Invalid
    (a version of another article), NotFound or Conflict (it is the current text already)."""
    _require_writer(actor, article.category_id, advocate_category_ids(actor))
    old = get_revision(article, revision_id)
    if old.title == article.title and old.body == article.body:
        raise Conflict(f"Version {old.number} is the current text already; there is nothing to restore.")
    _set_text(article, old.title, old.body)
    article.updated_at = clock.now()
    revision = _record_revision(article, actor, note=f"Restored version {old.number}")
    search_documents.enqueue(article.id)
    signals.article_saved.send(article, actor=actor, source_thread_id=article.source_thread_id)
    db.session.commit()
    return revision


def set_status(actor: User, article: Article, status: str) -> Article:
    """Publish, archive, or take back to draft. Raises Forbidden or Invalid."""
    _require_writer(actor, article.category_id, advocate_category_ids(actor))
    status = _clean_status(status)
    if status == article.status:
        return article
    previous, now = article.status, clock.now()
    article.status, article.updated_at = status, now
    if status == PUBLISHED:
        article.published_at = now
    search_documents.enqueue(article.id)  # indexes a published article, removes any other
    signals.article_status_changed.send(article, actor=actor, source_thread_id=article.source_thread_id,
                                        previous=previous)
    db.session.commit()
    return article


def delete_article(actor: User, article: Article) -> None:
    """Delete an article with its history and feedback (staff only). Raises Forbidden."""
    if not can.can_delete_article(actor):
        raise Forbidden("Only staff delete articles; archive it instead.")
    article_id, source_thread_id = article.id, article.source_thread_id
    search_documents.enqueue_removal(article_id)
    db.session.delete(article)
    signals.article_deleted.send(article_id, actor=actor, source_thread_id=source_thread_id)
    db.session.commit()


# --- feedback ---------------------------------------------------------------------------------------------


def give_feedback(actor, article: Article, helpful, comment: str | None = "") -> ArticleFeedback:
    """Record whether a published article helped. A signed-in reader's second answer replaces the
    first; answers from readers who are not signed in are each kept (see ArticleFeedback).
    Raises Invalid (not yes or no, a long comment, an unpublished article)."""
    if not article.is_published:
        raise Invalid("Feedback is for published articles.")
    answer = helpful if isinstance(helpful, bool) else _HELPFUL.get(clean_line(str(helpful)).lower())
    if answer is None:
        raise Invalid("Answer yes or no: was the article helpful?", field="helpful")
    comment = _clean_comment(comment)
    signed_in = bool(getattr(actor, "is_authenticated", False))
    now = clock.now()
    for _attempt in range(2):
        row = None
        if signed_in:
            row = db.session.scalar(sa.select(ArticleFeedback).where(
                ArticleFeedback.article_id == article.id, ArticleFeedback.user_id == actor.id))
        if row is None:
            row = ArticleFeedback(article_id=article.id, user_id=actor.id if signed_in else None,
                                  created_at=now)
            db.session.add(row)
        row.helpful, row.comment, row.updated_at = answer, comment, now
        try:
            db.session.commit()
            return row
        except sa.exc.IntegrityError:  # a double click raced the first answer: update that one
            db.session.rollback()
    raise Conflict("Your answer could not be saved; try again.")


def my_feedback(user, article: Article) -> ArticleFeedback | None:
    """The signed-in reader's own answer, if any."""
    if not getattr(user, "is_authenticated", False):
        return None
    return db.session.scalar(sa.select(ArticleFeedback).where(
        ArticleFeedback.article_id == article.id, ArticleFeedback.user_id == user.id))


@dataclass
class FeedbackSummary:
    helpful: int
    not_helpful: int
    anonymous: int
    comments: list[ArticleFeedback]

    @property
    def total(self) -> int:
        return self.helpful + self.not_helpful


def feedback_summary(actor, article: Article, limit: int = 10) -> FeedbackSummary:
    """Counts and the newest comments, for staff, in two queries. Raises Forbidden."""
    if not can.can_see_feedback(actor):
        raise Forbidden("Only staff see readers' feedback.")
    one = sa.literal(1)
    helpful, unhelpful, anonymous = db.session.execute(
        sa.select(
            sa.func.coalesce(sa.func.sum(sa.case((ArticleFeedback.helpful.is_(True), one), else_=0)), 0),
            sa.func.coalesce(sa.func.sum(sa.case((ArticleFeedback.helpful.is_(False), one), else_=0)), 0),
            sa.func.coalesce(sa.func.sum(sa.case((ArticleFeedback.user_id.is_(None), one), else_=0)), 0),
        ).where(ArticleFeedback.article_id == article.id)
    ).one()
    comments = list(db.session.scalars(
        sa.select(ArticleFeedback).where(ArticleFeedback.article_id == article.id,
                                         ArticleFeedback.comment != "")
        .order_by(ArticleFeedback.updated_at.desc(), ArticleFeedback.id.desc()).limit(limit)
        .options(joinedload(ArticleFeedback.user))
    ))
    return FeedbackSummary(int(helpful), int(unhelpful), int(anonymous), comments)


# --- promotion ------------------------------------------------------------------------------------------


@dataclass
class Promotion:
    """The draft a solved thread would become."""

    thread: Thread
    title: str
    body: str
    tags: list[str]


def promotion_for(actor, thread: Thread) -> Promotion:
    """The draft that promoting `thread` would create: the question and the accepted answer.
    Raises NotFound (deleted), Forbidden, Invalid (not solved, too long) or Conflict (promoted)."""
    if not thread.is_visible:
        raise NotFound("There is no such thread. It may have been deleted.")
    _require_writer(actor, thread.category_id, advocate_category_ids(actor))
    if thread.accepted_post_id is None:
        raise Invalid("Only a solved thread becomes an article: accept the answer that solved it first.")
    existing = db.session.scalar(sa.select(Article).where(Article.source_thread_id == thread.id))
    if existing is not None:
        raise Conflict(f"This thread is already the article “{existing.title}” (/kb/{existing.slug}).")
    question = db.session.scalar(sa.select(Post).where(Post.thread_id == thread.id, Post.kind == QUESTION))
    answer = db.session.get(Post, thread.accepted_post_id)
    if question is None or answer is None or not answer.is_visible:
        raise Invalid("The accepted answer of this thread is not visible any more.")
    body = f"{question.body}\n\n## Answer\n\n{answer.body}"
    if len(body) > BODY_MAX:
        raise Invalid(f"The question and its answer are {len(body):,} characters together, more than an "
                      f"article holds ({BODY_MAX:,}); shorten them first.")
    return Promotion(thread=thread, title=thread.title, body=body, tags=[t.name for t in thread.tags])


def promote_thread(actor: User, thread: Thread) -> Article:
    """Turn a solved thread into a draft article prefilled from the question and the accepted
    answer, linked to the thread. Raises NotFound, Forbidden, Invalid or Conflict."""
    promotion = promotion_for(actor, thread)
    return create_article(actor, thread.category_id, promotion.title, promotion.body, promotion.tags,
                          status=DRAFT, source_thread=thread, note=f"Promoted from thread #{thread.id}")


# --- settings -----------------------------------------------------------------------------------------------


def set_advocate_categories(actor: User, category_ids) -> list[int]:
    """Open exactly these categories to advocates' writing (admins only); returns their ids.
    Raises Forbidden or Invalid (an unknown category)."""
    if not can.can_manage_settings(actor):
        raise Forbidden("Only admins choose where advocates write.")
    wanted = set()
    for raw in category_ids or ():
        try:
            wanted.add(int(raw))
        except (TypeError, ValueError):
            raise Invalid("Choose categories from the list.") from None
    known = set(db.session.scalars(sa.select(Category.id)))
    if wanted - known:
        raise Invalid("Choose categories from the list: one of them does not exist (any more).")
    settings = {s.category_id: s for s in db.session.scalars(sa.select(KbCategorySetting))}
    for category_id in known:
        setting = settings.get(category_id)
        if setting is None and category_id in wanted:
            db.session.add(KbCategorySetting(category_id=category_id, advocates_may_write=True))
        elif setting is not None:
            setting.advocates_may_write = category_id in wanted
    db.session.commit()
    return sorted(wanted)


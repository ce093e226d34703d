"""Knowledge base: articles and their revisions, reader feedback, thread-to-article promotion."""

from flask import Flask, url_for
from flask_login import current_user
from markupsafe import Markup

from core import pagecache, signals

PICKER_TEMPLATE = "kb/_picker.html"


def has_article():
    """forum.hooks.thread_figures["kb_article"]: whether an article was made from the thread, read with
    the thread page's thread so that most thread pages need no query for this notice."""
    import sqlalchemy as sa

    from forum.models import Thread
    from kb.models import Article

    return sa.exists().where(Article.source_thread_id == Thread.id)


def thread_notices(thread) -> list[Markup]:
    """The thread page's notice about its article: a link to the published article for everyone;
    to a draft or archived one for its writers; for writers of a solved thread that is no article
    yet, a link to promote it. One query, none when the thread's figures say it has no article
    and the viewer is staff or no writer."""
    from kb import permissions as can
    from kb import queries
    from kb.models import PUBLISHED

    solved = thread.accepted_post_id is not None and thread.is_visible
    if getattr(thread, "figures", {}).get("kb_article") is False:
        if not solved or can.can_write_in(current_user, thread.category_id, ()):
            return [_promote_link(thread)] if solved else []
        if not can.is_advocate(current_user):
            return []  # whether advocates may write in the category (the query) only matters to them
    found = queries.thread_article(thread)
    if found.slug is not None:
        link = url_for("kb.view_article", slug=found.slug)
        if found.status == PUBLISHED:
            return [Markup('This answer is now a KB article: <a href="{}">{}</a>').format(link, found.title)]
        allowed = {found.article_category_id} if found.advocates_in_article_category else set()
        if can.can_write_in(current_user, found.article_category_id, allowed):
            return [Markup('An article made from this thread is not published ({}): <a href="{}">{}</a>')
                    .format(found.status, link, found.title)]
        return []
    allowed = {thread.category_id} if found.advocates_in_thread_category else set()
    if solved and can.can_write_in(current_user, thread.category_id, allowed):
        return [_promote_link(thread)]
    return []


def _promote_link(thread) -> Markup:
    link = url_for("kb.promote_thread", thread_id=thread.id)
    return Markup('This thread is solved. <a href="{}">Promote it to a knowledge-base article</a>').format(
        link)


def articles_in(category) -> str | None:
    """forum.hooks.category_uses: a category holding articles cannot be deleted."""
    import sqlalchemy as sa

    from core.extensions import db
    from kb.models import Article

    count = db.session.scalar(sa.select(sa.func.count()).select_from(Article)
                              .where(Article.category_id == category.id))
    if not count:
        return None
    return f"holds {count} knowledge-base {'article' if count == 1 else 'articles'}"


def _refresh_cached_thread_pages(_sender, source_thread_id=None, **_extra) -> None:
    """A promoted article's notice is on its thread's page, which anonymous visitors may get from
    the page cache: drop the cached pages when such an article changes."""
    if source_thread_id is not None:
        pagecache.bump_version()


def init_app(app: Flask) -> None:
    from forum import demo as forum_demo
    from forum import hooks
    from kb import demo, search_documents
    from kb.views import bp

    app.register_blueprint(bp)
    from core import markup
    from kb.models import Article

    markup.register_stored("kb_articles", Article)
    # Module-level lists, and create_app may run more than once in a process: add each once.
    from kb.models import HOLDER_ARTICLE
    from kb.services import article_shown, attach_to_article

    hooks.upload_places[HOLDER_ARTICLE] = attach_to_article
    hooks.upload_holders[HOLDER_ARTICLE] = article_shown
    if thread_notices not in hooks.thread_notices:
        hooks.thread_notices.append(thread_notices)
    hooks.thread_figures["kb_article"] = has_article
    if articles_in not in hooks.category_uses:
        hooks.category_uses.append(articles_in)
    if PICKER_TEMPLATE not in hooks.reply_tools:
        hooks.reply_tools.append(PICKER_TEMPLATE)
    if demo.load_with_community not in forum_demo.EXTENSIONS:
        forum_demo.EXTENSIONS.append(demo.load_with_community)
    for event in (signals.article_saved, signals.article_status_changed, signals.article_deleted):
        event.connect(_refresh_cached_thread_pages, weak=False)
    search_documents.init_app()

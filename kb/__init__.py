"""Knowledge base: articles and their revisions, reader feedback, thread-to-article promotion."""

from flask import Flask, url_for
from flask_login import current_user
from markupsafe import Markup

from core import pagecache, signals

PICKER_TEMPLATE = "kb/_picker.html"


def thread_notices(thread) -> list[Markup]:
    """The thread page's notice about its article (one query): a link to the published article for
    everyone; to a draft or archived one for its writers; for writers of a solved thread that is no
    article yet, a link to promote it."""
    from kb import permissions as can
    from kb import queries
    from kb.models import PUBLISHED

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
    if (thread.accepted_post_id is not None and thread.is_visible
            and can.can_write_in(current_user, thread.category_id, allowed)):
        link = url_for("kb.promote_thread", thread_id=thread.id)
        return [Markup('This thread is solved. <a href="{}">Promote it to a knowledge-base article</a>')
                .format(link)]
    return []


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
    if articles_in not in hooks.category_uses:
        hooks.category_uses.append(articles_in)
    if PICKER_TEMPLATE not in hooks.reply_tools:
        hooks.reply_tools.append(PICKER_TEMPLATE)
    if demo.load_with_community not in forum_demo.EXTENSIONS:
        forum_demo.EXTENSIONS.append(demo.load_with_community)
    for event in (signals.article_saved, signals.article_status_changed, signals.article_deleted):
        event.connect(_refresh_cached_thread_pages, weak=False)
    search_documents.init_app()

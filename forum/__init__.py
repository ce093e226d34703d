"""Categories, threads, posts, votes, accepted answers, tags, subscriptions, notifications."""

from flask import Flask, render_template
from markupsafe import Markup

from core import pagecache, signals


def _profile_section(user, **_extra):
    from flask import request
    from flask_login import current_user

    from core.paging import requested_page
    from forum import queries

    answers, accepted, per_tag = queries.answer_record(user)
    tab = request.args.get("tab")
    tab = tab if tab in queries.PROFILE_TABS else "questions"
    posts = queries.profile_posts(user, current_user, tab, page=requested_page())
    html = render_template("forum/_profile_section.html", answers=answers, accepted=accepted,
                           per_tag=per_tag, reputation=queries.reputation_for([user.id])[user.id],
                           user=user, tab=tab, tabs=queries.PROFILE_TABS, posts=posts)
    return Markup(html)  # noqa: S704 - an autoescaped template, not user text


def init_app(app: Flask) -> None:
    from forum import rendering, search_documents, upload_views  # upload_views' routes join the blueprint
    from forum.cli import demo_cli, history_cli, import_cli
    from forum.views import bp

    app.register_blueprint(bp)
    from accounts import services as account_services
    from forum import follows, notices

    account_services.register_session_figure(notices.UNREAD_FIGURE, notices.unread_figure)
    account_services.register_session_figure(follows.FOLLOWS_FIGURE, follows.followed_figure)
    app.before_request_funcs.setdefault(None, []).insert(0, upload_views.allow_large_upload)
    app.jinja_env.globals.update(thread_row=rendering.thread_row, post_block=rendering.post_block,
                                  post_blocks=rendering.post_blocks,
                                  reply_box=rendering.reply_box, staff_tools=rendering.staff_tools)
    import sqlalchemy as sa

    from core import markup
    from forum.models import Post

    # An imported post keeps the HTML it came with (sanitised) until someone edits it.
    markup.register_stored("posts", Post, rendered=sa.or_(Post.import_source.is_(None),
                                                           Post.edited_at.is_not(None)))
    app.cli.add_command(demo_cli)
    app.cli.add_command(import_cli)
    app.cli.add_command(history_cli)
    signals.profile_sections.connect(_profile_section, weak=False)
    from accounts.settings_pages import add_settings_page

    add_settings_page("forum.notification_settings", "Notifications")
    for event in (*signals.THREAD_CHANGES, signals.categories_changed):
        event.connect(pagecache.bump_version, weak=False)
    search_documents.init_app()

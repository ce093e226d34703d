"""Categories, threads, posts, votes, accepted answers, tags, subscriptions, notifications."""

from flask import Flask, render_template
from markupsafe import Markup

from core import pagecache, signals


def _profile_section(user, **_extra):
    from forum import queries

    answers, accepted, per_tag = queries.answer_record(user)
    html = render_template("forum/_profile_section.html", answers=answers, accepted=accepted,
                           per_tag=per_tag, reputation=queries.reputation_for([user.id])[user.id])
    return Markup(html)  # noqa: S704 - an autoescaped template, not user text


def init_app(app: Flask) -> None:
    from forum import rendering, search_documents
    from forum.cli import demo_cli, history_cli, import_cli
    from forum.views import bp

    app.register_blueprint(bp)
    app.jinja_env.globals.update(thread_row=rendering.thread_row, post_block=rendering.post_block)
    app.cli.add_command(demo_cli)
    app.cli.add_command(import_cli)
    app.cli.add_command(history_cli)
    signals.profile_sections.connect(_profile_section, weak=False)
    for event in (*signals.THREAD_CHANGES, signals.categories_changed):
        event.connect(pagecache.bump_version, weak=False)
    search_documents.init_app()

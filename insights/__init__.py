"""Insights: the metric definitions of METRICS.md computed in SQL, the roll-up jobs that store them
as snapshots per day and week, the staff dashboard and its exports, the weekly summary mail, the
askers' satisfaction ratings and the advocate leaderboard."""

from flask import Flask


def init_app(app: Flask) -> None:
    from insights import (
        models,  # noqa: F401  (the tables, for migrations)
        satisfaction,
        views,
    )
    from insights.cli import insights_cli

    app.register_blueprint(views.bp)
    app.cli.add_command(insights_cli)
    satisfaction.init_app()
    # Module-level registries, and create_app may run more than once in a process: add each once.
    from forum import demo as forum_demo
    from forum import hooks, notices
    from insights import demo

    if satisfaction.NOTICE_KIND.name not in notices.KINDS:
        notices.register_kind(satisfaction.NOTICE_KIND)
    if satisfaction.thread_notices not in hooks.thread_notices:
        hooks.thread_notices.append(satisfaction.thread_notices)
    for extension in (demo.load_with_community, demo.roll_up_with_community):
        if extension not in forum_demo.EXTENSIONS:
            forum_demo.EXTENSIONS.append(extension)

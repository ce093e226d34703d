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

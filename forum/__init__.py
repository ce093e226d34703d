"""Categories, threads, posts, votes, accepted answers, tags, subscriptions, notifications."""

from flask import Flask


def init_app(app: Flask) -> None:
    from forum.views import bp

    app.register_blueprint(bp)

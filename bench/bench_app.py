"""The app the forum benchmark serves: Peerline from the environment plus a one-query baseline route.

    gunicorn 'bench.bench_app:create()'   (from the repository root)

DATABASE_URL should point at the generated community (bench/generate.py); unset, it defaults to the
benchmark's SQLite file. The periodic-job ticker is off unless PEERLINE_TICKER says otherwise, so
nothing but the measured requests touches the database. Only for benchmarks: the app never imports it.
"""

import os

from flask import Flask, abort

from accounts.models import User
from accounts.permissions import public
from app import create_app
from bench.generate import DEFAULT_DATABASE_URL
from core.extensions import db

BASELINE_RULE = "/bench/baseline/<int:user_id>"


def create() -> Flask:
    """`app.create_app()` with `/bench/baseline/<user_id>`: one primary-key query, a tiny text reply."""
    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    os.environ.setdefault("PEERLINE_TICKER", "0")
    application = create_app()

    @public
    def bench_baseline(user_id: int):
        user = db.session.get(User, user_id)
        if user is None:
            abort(404)
        return f"user {user.id}\n", 200, {"Content-Type": "text/plain; charset=utf-8"}

    application.add_url_rule(BASELINE_RULE, view_func=bench_baseline)
    return application

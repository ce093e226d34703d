"""create_app(): config, extensions, blueprints, signal wiring, CLI and the cron table."""

import gc
import logging
from pathlib import Path

from flask import Flask, abort, g, render_template, request
from flask_wtf.csrf import CSRFError
from markupsafe import escape
from werkzeug.exceptions import HTTPException

import accounts
import escalation
import forum
import insights
import kb
import moderation
import search
from accounts import jobs as account_jobs
from core import config as core_config
from core import jobs, mail, ratelimit, security, sessions, templating
from core.errors import DomainError
from core.extensions import (
    configure_postgresql,
    configure_sqlite,
    csrf,
    csrf_token,
    db,
    end_page_view,
    login_manager,
    migrate,
)
from core.ids import IdConverter
from core.jobs.cli import jobs_cli
from core.markup_cli import markup_cli
from escalation import jobs as escalation_jobs
from forum import jobs as forum_jobs
from insights import jobs as insights_jobs
from kb import jobs as kb_jobs
from moderation import jobs as moderation_jobs
from search import jobs as search_jobs

# The cron table: every periodic job, once, with a stable id. `flask jobs cron`
# (RQ's cron scheduler) and the in-process ticker both read it.
CRON_TABLE = (
    jobs.Periodic("core.relay-outbox", jobs.relay_outbox, every=60),
    jobs.Periodic("accounts.purge-reset-tokens", account_jobs.purge_reset_tokens, every=6 * 3600),
    jobs.Periodic("accounts.purge-sessions", account_jobs.purge_sessions, every=6 * 3600),
    jobs.Periodic("forum.flush-view-counts", forum_jobs.flush_view_counts, every=60),
    jobs.Periodic("forum.remind-askers", forum_jobs.remind_askers, every=3600),
    jobs.Periodic("forum.send-digests", forum_jobs.send_digests, every=24 * 3600, queue="mail"),
    jobs.Periodic("forum.close-abandoned-threads", forum_jobs.close_abandoned_threads, every=3600),
    jobs.Periodic("forum.remove-unposted-uploads", forum_jobs.remove_unposted_uploads, every=3600),
    jobs.Periodic("forum.recompute-reputation", forum_jobs.recompute_reputation, every=6 * 3600),
    jobs.Periodic("kb.flush-view-counts", kb_jobs.flush_view_counts, every=60),
    jobs.Periodic("search.reconcile-index", search_jobs.reconcile_index, every=900, queue="search"),
    jobs.Periodic("escalation.sweep", escalation_jobs.sweep, every=60),
    jobs.Periodic("escalation.check-deadlines", escalation_jobs.check_deadlines, every=60),
    jobs.Periodic("insights.roll-up-today", insights_jobs.roll_up_today, every=300),
    jobs.Periodic("insights.roll-up-closed-periods", insights_jobs.roll_up_closed_periods, every=3600),
    jobs.Periodic("insights.weekly-summary", insights_jobs.send_weekly_summary, every=3600),
    jobs.Periodic("moderation.update-trust", moderation_jobs.update_trust, every=600),
)

ERROR_TEXT = {
    400: ("Bad request", "Something in that request did not make sense to us."),
    403: ("Not allowed", "You do not have permission to see or do that."),
    404: ("Page not found", "There is nothing here. It may have moved or been deleted."),
    405: ("Not allowed", "That page does not accept this kind of request."),
    413: ("Too large", "That upload or form is larger than we accept."),
    429: ("Slow down", "Too many requests. Wait a little and try again."),
    500: ("Something went wrong", "An error on our side stopped this page. It has been logged; "
          "try again in a moment."),
}


def _refuse_nul_in_urls(_endpoint, values) -> None:
    """A NUL in a URL part (`/kb/%00`) names nothing; PostgreSQL would refuse it with an error."""
    if values and any(isinstance(v, str) and "\x00" in v for v in values.values()):
        abort(404)


def create_app(config: dict | None = None) -> Flask:
    """Build the Peerline app; `config` overrides what the environment says."""
    app = Flask(__name__, instance_relative_config=True)
    app.url_map.converters["int"] = IdConverter  # before any route is added
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.from_mapping(core_config.from_environment(Path(app.instance_path)))
    if config:
        app.config.update(config)
        _follow_overrides(app, config)

    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            configure_sqlite(db.engine)
        elif db.engine.dialect.name == "postgresql" and app.config["PEERLINE_PG_GENERIC_PLANS"]:
            configure_postgresql(db.engine)
    migrate.init_app(app, db, directory=str(Path(__file__).parent / "migrations"),
                     render_as_batch=True, compare_type=True)
    login_manager.init_app(app)
    csrf.init_app(app)
    app.jinja_env.globals["csrf_token"] = csrf_token
    ratelimit.init_app(app)
    security.init_app(app)
    sessions.init_app(app)
    mail.init_app(app)
    jobs.init_app(app, CRON_TABLE)

    accounts.init_app(app)
    search.init_app(app)
    forum.init_app(app)
    kb.init_app(app)
    escalation.init_app(app)
    moderation.init_app(app)
    insights.init_app(app)

    app.cli.add_command(jobs_cli)
    app.cli.add_command(markup_cli)
    app.url_value_preprocessor(_refuse_nul_in_urls)
    app.teardown_request(end_page_view)
    _register_error_pages(app)
    templating.init_app(app)
    if not app.debug and not app.testing:
        logging.basicConfig(level=logging.INFO)
    if not app.testing:
        # What is built by now (modules, mappers, routes, templates' environment) lives as long as
        # the process: kept out of the collector's full passes, one costs ~8 ms instead of ~90 ms
        # over ~240,000 objects, which had been the staff dashboard's p99 (bench/insights_rollup.py).
        gc.collect()
        gc.freeze()
    return app


def _follow_overrides(app: Flask, config: dict) -> None:
    # Settings derived from others in core.config must follow an override of their source.
    if "PEERLINE_HTTPS" in config:
        for key in ("SESSION_COOKIE_SECURE", "REMEMBER_COOKIE_SECURE"):
            if key not in config:
                app.config[key] = config["PEERLINE_HTTPS"]


PLAIN_ERROR_PAGE = ("<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>{title}</title>"
                    "<h1>{title}</h1><p>{message}</p><p><a href=\"/\">Back to the home page</a></p></html>")
log = logging.getLogger(__name__)


def _fresh_session() -> None:
    """Start the error page on a clean slate, whatever state the failure left the session in (a
    failure inside a commit leaves it 'committed', where every query raises): the person is
    loaded again through a new session on first use."""
    try:
        db.session.remove()
    except Exception:  # a connection that broke mid-statement cannot even roll back
        log.warning("could not close the failed request's session", exc_info=True)
    g.pop("_login_user", None)


def _register_error_pages(app: Flask) -> None:
    def render_error(code: int, message: str | None = None):
        title, default = ERROR_TEXT.get(code, ERROR_TEXT[500])
        try:
            return render_template("errors/error.html", code=code, title=title,
                                   message=message or default), code
        except Exception:  # the page must say something, even when the database is gone
            log.exception("the %s error page failed; sending a plain one", code)
            return PLAIN_ERROR_PAGE.format(title=escape(title), message=escape(message or default)), code

    @app.errorhandler(CSRFError)
    def _csrf(error):
        hours = max(round((app.config.get("WTF_CSRF_TIME_LIMIT") or 0) / 3600), 1)
        return render_error(400, f"This form has expired (a form works for {hours} hours) or was sent "
                                 "from another site. Go back, copy anything you wrote, reload the page "
                                 "and send it again.")

    @app.errorhandler(DomainError)
    def _domain(error):
        return render_error(error.status_code, error.message)

    @app.errorhandler(HTTPException)
    def _http(error):
        if request.path.startswith("/static/"):
            return error
        message = error.description if error.code == 429 else None
        return render_error(error.code or 500, message)

    @app.errorhandler(500)
    def _server_error(error):
        _fresh_session()
        return render_error(500)

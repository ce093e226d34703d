"""The Flask extensions every package shares: database, migrations, login, CSRF."""

import logging
import re
import threading
import time
from collections import OrderedDict

import sqlalchemy as sa
from flask import current_app, g, has_request_context, request, session
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from flask_wtf.csrf import generate_csrf
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session

# Named constraints, so that Alembic can alter them on SQLite and PostgreSQL alike.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


log = logging.getLogger(__name__)
db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_token() -> str:
    """The viewer's anti-forgery token: what flask_wtf's generate_csrf gives (it signs the token
    once a request and keeps it), kept here too so that later calls skip its configuration look-ups.
    A staff member's thread page asks for it once per form, some thirty times. The templates'
    `csrf_token()`."""
    token = g.get("_peerline_csrf_token")
    if token is None:
        token = g._peerline_csrf_token = _recent_csrf_token()
    return token


CSRF_REUSE_SECONDS = 60
_CSRF_REMEMBERED = 5000


def _recent_csrf_token() -> str:
    """generate_csrf(), reusing the token it signed for this session's secret less than a minute
    ago: signing (a key derivation and an HMAC over the secret and the time) was some 40
    microseconds of every signed-in page. A reused token is at most a minute older, so it expires
    at most a minute sooner (WTF_CSRF_TIME_LIMIT is hours; a tenth of a shorter limit is reused)."""
    config = current_app.config
    field = config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    if field in g:  # flask_wtf signed one for this request already
        return generate_csrf()
    limit = config.get("WTF_CSRF_TIME_LIMIT")
    reuse = min(CSRF_REUSE_SECONDS, limit / 10) if limit else CSRF_REUSE_SECONDS
    store = current_app.extensions.get("peerline_csrf")
    if store is None:
        store = current_app.extensions.setdefault("peerline_csrf", (threading.Lock(), OrderedDict()))
    lock, signed = store
    now = time.monotonic()
    secret = session.get(field)
    if isinstance(secret, str):
        with lock:
            hit = signed.get(secret)
        if hit is not None and now - hit[0] < reuse:
            setattr(g, field, hit[1])  # flask_wtf's own forms take this one too
            return hit[1]
    token = generate_csrf()
    secret = session.get(field)  # made by generate_csrf for a session that had none
    if not isinstance(secret, str):
        return token
    with lock:
        signed[secret] = (now, token)
        signed.move_to_end(secret)
        while len(signed) > _CSRF_REMEMBERED:
            signed.popitem(last=False)
    return token


def _sqlite_begin_mode() -> str:
    """IMMEDIATE for anything that may write, DEFERRED for page views.

    A deferred transaction that reads and then writes fails at once with
    SQLITE_BUSY when another writer committed in between (busy_timeout does not
    help there), so writers take the write lock up front. Page views stay
    deferred so that readers never queue behind the write lock.
    """
    if has_request_context() and request.method in SAFE_METHODS:
        return "DEFERRED"
    return "IMMEDIATE"


def configure_sqlite(engine: Engine, busy_timeout_ms: int = 10_000) -> None:
    """WAL, a busy timeout, foreign keys, and write transactions begun immediately."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own is DEFERRED).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        connection.exec_driver_sql(f"BEGIN {_sqlite_begin_mode()}")


def configure_postgresql(engine: Engine) -> None:
    """Generic plans for prepared statements. psycopg prepares a statement once a connection has run
    it five times: the pages' own statements, whose values (ids, a page's limit) change but whose
    best plan does not. PostgreSQL's default re-plans such a statement for its values each time
    when it expects that to pay, and for a list page's query planning took 0.4 ms of its 0.9 ms.
    Statements run fewer times (most of the jobs') are planned for their values as before."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        try:
            dbapi_connection.execute("SET plan_cache_mode = force_generic_plan")
        finally:
            dbapi_connection.autocommit = autocommit


def end_transaction() -> None:
    """End the session's transaction before slow work (password hashing, say).

    Outside page views a SQLite transaction holds the write lock from its first
    query, so 100 ms of scrypt inside it would stall every other writer.
    Loaded objects are expired and reload on next use.
    """
    db.session.rollback()


def read(statement, params: dict | None = None):
    """Run a read-only Core statement on the session's connection and return its result.

    It shares the session's transaction but skips the ORM's per-statement work, which is most of
    a small query's cost: for statements built once (with bindparams) on the busiest pages.
    """
    return db.session.connection().execute(statement, params or {})


_CONSTANT = re.compile(r"[a-z_]{1,40}")


def constant(value: str) -> sa.ColumnElement:
    """`value` written into the statement's text instead of bound as a parameter, for a state compared
    with a column that a partial index filters on (`escalations.state = 'open'`). SQLite prepares a
    statement again on every run when a bound value could decide whether such an index applies:
    for a thread page's thread query that made 0.15 ms of a run that otherwise takes 0.04 ms.
    Only plain lowercase words are accepted, so nothing can be written into SQL this way."""
    if not _CONSTANT.fullmatch(value):
        raise ValueError(f"not a state name: {value!r}")
    return sa.literal_column(f"'{value}'", sa.String)


def joined_strings(expression, separator: str) -> sa.ColumnElement:
    """`aggregate_strings(expression, separator)` (group_concat, string_agg) with the separator written
    into the statement: SQLAlchemy would make it a parameter it writes in at every run, which
    reprocesses the statement's whole text each time (a tenth of a millisecond on a thread page's
    one query)."""
    if "'" in separator:
        raise ValueError("a separator cannot hold a quote")
    return sa.func.aggregate_strings(expression, sa.literal_column(f"'{separator}'", sa.String))


_WROTE = "peerline_wrote"
_AFTER_COMMIT = "peerline_after_commit"


def after_commit(callback) -> None:
    """Call `callback()` once the session's transaction commits (now, when none is open); never
    when it rolls back. For what must not run before the change is visible (cache invalidation:
    a reader in between would cache the old page under the new version). The callback must not
    use the database: the committing session still holds its connection then."""
    session = db.session()
    if not session.in_transaction():
        callback()
        return
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session) -> None:
    for callback in session.info.pop(_AFTER_COMMIT, ()):
        try:
            callback()
        except Exception:  # the change is saved; a failed follow-up must not turn it into an error
            log.exception("an after-commit callback failed")


def rolled_back_whole(previous_transaction) -> bool:
    """For after_soft_rollback listeners: whether the whole transaction rolled back, not a savepoint
    inside it (whose rollback leaves the outer transaction's work, and its follow-ups, to commit)."""
    return previous_transaction.parent is None and not previous_transaction.nested


@event.listens_for(Session, "after_soft_rollback")
def _drop_after_commit(session, previous_transaction) -> None:
    if rolled_back_whole(previous_transaction):
        session.info.pop(_AFTER_COMMIT, None)


@event.listens_for(Session, "after_flush")
def _note_flush(session, _context) -> None:
    session.info[_WROTE] = True


@event.listens_for(Session, "do_orm_execute")
def _note_write(state) -> None:
    if not state.is_select:
        state.session.info[_WROTE] = True


@event.listens_for(Session, "after_commit")
def _forget_writes(session) -> None:
    session.info.pop(_WROTE, None)


@event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back_writes(session, previous_transaction) -> None:
    if rolled_back_whole(previous_transaction):
        session.info.pop(_WROTE, None)


def end_page_view(exc: BaseException | None = None) -> None:
    """teardown_request: end a page view's read-only transaction with COMMIT, not the ROLLBACK that
    closing the session would send.

    To the database the two are the same when nothing was written. But psycopg forgets its prepared
    statements on every rollback, so PostgreSQL would parse and plan each query of every page
    again: two thirds of a small query's time. Anything that wrote, failed, or was not a GET/HEAD is
    left to the rollback.
    """
    if exc is not None or request.method not in SAFE_METHODS:
        return
    session = db.session()
    if (not session.in_transaction() or session.new or session.dirty or session.deleted
            or session.info.get(_WROTE)):
        return
    try:
        session.commit()
    except Exception:  # the connection broke: closing the session cleans up
        session.rollback()


class AppendOnly(RuntimeError):
    """Someone tried to change or delete a row of an append-only table (history, audit log)."""


def _refuse_change(_mapper, _connection, target) -> None:
    raise AppendOnly(f"{type(target).__name__} rows are never changed or deleted.")


def append_only(model) -> None:
    """Refuse, through the ORM, any update or delete of `model`'s rows: they are appended, never edited."""
    for name in ("before_update", "before_delete"):
        if not event.contains(model, name, _refuse_change):
            event.listen(model, name, _refuse_change)

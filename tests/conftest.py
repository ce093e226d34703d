"""Fixtures: the app on SQLite and on PostgreSQL, a client, a CLI runner and an auth helper."""

import os
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import has_app_context
from flask.testing import FlaskClient
from jinja2 import BytecodeCache
from werkzeug.routing import Rule

from app import create_app
from core import clock, jobs
from core.extensions import db
from tests import factories
from tests.services import POSTGRES_URL, REDIS_URL, postgres_available, redis_available, require

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def postgres_schema():
    """A private schema in the test database for this run, dropped at the end."""
    require(postgres_available(), f"PostgreSQL is not reachable at {POSTGRES_URL}")
    schema = f"peerline_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    engine = sa.create_engine(POSTGRES_URL)
    with engine.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    yield schema
    with engine.begin() as connection:
        connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def postgres_url_for(schema: str) -> str:
    """The test database, working in `schema`. Commits do not wait for the write-ahead log to reach
    the disk (synchronous_commit=off): what other connections see is the same, only a crash of the
    server could lose the last commits, and the tests never read those back after one."""
    separator = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}%20-csynchronous_commit%3Doff"


def base_config(tmp_path) -> dict:
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "WTF_CSRF_ENABLED": False,
        "PEERLINE_TICKER": False,
        "PEERLINE_PAGE_CACHE_SECONDS": 0,  # on only in the tests about it
        "REDIS_URL": None,
        "MAIL_SERVER": None,
        "MAIL_OUTBOX_DIR": str(tmp_path / "mail"),
        "SEARCH_INDEX_DIR": str(tmp_path / "search-index"),
        "UPLOADS_DIR": str(tmp_path / "uploads"),
        "PEERLINE_BASE_URL": "http://peerline.test",
        "SERVER_NAME": None,
    }


# PostgreSQL: the statement that empties this run's schema, once its tables exist.
_emptying: dict[str, str] = {}


def database_url(request, backend: str, tmp_path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'peerline.sqlite3'}"
    schema = request.getfixturevalue("postgres_schema")
    return postgres_url_for(schema)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """Where the empty SQLite database every test copies is made, once a session (a copy takes a
    millisecond; creating the tables takes a hundred times that)."""
    return tmp_path_factory.mktemp("sqlite-template") / "empty.sqlite3"


def copy_empty_sqlite(template: Path, url: str) -> bool:
    """Before an app opens its SQLite file: put a copy of the empty database there, unless the
    file exists (a second app of the same test shares the first one's). Whether it copied."""
    path = Path(url.removeprefix("sqlite:///"))
    if not template.exists() or path.exists():
        return False
    shutil.copyfile(template, path)
    return True


def reset_database(app, backend: str, template: Path) -> None:
    """Empty tables. SQLite: a copy of an empty database that create_all made once (the first
    test makes it). PostgreSQL: the tables are created once a run, then emptied by DELETE, children
    first, with their sequences restarted (TRUNCATE of every table took 0.5 to 1 s a test; DELETE of
    the few rows a test leaves takes milliseconds)."""
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    with app.app_context():
        if backend == "sqlite":
            db.create_all()
            if not template.exists():
                engine = sa.create_engine(f"sqlite:///{template}")
                db.metadata.create_all(engine)
                engine.dispose()
            return
        if url not in _emptying:
            db.create_all()
            sequences = db.session.scalars(sa.text(
                "SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema()")).all()
            db.session.commit()
            tables = list(reversed(db.metadata.sorted_tables))
            _emptying[url] = "; ".join(
                [f'DELETE FROM "{table.name}"' for table in tables]
                + [f'ALTER SEQUENCE "{name}" RESTART' for name in sequences])
            return
        try:
            with db.engine.begin() as connection:
                connection.exec_driver_sql(_emptying[url])
        except sa.exc.IntegrityError:  # foreign keys in a cycle that DELETE cannot untie
            names = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
            with db.engine.begin() as connection:
                connection.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")


class SharedTemplateCache(BytecodeCache):
    """Compiled templates shared by every app of the run: each test's new app would otherwise parse
    and compile again every template it renders (about 0.1 s of CPU a test). Jinja checks each
    template's source against the checksum stored with its code, so an edited one is compiled anew."""

    def __init__(self):
        self.codes: dict[str, bytes] = {}
        self.lock = threading.Lock()

    def load_bytecode(self, bucket) -> None:
        code = self.codes.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket) -> None:
        with self.lock:
            self.codes[bucket.key] = bucket.bytecode_to_string()


TEMPLATE_CACHE = SharedTemplateCache()


def share_url_builders() -> None:
    """Every test builds a new app, and Werkzeug compiles a URL-building function for each of its
    300-odd routes (ast, then compile(): 0.05 s of CPU an app, most of create_app). The function
    depends only on the rule's text, parts and defaults, so apps of the same code can share it."""
    compile_builder = getattr(Rule, "_compile_builder", None)
    if compile_builder is None or getattr(compile_builder, "shared", False):
        return  # another Werkzeug: keep its own
    builders: dict[tuple, object] = {}
    lock = threading.Lock()

    def shared_builder(self, append_unknown: bool = True):
        key = (self.rule, tuple(self._trace), repr(sorted((self.defaults or {}).items())), append_unknown)
        builder = builders.get(key)
        if builder is None:
            builder = compile_builder(self, append_unknown)
            with lock:
                builders[key] = builder
        return builder

    shared_builder.shared = True
    Rule._compile_builder = shared_builder


share_url_builders()


@pytest.fixture
def make_app(request, tmp_path):
    """Build an app on a given backend with extra config; each test gets empty tables.

    Jobs run without Redis are held in the outbox until the test calls `jobs.wait_idle()`, which
    runs them (and the jobs they enqueue) through the real in-process runners. Tests about jobs,
    marked `live_jobs`, have them run as soon as they are committed, as in production.
    """
    apps = []
    live_jobs = request.node.get_closest_marker("live_jobs") is not None

    def build(backend: str = "sqlite", **overrides):
        config = base_config(tmp_path)
        config["PEERLINE_JOBS_HELD"] = not live_jobs
        config["SQLALCHEMY_DATABASE_URI"] = database_url(request, backend, tmp_path)
        config.update(overrides)
        template = request.getfixturevalue("sqlite_template")
        copied = backend == "sqlite" and copy_empty_sqlite(template, config["SQLALCHEMY_DATABASE_URI"])
        app = create_app(config)
        app.jinja_env.bytecode_cache = TEMPLATE_CACHE
        app.test_client_class = FreshContextClient
        app.config["PEERLINE_TEST_BACKEND"] = backend
        if not copied:
            reset_database(app, backend, template)
        apps.append(app)
        return app

    yield build
    for app in apps:
        with app.app_context():
            held = jobs.dispatcher(app).held
            if held is not None:
                held.clear()  # jobs the test never asked for stay unrun, `pending` in its outbox
            jobs.wait_idle(app=app)
            db.session.remove()
            db.engine.dispose()


@pytest.fixture(autouse=True)
def factory_password_hashing(request):
    """Factories reuse one precomputed hash of the test password, but hash for real in tests
    marked `password_hashing` (the tests about passwords and signing in)."""
    factories.hash_passwords = request.node.get_closest_marker("password_hashing") is not None
    yield
    factories.hash_passwords = False


@pytest.fixture(autouse=True)
def real_clock():
    """A test that moves the clock leaves the real time behind it."""
    yield
    clock.reset()


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture
def app(make_app, backend):
    app = make_app(backend)
    with app.app_context():
        yield app


class FreshContextClient(FlaskClient):
    """Each request in its own app context, as in production: its own `g`, session and user.

    Without this, Flask reuses the test's app context for every request, so the
    signed-in user cached in `g` and the session's identity map would leak
    between requests and hide bugs (a session that should have ended, say).
    """

    def open(self, *args, **kwargs):
        if has_app_context():
            db.session.commit()  # end the test's own transaction so it holds no lock
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture
def redis_app(make_app, backend):
    """An app whose jobs go through RQ on a Redis database of its own, emptied around the test."""
    from redis import Redis

    require(redis_available(), f"Redis is not reachable at {REDIS_URL}")
    redis = Redis.from_url(REDIS_URL)
    redis.flushdb()
    app = make_app(backend, REDIS_URL=REDIS_URL)
    with app.app_context():
        yield app
    redis.flushdb()


def worker_env(app, **extra: str) -> dict:
    """The environment of a worker process on the app's database, Redis, folders and key."""
    env = {
        **os.environ,
        "FLASK_APP": "app",
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": app.config["REDIS_URL"],
        "SECRET_KEY": app.config["SECRET_KEY"],
        "MAIL_OUTBOX_DIR": app.config["MAIL_OUTBOX_DIR"],
        "SEARCH_INDEX_DIR": app.config["SEARCH_INDEX_DIR"],
        "UPLOADS_DIR": app.config["UPLOADS_DIR"],
        "PEERLINE_BASE_URL": app.config["PEERLINE_BASE_URL"],
        **extra,
    }
    env.pop("MAIL_SERVER", None)
    return env


def run_worker(app, *queues: str) -> subprocess.CompletedProcess:
    """A real `flask jobs worker --burst` in its own process, on the app's database and Redis."""
    env = worker_env(app)
    db.session.commit()  # end the test's transaction: on SQLite it would hold the write lock
    args = [sys.executable, "-m", "flask", "jobs", "worker", "--burst"]
    for queue in queues:
        args += ["--queue", queue]
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(args, cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


class WorkerProcess:
    """A real `flask jobs worker` in its own process that stays up, as in production: the test hands
    it work with `drain()` as often as it likes and pays for starting Python and the app once."""

    def __init__(self, app, *queues: str):
        self.app, self.queues = app, queues or ("default",)
        db.session.commit()
        args = [sys.executable, "-m", "flask", "jobs", "worker"]
        for queue in self.queues:
            args += ["--queue", queue]
        self.process = subprocess.Popen(args, cwd=Path(__file__).resolve().parents[1], env=worker_env(app),
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                        start_new_session=True)

    def drain(self, timeout: float = 60) -> None:
        """Commit the test's work and wait until the worker has run every job on its queues."""
        unfinished = sa.select(sa.func.count()).select_from(jobs.JobRecord).where(
            jobs.JobRecord.queue.in_(self.queues),
            jobs.JobRecord.status.in_((jobs.PENDING, jobs.QUEUED, jobs.RUNNING)))
        deadline = time.monotonic() + timeout
        db.session.commit()  # on SQLite the test's transaction would hold the write lock
        while db.session.scalar(unfinished):
            db.session.commit()  # a fresh snapshot for the next look
            assert self.process.poll() is None, f"the worker stopped: {self.process.stderr.read()[-3000:]}"
            assert time.monotonic() < deadline, "the worker did not finish its jobs in time"
            time.sleep(0.05)
        db.session.commit()
        db.session.expire_all()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.process.stderr.close()


@pytest.fixture
def start_worker():
    """start_worker(app, *queues) -> a WorkerProcess, stopped at the end of the test."""
    started = []

    def start(app, *queues: str) -> WorkerProcess:
        started.append(WorkerProcess(app, *queues))
        return started[-1]

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


class AuthActions:
    """Sign in and out through the real forms, as a browser would."""

    def __init__(self, client):
        self.client = client

    def sign_in(self, login, password=factories.PASSWORD, follow=False):
        return self.client.post("/signin", data={"login": login, "password": password},
                                follow_redirects=follow)

    def sign_out(self):
        return self.client.post("/signout")

    def as_role(self, role: str):
        user = factories.make_user(role)
        response = self.sign_in(user.username)
        assert response.status_code == 302, response.text
        return user


@pytest.fixture
def auth(client):
    return AuthActions(client)


@pytest.fixture
def make_user(app):
    return factories.make_user


def outbox_messages(app) -> list:
    """Every message in the outbox folder, oldest first, read from disk as an operator would."""
    from email import policy
    from email.parser import BytesParser

    folder = Path(app.config["MAIL_OUTBOX_DIR"])
    parser = BytesParser(policy=policy.default)
    return [parser.parsebytes(path.read_bytes()) for path in sorted(folder.glob("*.eml"))]


def outbox_links(app) -> list[str]:
    """Every link in the mail written to the outbox folder, oldest mail first."""
    bodies = [m.get_body(preferencelist=("plain",)).get_content() for m in outbox_messages(app)]
    return [link for body in bodies for link in re.findall(r"https?://\S+", body)]

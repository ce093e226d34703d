"""Posting load test (issue 9): signed-in people asking and answering for a while, against the
server started as production runs it and as `make run` runs it; posts checked against the database.

    python bench/posting_load.py [--mode both|production|make-run] [--people 20] [--seconds 60]
                                 [--think 6] [--question-share 0.25] [--workers 4] [--worker-class sync]
                                 [--database-url postgresql://postgres@127.0.0.1:5432/peerline_posting_bench]
                                 [--redis-url redis://127.0.0.1:6379/12] [--keep]
    make bench-posting BENCH_ARGS="--people 5 --seconds 15"

Two ways of serving this repository's code (each in a fresh temporary instance folder holding the
search index, the mail outbox and the logs):

- production, as README.md's "Running in production" says: gunicorn (`--workers 4`, sync) on
  PostgreSQL (`--database-url`, a database dropped and created empty each run; its name must
  contain "bench") and Redis (`--redis-url`, flushed first; not database 13, 14 or 15, which
  bench/search.py and the tests flush), with `flask jobs worker --queue search`,
  `flask jobs worker --queue default --queue mail` and one `flask jobs cron`, each a process.
- make-run, as `make run` serves: `flask run` (the threaded development server) on a SQLite file,
  without REDIS_URL, so jobs and periodic jobs run inside the web process.

Set-up, not timed: `flask db upgrade`, `flask accounts ensure-admin`, `flask demo load`, `flask
search reconcile` (what `make run` runs), then the N people, signed up through
accounts.services.sign_up in a subprocess with the server's environment (sign-up over HTTP is rate
limited), each following a few of the latest demo threads (a reply mails every follower). The
servers get only the settings this script gives them: DATABASE_URL, REDIS_URL, SECRET_KEY,
SEARCH_INDEX_DIR, MAIL_*, PEERLINE_* and FLASK_* from the caller's environment are left out (no
real mail is ever sent).

The load: each person is a thread with its own cookie jar (urllib, stdlib only) that signs in
through the form, then posts until the time is up: one post every `--think` seconds on average,
jittered by +-50% (the time of its own requests included), `--question-share` of them questions
(GET /ask, then POST /ask with a category from the form and the form's flow token), the rest
replies to one of the 20 most recent threads (GET /t/<id>, then POST /t/<id>/reply). Like a person
who has met the posting limits once, nobody posts more than 3 questions or 10 replies in any 65 s
(a post that would is made the other kind, or waits); so at any pace a 429 means the server limits
harder than that. Every post carries a made-up word ("qz" and 8 random letters; the search analyzer
stems and lowercases, so no digits), in the title and body of a question and the body of a reply.
Per POST: latency to the answer, and the answer (302 to the thread: saved; 429; other 4xx; 5xx;
no answer: refused, reset or 30 s timeout).

Time to findable: after each saved post, a pool of 3 poller threads (anonymous, no think time)
requests GET /search?q=<word> every 0.2 s (every second once the post has missed the 5 s target)
until the results list links the post's thread, for up to 60 s after the POST's answer (never found
counts as 60 s, and is reported apart). The pollers add some search load to the server (at most 3
requests at a time); when they cannot keep up, the polls run late, which the output says.

After the load: up to 60 s for the pollers, then the database is read directly (SQLAlchemy): a
post is saved when a post's body (or its thread's title) holds its word; "lost": answered 302 but
not in the database; "5xx but saved": answered 5xx yet in the database, so a person would post it
again. Also the notices expected (followers of each replied thread but the replier), created and
mailed, the .eml files in the outbox folder, and the job outbox rows not done at the end; per job
queue, how long jobs waited from their commit and how long they ran; on Linux, the CPU each process
group used during the load, and a warning when other work on the machine made the latencies noisy.

Prints, per mode, a table against the targets: no post lost, no 5xx (and no failed or unanswered
request), POST p99 under 2 s, findable p99 under 5 s, every saved post findable within 60 s, no 429.
Exit status: 0 when every target is met in every mode; 1 when a post was lost, or a request was
answered 5xx, refused with another 4xx or not answered at all (or the run could not be set up);
2 when only a latency, findability or rate-limit target was missed. Each mode's folder (its logs)
(and the production database) is kept and printed when its run fails; `--keep` keeps them always.
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import html
import http.client
import http.cookiejar
import importlib.util
import os
import random
import re
import shutil
import signal
import string
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this file's folder comes first on sys.path, and bench/search.py would shadow
# the search package when the app is imported (here, and in the subprocess that signs people up).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.forum_pages import (  # noqa: E402
    HOST,
    NOISY_SHARE,
    TICK,
    code_version,
    free_port,
    get,
    log_tail,
    machine_busy_seconds,
)
from bench.generate import drop_database, ensure_database, shown, sqlalchemy_url  # noqa: E402
from bench.search import percentile, redacted  # noqa: E402

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/peerline_posting_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/12"
RESERVED_REDIS_DBS = {13: "bench/search.py", 14: "the tests", 15: "the tests"}  # all flush theirs

POST_P99_MS, FINDABLE_P99_S = 2000.0, 5.0
REQUEST_TIMEOUT = 30.0  # seconds before a request counts as unanswered
FIND_TIMEOUT = 60.0  # seconds after the POST's answer before a post counts as never findable
POLL_EVERY, POLLERS = 0.2, 3
POLL_LATER = 1.0  # seconds between polls once a post has missed the findable target: less load, same verdict
LIMITS = {"question": 3, "reply": 10}  # posts of a kind a person makes in any LIMIT_WINDOW seconds
LIMIT_WINDOW = 65.0  # a minute, and a margin for requests the server counts later than we sent them
RECENT = 20  # replies go to one of the latest threads (demo threads at first, then the new questions)
FOLLOWS = 3  # latest demo threads each person follows before the load
WORD_PREFIX = "qz"
WORD = re.compile(rf"\b{WORD_PREFIX}[a-z]{{8}}\b")
PEOPLE_DOMAIN = "posting-bench.example.com"
PASSWORD = "Kettle-under-the-stairs-42"
SECRET_KEY = "peerline-posting-load-bench"  # fixed: every process of a mode signs with the same key
SERVER_SETTINGS = re.compile(r"DATABASE_URL|REDIS_URL|SECRET_KEY|SEARCH_INDEX_DIR|(MAIL|PEERLINE|FLASK)_.*")
SETUP_COMMANDS = (("db", "upgrade"), ("accounts", "ensure-admin"), ("demo", "load"), ("search", "reconcile"))

QUESTIONS = (
    "Invoice totals are off by a cent after the {word} import",
    "How do I send a reminder for an overdue invoice to {word}?",
    "Recurring invoice for {word} skipped a month",
    "Can I change the currency of a client like {word}?",
    "PDF export cuts off the footer on {word} invoices",
)
QUESTION_BODY = ("Our client {word} gets invoices every month. Since yesterday the totals on the list "
                 "and in the PDF disagree, and the tax line moved.\n\nWhat I tried:\n\n- exporting "
                 "again\n- changing the tax rate back and forth\n\nIs there a setting I missed?")
REPLIES = (
    "Check the rounding setting under Settings > Taxes; with per-line rounding {word} would "
    "come out a cent different from the total.",
    "Same here with {word}. Clearing the cached PDF (Invoices > More > Regenerate) fixed it for us.",
    "The reminder schedule is per client: open {word}, then Reminders, and pick the template.",
    "I think this is the known issue from last week; support told us to re-save the client ({word}).",
)


# --- the servers ------------------------------------------------------------------------------------


class Service:
    """One long-running process in a session of its own (Ctrl-C reaches only this script, which
    then stops it and whatever it forked), its output in a log file."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log_path: Path):
        self.name, self.command, self.env, self.log_path = name, command, env, log_path
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def exited(self) -> bool:
        # WNOWAIT: an exited leader stays a zombie, unreaped, so its process group id cannot be
        # reused by another process before stop() has signalled the group.
        try:
            return os.waitid(os.P_PID, self.process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except ChildProcessError:
            return True

    def check(self) -> None:
        if self.process is not None and self.exited():
            raise RuntimeError(f"{self.name} exited early\n{self.log_tail()}")

    def stop(self, timeout: float = 20.0) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        if not self.exited():
            self.process.terminate()  # graceful: gunicorn's shutdown, RQ's warm shutdown
            deadline = time.monotonic() + timeout
            while not self.exited() and time.monotonic() < deadline:
                time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)  # what is still running: workers, job children
        self.process.wait()

    def log_tail(self, lines: int = 30) -> str:
        return log_tail(self.log_path, lines)


@dataclass
class Site:
    """One mode's server: its folder, environment and processes."""

    mode: str
    folder: Path
    port: int
    env: dict[str, str]
    database_url: str  # as SQLAlchemy takes it, for reading the results
    services: list[Service] = field(default_factory=list)
    redis: object | None = None
    description: str = ""

    @property
    def web(self) -> Service:
        return self.services[-1]


def server_env(folder: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not SERVER_SETTINGS.fullmatch(k)}
    env.update(FLASK_APP="app", SECRET_KEY=SECRET_KEY, SEARCH_INDEX_DIR=str(folder / "search-index"),
               MAIL_OUTBOX_DIR=str(folder / "mail-outbox"), PEERLINE_BASE_URL=f"http://{HOST}:{port}",
               PEERLINE_ADMIN_EMAIL="admin@example.com", PEERLINE_ADMIN_USERNAME="admin",
               PEERLINE_ADMIN_PASSWORD=PASSWORD)
    return env


def flask(*args: str) -> list[str]:
    return [sys.executable, "-m", "flask", "--app", "app", *args]


def redis_for(url: str):
    """A connection to `url`, flushed. Raises ValueError for another tool's database, RuntimeError
    when Redis does not answer."""
    from redis import Redis
    from redis.exceptions import RedisError

    redis = Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)
    number = redis.connection_pool.connection_kwargs.get("db", 0)
    if number in RESERVED_REDIS_DBS:
        raise ValueError(f"Redis database {number} belongs to {RESERVED_REDIS_DBS[number]}, which "
                         "flushes it; use another")
    try:
        redis.flushdb()
    except RedisError as error:
        raise RuntimeError(f"Redis does not answer at {redacted(url)}: {error}") from error
    return redis


def prepare(mode: str, args, folder: Path) -> Site:
    """The mode's database and folder, set up as `make run` does, with the people signed up."""
    port = free_port()
    env = server_env(folder, port)
    if mode == "production":
        url = sqlalchemy_url(args.database_url)
        drop_database(url)
        ensure_database(url)
        site = Site(mode, folder, port, env, url)
        site.redis = redis_for(args.redis_url)
        env.update(DATABASE_URL=args.database_url, REDIS_URL=args.redis_url)
        site.description = (f"gunicorn ({args.workers} {args.worker_class} workers) on PostgreSQL "
                            f"{shown(url)}, Redis {redacted(args.redis_url)}; `flask jobs worker --queue "
                            "search`, `flask jobs worker --queue default --queue mail`, `flask jobs cron`")
    else:
        url = f"sqlite:///{folder / 'peerline.sqlite3'}"
        env["DATABASE_URL"] = url
        site = Site(mode, folder, port, env, url)
        site.description = ("`flask run` (threaded development server) on SQLite, no REDIS_URL: jobs and "
                            "periodic jobs in the web process")
    log = folder / "setup.log"
    for command in SETUP_COMMANDS:
        run_logged(flask(*command), env, log, f"flask {' '.join(command)}")
    people = [sys.executable, "-c", "import sys; from bench.posting_load import create_people; "
              "create_people(int(sys.argv[1]))", str(args.people)]
    run_logged(people, dict(env, PEERLINE_TICKER="0"), log, "signing up the people")
    return site


def run_logged(command: list[str], env: dict[str, str], log_path: Path, what: str) -> None:
    with log_path.open("ab") as log:
        log.write(f"$ {' '.join(command)}\n".encode())
        log.flush()
        done = subprocess.run(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
                              stderr=subprocess.STDOUT, timeout=900, check=False)
    if done.returncode != 0:
        tail = "\n".join(f"  | {line}" for line in log_path.read_text(errors="replace").splitlines()[-20:])
        raise RuntimeError(f"{what} failed (status {done.returncode}):\n{tail}")


def create_people(count: int) -> None:
    """Sign up `count` people through accounts.services.sign_up, each following a few of the latest
    threads. Runs in a subprocess, from the repository root, with the server's environment."""
    from accounts.services import sign_up
    from app import create_app
    from core.extensions import db
    from forum.models import Thread
    from forum.services import set_following

    app = create_app({"PEERLINE_TICKER": False})
    if Path(app.root_path).resolve() != ROOT:
        raise SystemExit(f"the app was imported from {app.root_path}, not from {ROOT}")
    rng = random.Random(count)
    with app.app_context():
        latest = list(db.session.scalars(sa.select(Thread).where(Thread.state == "visible")
                                         .order_by(Thread.last_activity_at.desc()).limit(RECENT)))
        for n in range(count):
            user = sign_up(f"{username(n)}@{PEOPLE_DOMAIN}", username(n), PASSWORD)
            # Established members: the load is measured at the site-wide limits, not a newcomer's.
            user.trust_level = 1
            for thread in rng.sample(latest, min(FOLLOWS, len(latest))):
                set_following(user, thread, True)
    print(f"signed up {count} people, each following {FOLLOWS} of the {len(latest)} latest threads")


def username(n: int) -> str:
    return f"poster{n:03d}"


def start(site: Site, args) -> None:
    """The mode's processes, started and answering."""
    env, folder = site.env, site.folder
    if site.mode == "production":
        site.services += [
            Service("search worker", flask("jobs", "worker", "--queue", "search"), env,
                    folder / "worker-search.log"),
            Service("default and mail worker",
                    flask("jobs", "worker", "--queue", "default", "--queue", "mail"), env,
                    folder / "worker-default-mail.log"),
            Service("cron", flask("jobs", "cron"), env, folder / "cron.log"),
            Service("gunicorn", [sys.executable, "-m", "gunicorn", "--workers", str(args.workers),
                                 "--worker-class", args.worker_class, "--bind", f"{HOST}:{site.port}",
                                 "app:create_app()"], env, folder / "web.log"),
        ]
    else:
        site.services.append(Service("flask run", flask("run", "--host", HOST, "--port", str(site.port)),
                                     env, folder / "web.log"))
    for service in site.services:
        service.start()
    deadline = time.monotonic() + 60
    if site.redis is not None:
        from rq import Worker

        while Worker.count(connection=site.redis) < 2:
            for service in site.services:
                service.check()
            if time.monotonic() > deadline:
                raise RuntimeError("the RQ workers did not start within 60 s")
            time.sleep(0.2)
    while True:
        for service in site.services:
            service.check()
        try:
            status, _ = get(site.port, "/signin", timeout=5)
        except OSError:
            status = None
        if status == 200:
            return
        if status is not None:
            raise RuntimeError(f"GET /signin answered {status}\n{site.web.log_tail()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{site.web.name} did not answer within 60 s\n{site.web.log_tail()}")
        time.sleep(0.2)


def stop(site: Site) -> None:
    for service in reversed(site.services):  # the web server first: nothing new is enqueued
        service.stop()


def cpu_seconds(site: Site) -> dict[str, float] | None:
    """CPU seconds so far of each service's process group (children it waited for included: RQ's
    job children, gunicorn's workers), of PostgreSQL (every database) and of Redis, and of this
    script; None where /proc is not there to read."""
    groups = {service.process.pid: service.name for service in site.services}
    totals = dict.fromkeys([*groups.values(), "PostgreSQL", "Redis"], 0.0)
    found = False
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        found = True
        name, fields = text[text.index("(") + 1:text.rindex(")")], text[text.rindex(")") + 2:].split()
        seconds = sum(int(v) for v in fields[11:15]) / TICK  # utime, stime, cutime, cstime
        if int(fields[2]) in groups:
            totals[groups[int(fields[2])]] += seconds
        elif name == "postgres":  # the postmaster's cutime holds the backends that have ended
            totals["PostgreSQL"] += seconds
        elif name.startswith("redis-server"):
            totals["Redis"] += seconds
    own = os.times()
    totals["this script"] = own.user + own.system
    return totals if found else None


# --- a person's browser ----------------------------------------------------------------------------


class _Answer(urllib.request.HTTPRedirectHandler):
    """Redirects are not followed: the 302 after a POST is the answer being measured."""

    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    """One person: a cookie jar, no proxy, urllib."""

    def __init__(self, port: int):
        self.base = f"http://{HOST}:{port}"
        self.opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
            _Answer())

    def request(self, path: str, fields: dict[str, str] | None = None) -> tuple[int, str, str]:
        """(status, Location, body). Raises OSError or http.client.HTTPException without an answer."""
        data = None if fields is None else urllib.parse.urlencode(fields).encode()
        request = urllib.request.Request(self.base + path, data=data,
                                         headers={"User-Agent": "peerline-bench-posting"})
        try:
            with self.opener.open(request, timeout=REQUEST_TIMEOUT) as response:
                return response.status, "", response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as answer:  # every status but 2xx, 302 included
            with answer:
                page = answer.read().decode("utf-8", "replace")
                return answer.code, answer.headers.get("Location", ""), page


_INPUT = re.compile(r"<input\b[^>]*>")
_VALUE = re.compile(r'\bvalue="([^"]*)"')
_OPTION = re.compile(r'<option\b[^>]*\bvalue="([^"]+)"')
_THREAD = re.compile(r"/t/(\d+)")
_RESULTS = re.compile(r'<ol class="thread-list search-results">(.*?)</ol>', re.S)


def hidden_value(page: str, name: str) -> str:
    for tag in _INPUT.findall(page):
        if f'name="{name}"' in tag:
            found = _VALUE.search(tag)
            return html.unescape(found.group(1)) if found else ""
    return ""


def category_ids(page: str) -> list[str]:
    select = re.search(r'<select\b[^>]*\bname="category_id"[^>]*>(.*?)</select>', page, re.S)
    return [html.unescape(v) for v in _OPTION.findall(select.group(1))] if select else []


def lists_thread(page: str, thread_id: int) -> bool:
    results = _RESULTS.search(page)
    return bool(results) and f'href="/t/{thread_id}"' in results.group(1)


def new_word(rng: random.Random) -> str:
    return WORD_PREFIX + "".join(rng.choice(string.ascii_lowercase) for _ in range(8))


# --- the load ----------------------------------------------------------------------------------------


@dataclass
class Attempt:
    """One POST."""

    kind: str  # "question" or "reply"
    word: str
    thread_id: int | None  # the thread replied to, or the question's thread from the redirect
    status: int | None = None  # None: no answer
    error: str = ""
    seconds: float = 0.0  # from sending to the answer
    answered: float = 0.0  # time.monotonic() of the answer
    findable: float | None = None  # seconds from the answer to the first search listing it; None: never

    @property
    def saved_answer(self) -> bool:
        return self.status == 302 and self.thread_id is not None


class Pace:
    """One person's posting budget: LIMITS[kind] posts of a kind in any LIMIT_WINDOW seconds."""

    def __init__(self):
        self.sent = {kind: deque(maxlen=limit) for kind, limit in LIMITS.items()}

    def free_at(self, kind: str) -> float:
        sent = self.sent[kind]
        return sent[0] + LIMIT_WINDOW if len(sent) == sent.maxlen else 0.0

    def plan(self, wanted: str, at: float) -> tuple[str, float]:
        """The kind to post and when: `wanted` at `at` if the budget allows, else the other kind, else
        whichever is allowed first."""
        kinds = (wanted, "reply" if wanted == "question" else "question")
        for kind in kinds:
            if self.free_at(kind) <= at:
                return kind, at
        kind = min(kinds, key=self.free_at)
        return kind, self.free_at(kind)

    def record(self, kind: str, at: float) -> None:
        self.sent[kind].append(at)


class Finder:
    """Polls GET /search?q=<word> for each saved post every POLL_EVERY seconds (every POLL_LATER once
    it has missed the target), earliest due first, on POLLERS threads, until the results link the
    post's thread or FIND_TIMEOUT has passed."""

    def __init__(self, port: int):
        self.port = port
        self.due: list[tuple[float, int, Attempt]] = []
        self.busy, self.count, self.closed = 0, 0, False
        self.condition = threading.Condition()
        self.not_ok: Counter = Counter()  # search answers other than 200 ("no answer" included)
        self.polls, self.late = 0, []  # how long after it was due each poll was sent
        self.threads = [threading.Thread(target=self._loop, name=f"finder-{n}", daemon=True)
                        for n in range(POLLERS)]
        for thread in self.threads:
            thread.start()

    def watch(self, attempt: Attempt) -> None:
        self._push(attempt.answered, attempt)

    def _push(self, due: float, attempt: Attempt) -> None:
        with self.condition:
            self.count += 1
            heapq.heappush(self.due, (due, self.count, attempt))
            self.condition.notify()

    @property
    def waiting(self) -> int:
        with self.condition:
            return len(self.due) + self.busy

    def _loop(self) -> None:
        while True:
            with self.condition:
                while not self.closed and (not self.due or self.due[0][0] > time.monotonic()):
                    self.condition.wait(self.due[0][0] - time.monotonic() if self.due else None)
                if self.closed:
                    return
                due, _, attempt = heapq.heappop(self.due)
                self.busy += 1
            try:
                sent = time.monotonic()
                found = self._search(attempt)
                now = time.monotonic()
                with self.condition:
                    self.polls += 1
                    self.late.append(sent - due)
                if found:
                    attempt.findable = now - attempt.answered
                elif now - attempt.answered < FIND_TIMEOUT:
                    every = POLL_EVERY if now - attempt.answered < FINDABLE_P99_S else POLL_LATER
                    self._push(max(sent + every, now), attempt)
            finally:
                with self.condition:
                    self.busy -= 1
                    self.condition.notify_all()

    def _search(self, attempt: Attempt) -> bool:
        try:
            status, body = get(self.port, f"/search?q={quote(attempt.word)}", timeout=REQUEST_TIMEOUT)
        except (OSError, http.client.HTTPException):
            self.not_ok["no answer"] += 1
            return False
        if status != 200:
            self.not_ok[status] += 1
            return False
        return lists_thread(body.decode("utf-8", "replace"), attempt.thread_id)

    def finish(self, timeout: float) -> None:
        """Wait until every post is found or given up on, or `timeout`; then stop the pollers (posts
        still waiting stay never found)."""
        deadline = time.monotonic() + timeout
        with self.condition:
            while (self.due or self.busy) and time.monotonic() < deadline:
                self.condition.wait(0.5)
            self.closed = True
            self.due.clear()
            self.condition.notify_all()


class Load:
    """The people, each on a thread of its own, posting until the deadline."""

    def __init__(self, port: int, people: int, args, latest: list[int]):
        self.port, self.people, self.args = port, people, args
        self.stopped = threading.Event()
        self.lock = threading.Lock()
        self.attempts: list[Attempt] = []
        self.pages_not_ok: Counter = Counter()  # (page, status) of form pages not answered 200
        self.latest = deque(latest, maxlen=RECENT)  # newest first
        self.finder = Finder(port)
        self.words: set[str] = set()

    def sign_in_everyone(self) -> list[Browser]:
        browsers = [Browser(self.port) for _ in range(self.people)]
        failures = []

        def sign_in(n: int) -> None:
            for _ in range(3):
                try:
                    status, _, page = browsers[n].request("/signin")
                    if status == 200:
                        fields = {"login": username(n), "password": PASSWORD,
                                  "csrf_token": hidden_value(page, "csrf_token")}
                        status, _, _ = browsers[n].request("/signin", fields)
                        if status == 302:
                            return
                except (OSError, http.client.HTTPException) as error:
                    status = type(error).__name__
                time.sleep(1)
            failures.append(f"{username(n)}: {status}")

        threads = [threading.Thread(target=sign_in, args=(n,), daemon=True) for n in range(self.people)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if failures:
            raise RuntimeError(f"{len(failures)} people could not sign in ({', '.join(failures[:5])})")
        return browsers

    def run(self, browsers: list[Browser], seconds: float, progress) -> float:
        """Posts for `seconds`; returns how long the load lasted (longer when the last answers were late)."""
        started = time.monotonic()
        deadline = started + seconds
        threads = [threading.Thread(target=self._person, args=(browser, deadline), daemon=True)
                   for browser in browsers]
        for thread in threads:
            thread.start()
        while alive := [thread for thread in threads if thread.is_alive()]:
            progress(time.monotonic() - started)
            alive[0].join(timeout=1.0)
        return max(seconds, time.monotonic() - started)

    def _person(self, browser: Browser, deadline: float) -> None:
        rng, pace = random.Random(), Pace()
        next_post = time.monotonic() + rng.uniform(0, self.args.think)  # people start at different times
        while not self.stopped.is_set():
            wanted = "question" if rng.random() < self.args.question_share else "reply"
            kind, next_post = pace.plan(wanted, next_post)
            if next_post >= deadline or time.monotonic() >= deadline:
                return
            try:
                form = self._open_form(browser, kind, rng)
            except (OSError, http.client.HTTPException):
                form = None
                with self.lock:
                    self.pages_not_ok[("GET /ask" if kind == "question" else "GET /t/<id>", "no answer")] += 1
            if form is not None and not self.stopped.wait(max(0.0, next_post - time.monotonic())):
                if time.monotonic() >= deadline:  # the form took that long
                    return
                pace.record(kind, time.monotonic())
                self._post(browser, kind, form, rng)
            elif form is None:
                self.stopped.wait(1.0)  # the form page failed: a person would reload after a moment
            # After a slow answer the next post comes at once, but nobody posts a burst to catch up.
            next_post = max(next_post + rng.uniform(0.5, 1.5) * self.args.think, time.monotonic())

    def _open_form(self, browser: Browser, kind: str, rng: random.Random) -> dict | None:
        """GET the ask form or a recent thread's page; the fields to post, or None if it failed."""
        if kind == "question":
            status, _, page = browser.request("/ask")
            categories = category_ids(page)
            if status != 200 or not categories:
                with self.lock:
                    self.pages_not_ok[("GET /ask", status)] += 1
                return None
            return {"path": "/ask", "thread_id": None, "csrf_token": hidden_value(page, "csrf_token"),
                    "flow": hidden_value(page, "flow"), "category_id": rng.choice(categories)}
        for _ in range(5):  # a locked thread has no reply form: try another
            with self.lock:
                if not self.latest:
                    return None
                thread_id = rng.choice(list(self.latest))
            status, _, page = browser.request(f"/t/{thread_id}")
            if status != 200:
                with self.lock:
                    self.pages_not_ok[("GET /t/<id>", status)] += 1
                return None
            if f'action="/t/{thread_id}/reply"' in page:
                return {"path": f"/t/{thread_id}/reply", "thread_id": thread_id,
                        "csrf_token": hidden_value(page, "csrf_token")}
        return None

    def _post(self, browser: Browser, kind: str, form: dict, rng: random.Random) -> None:
        with self.lock:
            word = new_word(rng)
            while word in self.words:
                word = new_word(rng)
            self.words.add(word)
        if kind == "question":
            fields = {"csrf_token": form["csrf_token"], "flow": form["flow"],
                      "category_id": form["category_id"], "title": rng.choice(QUESTIONS).format(word=word),
                      "body": QUESTION_BODY.format(word=word), "tags": ""}
        else:
            fields = {"csrf_token": form["csrf_token"], "body": rng.choice(REPLIES).format(word=word)}
        attempt = Attempt(kind, word, form["thread_id"])
        sent = time.monotonic()
        try:
            attempt.status, location, _ = browser.request(form["path"], fields)
        except (OSError, http.client.HTTPException) as error:
            attempt.error = "timeout" if "timed out" in str(error) else type(error).__name__
            location = ""
        attempt.answered = time.monotonic()
        attempt.seconds = attempt.answered - sent
        if attempt.status == 302:
            thread = _THREAD.search(location)
            attempt.thread_id = int(thread.group(1)) if thread else None  # elsewhere: not a saved answer
        with self.lock:
            self.attempts.append(attempt)
            if attempt.saved_answer and kind == "question":
                self.latest.appendleft(attempt.thread_id)
        if attempt.saved_answer:
            self.finder.watch(attempt)


# --- what the database holds --------------------------------------------------------------------------


@dataclass
class Stored:
    words: Counter  # bench word -> posts holding it
    notices_expected: int
    notices_created: int
    notices_mailed: int
    all_mailed: int  # every notice mailed, reminders to the demo askers included
    outbox_files: int
    backlog: Counter  # (queue, status) -> job rows not done
    failed_jobs: Counter  # (function, last line of the error) -> rows
    queues: dict[str, tuple[int, int, float, float, float]]  # jobs since the load began, per queue:
    #   (rows, rows run, seconds waited p50 and p99 from the commit to the start, seconds run p50)


def read_database(site: Site, since: datetime) -> Stored:
    engine = sa.create_engine(site.database_url, poolclass=sa.pool.NullPool)
    people = f"SELECT id FROM users WHERE email LIKE '%@{PEOPLE_DOMAIN}'"
    try:
        with engine.connect() as conn:
            words: Counter = Counter()
            for body, title in conn.execute(sa.text(
                    "SELECT p.body, CASE WHEN p.kind = 'question' THEN t.title ELSE '' END "
                    "FROM posts p JOIN threads t ON t.id = p.thread_id "
                    f"WHERE p.author_id IN ({people}) OR p.body LIKE :like OR t.title LIKE :like"),
                    {"like": f"%{WORD_PREFIX}%"}):
                words.update(set(WORD.findall(body or "")) | set(WORD.findall(title or "")))
            answers = (f"SELECT id FROM posts WHERE kind = 'answer' AND author_id IN ({people})")
            # Whom notify_new_post tells: active followers but the author, following when it was posted.
            expected = conn.scalar(sa.text(
                "SELECT count(*) FROM posts p JOIN subscriptions s ON s.thread_id = p.thread_id "
                "AND s.active AND s.user_id <> p.author_id AND s.created_at <= p.created_at "
                f"WHERE p.id IN ({answers})"))
            created, mailed = conn.execute(sa.text(
                "SELECT count(*), count(mailed_at) FROM notifications "
                f"WHERE kind = 'answer' AND post_id IN ({answers})")).one()
            all_mailed = conn.scalar(sa.text("SELECT count(mailed_at) FROM notifications"))
            backlog = Counter({(queue, status): n for queue, status, n in conn.execute(sa.text(
                "SELECT queue, status, count(*) FROM job_outbox WHERE status <> 'done' "
                "GROUP BY queue, status"))})
            moment = sa.DateTime(timezone=True)
            jobs: dict[str, list] = {}
            for queue, committed, began, ended in conn.execute(sa.text(
                    "SELECT queue, created_at, started_at, finished_at FROM job_outbox").columns(
                    queue=sa.String, created_at=moment, started_at=moment, finished_at=moment)):
                if as_utc(committed) >= since:
                    jobs.setdefault(queue, []).append((as_utc(committed), as_utc(began), as_utc(ended)))
            queues = {}
            for queue, times in sorted(jobs.items()):
                waits = [(b - c).total_seconds() for c, b, _ in times if b]
                runs = [(e - b).total_seconds() for _, b, e in times if b and e]
                queues[queue] = (len(times), len(waits), percentile(waits, 0.5), percentile(waits, 0.99),
                                 percentile(runs, 0.5))
            failed: Counter = Counter()
            for func, error in conn.execute(sa.text(
                    "SELECT func, last_error FROM job_outbox WHERE status = 'failed' OR "
                    "(status <> 'done' AND last_error IS NOT NULL)")):
                failed[(func, ((error or "").strip().splitlines() or ["(no message)"])[-1][:160])] += 1
    finally:
        engine.dispose()
    outbox = site.folder / "mail-outbox"
    return Stored(words, expected or 0, created or 0, mailed or 0, all_mailed or 0,
                  len(list(outbox.glob("*.eml"))), backlog, failed, queues)


def as_utc(moment: datetime | None) -> datetime | None:
    # SQLite gives the app's UTC times back without a time zone.
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


# --- the report -------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """A mode's figures against the targets."""

    mode: str
    rows: list[tuple[str, str, str, str]]  # measure, value, target, PASS/FAIL/""
    notes: list[str]
    failed: bool  # lost, 5xx, other 4xx or no answer
    missed: bool  # latency, findability or 429


def judge(site: Site, load: Load, stored: Stored, seconds: float, usage: dict[str, float] | None
          ) -> Outcome:
    attempts = load.attempts
    by = Counter()
    for a in attempts:
        if a.status is None:
            by["no answer"] += 1
        elif a.saved_answer:
            by["saved answer"] += 1
        elif a.status == 429:
            by["429"] += 1
        elif a.status >= 500:
            by["5xx"] += 1
        else:
            by["other"] += 1
    saved = sum(1 for a in attempts if stored.words[a.word])
    lost = [a for a in attempts if a.saved_answer and not stored.words[a.word]]
    server_errors = [a for a in attempts if a.status is not None and a.status >= 500]
    five_saved = sum(1 for a in server_errors if stored.words[a.word])
    unanswered_saved = sum(1 for a in attempts if a.status is None and stored.words[a.word])
    other_saved = sum(1 for a in attempts if a.status is not None and a.status < 500 and not a.saved_answer
                      and stored.words[a.word])
    latencies = [a.seconds * 1000 for a in attempts if a.status is not None]
    watched = [a for a in attempts if a.saved_answer]
    findable = [FIND_TIMEOUT if a.findable is None else a.findable for a in watched]
    never = sum(1 for a in watched if a.findable is None)
    page_failures = sum(n for (_, status), n in load.pages_not_ok.items()
                        if status == "no answer" or (isinstance(status, int) and status >= 500))
    search_failures = sum(n for status, n in load.finder.not_ok.items()
                          if status == "no answer" or status >= 500)
    p99, f99 = percentile(latencies, 0.99), percentile(findable, 0.99)

    def zero(value: int) -> str:
        return "PASS" if value == 0 else "FAIL"

    def under(value: float, limit: float) -> str:
        return "PASS" if value < limit else "FAIL"

    questions = sum(a.kind == "question" for a in attempts)
    rows = [
        ("posts attempted (POST)", f"{len(attempts):,}", "", ""),
        ("  questions / replies", f"{questions:,} / {len(attempts) - questions:,}", "", ""),
        ("saved (word in the database)", f"{saved:,}", "", ""),
        ("lost (302, not in the database)", f"{len(lost):,}", "0", zero(len(lost))),
        ("5xx", f"{len(server_errors):,}", "0", zero(len(server_errors))),
        ("5xx but saved (a duplicate)", f"{five_saved:,}", "0", zero(five_saved)),
        ("429 rate limited", f"{by['429']:,}", "0", zero(by["429"])),
        ("other 4xx or unexpected answer", f"{by['other']:,}", "0", zero(by["other"])),
        ("no answer (error, 30 s timeout)", f"{by['no answer']:,}", "0", zero(by["no answer"])),
        ("GET 5xx or no answer (forms, search)", f"{page_failures + search_failures:,}", "0",
         zero(page_failures + search_failures)),
        ("POST latency p50, ms", f"{percentile(latencies, 0.5):,.0f}", "", ""),
        ("POST latency p99, ms", f"{p99:,.0f}", f"< {POST_P99_MS:,.0f}", under(p99, POST_P99_MS)),
        ("findable p50, s", f"{percentile(findable, 0.5):.2f}", "", ""),
        ("findable p99, s", f"{f99:.2f}", f"< {FINDABLE_P99_S:.0f}", under(f99, FINDABLE_P99_S)),
        (f"not findable within {FIND_TIMEOUT:.0f} s", f"{never:,}", "0", zero(never)),
        ("job outbox rows not done at the end", f"{sum(stored.backlog.values()):,}", "", ""),
    ]
    failed = bool(lost or server_errors or by["other"] or by["no answer"] or page_failures or search_failures)
    missed = p99 >= POST_P99_MS or f99 >= FINDABLE_P99_S or bool(never) or bool(by["429"])

    notes = [f"{len(attempts)} posts in {seconds:.0f} s: {len(attempts) / seconds * 60:.0f} a minute from "
             f"{load.people} people"]
    statuses = Counter(a.status if a.status is not None else a.error for a in attempts)
    notes.append("POST answers: " + ", ".join(f"{status}: {n}" for status, n in statuses.most_common()))
    if unanswered_saved or other_saved:
        notes.append(f"saved although the answer said otherwise: {unanswered_saved} unanswered, "
                     f"{other_saved} 4xx")
    duplicates = sum(1 for a in attempts if stored.words[a.word] > 1)
    if duplicates:
        notes.append(f"{duplicates} words are in the database more than once (one POST saved twice)")
    if lost:
        notes.append("lost words: " + ", ".join(f"{a.word} ({a.kind})" for a in lost[:5]))
    if load.pages_not_ok:
        notes.append("form pages not answered 200: " + ", ".join(
            f"{page} {status}: {n}" for (page, status), n in load.pages_not_ok.most_common()))
    finder = load.finder
    if finder.not_ok:
        notes.append("searches not answered 200: " + ", ".join(
            f"{status}: {n}" for status, n in finder.not_ok.most_common()))
    if finder.late:
        late = percentile(finder.late, 0.99)
        behind = " (the pollers fell behind: findable times are that much coarser)" if late > 0.2 else ""
        notes.append(f"{finder.polls:,} searches polled; p99 {late:.2f} s late on the {POLL_EVERY:.1f} s "
                     f"schedule{behind}")
    notes.append(f"notices for the replies: {stored.notices_expected:,} expected (followers), "
                 f"{stored.notices_created:,} created, {stored.notices_mailed:,} mailed; the outbox folder "
                 f"holds {stored.outbox_files:,} mails for {stored.all_mailed:,} notices mailed (reminders "
                 "to demo askers included)")
    for queue, (jobs, started, wait50, wait99, run50) in stored.queues.items():
        notes.append(f"{queue} jobs since the load began: {jobs:,}, {started:,} started; waited from the "
                     f"commit p50 {wait50:.2f} s, p99 {wait99:.2f} s; ran p50 {run50:.2f} s")
    if stored.backlog:
        notes.append("job outbox rows not done: " + ", ".join(
            f"{queue} {status} {n}" for (queue, status), n in sorted(stored.backlog.items())))
    for (func, error), n in stored.failed_jobs.most_common(5):
        notes.append(f"failed job x{n}: {func}: {error}")
    if usage is not None:
        notes.append(f"CPU during the load, share of one core ({os.cpu_count()} cores): " + ", ".join(
            f"{name} {share:.0%}" for name, share in usage.items()))
        if usage["everything else"] > NOISY_SHARE:
            notes.append(f"WARNING: other processes used {usage['everything else']:.0%} of a core during the "
                         "load: the latencies are noisy, run again on a quiet machine to compare")
    return Outcome(site.mode, rows, notes, failed, missed)


def print_outcome(outcome: Outcome, description: str) -> None:
    print(f"\n{outcome.mode}: {description}\n")
    header = f"  {'measure':<38} {'value':>13} {'target':>8} {'result':>7}"
    print(header)
    print("  " + "-" * (len(header) - 2))
    for measure, value, target, result in outcome.rows:
        print(f"  {measure:<38} {value:>13} {target:>8} {result:>7}")
    for note in outcome.notes:
        print(f"  {note}")


# --- the run ----------------------------------------------------------------------------------------


def latest_threads(site: Site) -> list[int]:
    engine = sa.create_engine(site.database_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return list(conn.scalars(sa.text(
                "SELECT id FROM threads WHERE state = 'visible' AND closed_at IS NULL AND NOT is_locked "
                "ORDER BY last_activity_at DESC, id DESC LIMIT :n"), {"n": RECENT}))
    finally:
        engine.dispose()


def run_mode(mode: str, args, folder: Path) -> tuple[Outcome, Site]:
    started = time.monotonic()
    print(f"\n== {mode} ==", flush=True)
    site = prepare(mode, args, folder)
    try:
        print(f"  {site.description}\n  set up in {time.monotonic() - started:.0f} s (flask db upgrade, "
              f"accounts ensure-admin, demo load, search reconcile; {args.people} people); "
              f"folder {folder}", flush=True)
        start(site, args)
        latest = latest_threads(site)
        load = Load(site.port, args.people, args, latest)
        browsers = load.sign_in_everyone()
        print(f"  serving on {HOST}:{site.port}; {args.people} people signed in; posting for "
              f"{args.seconds} s", flush=True)
        shown_at = [0.0]

        def progress(elapsed: float) -> None:
            if elapsed - shown_at[0] >= 10:
                shown_at[0] = elapsed
                with load.lock:
                    attempts = list(load.attempts)
                bad = sum(1 for a in attempts if a.status is None or a.status >= 500)
                print(f"    {elapsed:3.0f} s: {len(attempts)} posts, {bad} answered 5xx or not at all, "
                      f"{load.finder.waiting} waiting to be findable", flush=True)
                for service in site.services:
                    service.check()

        busy, cpu, since = machine_busy_seconds(), cpu_seconds(site), datetime.now(UTC)
        try:
            seconds = load.run(browsers, args.seconds, progress)
        finally:
            load.stopped.set()
        busy_after, cpu_after = machine_busy_seconds(), cpu_seconds(site)
        print(f"  load over; waiting up to {FIND_TIMEOUT:.0f} s for {load.finder.waiting} posts to be "
              "findable", flush=True)
        load.finder.finish(FIND_TIMEOUT + 5)
        stored = read_database(site, since)
    finally:
        stop(site)
        if site.redis is not None:
            with contextlib.suppress(Exception):  # Redis may be what failed
                site.redis.flushdb()
    usage = None
    if None not in (busy, busy_after, cpu, cpu_after):
        usage = {name: (cpu_after[name] - cpu[name]) / seconds for name in cpu}
        usage["everything else"] = max(0.0, (busy_after - busy) / seconds - sum(usage.values()))
    return judge(site, load, stored, seconds, usage), site


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("both", "production", "make-run"), default="both",
                        help="which server to load (default: %(default)s, production first)")
    parser.add_argument("--people", type=int, default=20,
                        help="signed-in people posting (default: %(default)s)")
    parser.add_argument("--seconds", type=int, default=60, help="how long they post (default: %(default)s)")
    parser.add_argument("--think", type=float, default=6.0,
                        help="mean seconds between one person's posts, jittered +-50%% "
                             "(default: %(default)s)")
    parser.add_argument("--question-share", type=float, default=0.25,
                        help="share of posts that are questions, the rest replies (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers, production (default: 4)")
    parser.add_argument("--worker-class", default="sync",
                        help="gunicorn worker class, production (default: sync; for gthread, set "
                             "GUNICORN_CMD_ARGS='--threads 4')")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL,
                        help="PostgreSQL for production, dropped and created empty (default: %(default)s)")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL,
                        help="Redis for production, flushed (default: %(default)s)")
    parser.add_argument("--keep", action="store_true",
                        help="keep each mode's folder (logs, index, outbox) and database even when it passes")
    args = parser.parse_args(argv)
    if min(args.people, args.seconds, args.workers) < 1 or args.think <= 0:
        parser.error("--people, --seconds and --workers must be at least 1, --think above 0")
    if not 0 <= args.question_share <= 1:
        parser.error("--question-share is a share: 0 to 1")
    modes = ("production", "make-run") if args.mode == "both" else (args.mode,)
    if "production" in modes:
        url = sa.engine.make_url(sqlalchemy_url(args.database_url))
        if url.get_backend_name() != "postgresql":
            parser.error("--database-url must be PostgreSQL: production mode runs on it")
        if "bench" not in (url.database or ""):
            parser.error(f"--database-url: refusing to drop {url.database!r}, a name without 'bench'")
        if importlib.util.find_spec("gunicorn") is None or importlib.util.find_spec("psycopg") is None:
            print(f"error: gunicorn and psycopg must be installed for {sys.executable} (make install)",
                  file=sys.stderr)
            return 1

    print(f"code: {code_version()} ({ROOT})")
    print(f"load: {args.people} people for {args.seconds} s, each posting every {args.think:g} s on average "
          f"(+-50%), {args.question_share:.0%} questions; at most {LIMITS['question']} questions and "
          f"{LIMITS['reply']} replies per person in any {LIMIT_WINDOW:.0f} s; search polled every "
          f"{POLL_EVERY} s per saved post", flush=True)

    # SIGTERM (a CI timeout, say) unwinds like Ctrl-C, through the `finally` that stops the servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    outcomes, status = [], 0
    for mode in modes:
        folder = Path(tempfile.mkdtemp(prefix=f"peerline-bench-posting-{mode}-"))
        site, keep = None, True
        try:
            outcome, site = run_mode(mode, args, folder)
            outcomes.append((outcome, site))
            keep = args.keep or outcome.failed or outcome.missed
        except KeyboardInterrupt:
            print("\ninterrupted; servers stopped", file=sys.stderr)
            status = 130
        except (RuntimeError, ValueError, OSError, sa.exc.SQLAlchemyError,
                subprocess.SubprocessError) as error:
            sys.stdout.flush()
            print(f"\nerror ({mode}): {error}", file=sys.stderr, flush=True)
            status = 1
        finally:
            if keep:
                logs = sorted(folder.glob("*.log"))
                print(f"  kept {folder}" + "".join(f"\n    {log}" for log in logs), flush=True)
            else:
                shutil.rmtree(folder, ignore_errors=True)
                if mode == "production":
                    with contextlib.suppress(sa.exc.SQLAlchemyError):
                        drop_database(sqlalchemy_url(args.database_url))
        if status == 130:
            return status

    if not outcomes:
        return status
    for outcome, site in outcomes:
        print_outcome(outcome, site.description)
    print(f"\ntargets: no post lost, no 5xx, POST p99 < {POST_P99_MS / 1000:.0f} s, findable p99 < "
          f"{FINDABLE_P99_S:.0f} s, every saved post findable within {FIND_TIMEOUT:.0f} s, no 429; "
          f"code {code_version()}")
    if status:
        return status
    if any(outcome.failed for outcome, _ in outcomes):
        print("FAILED: posts were lost, or requests failed (5xx, other 4xx, no answer)", file=sys.stderr)
        return 1
    if any(outcome.missed for outcome, _ in outcomes):
        print("below target: latency, findability or rate limits")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

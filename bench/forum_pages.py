"""Forum page benchmark: the pages people read most, anonymous and signed in, against a one-query baseline.

    python bench/forum_pages.py [--database-url URL] [--seconds 10] [--connections 32] [--workers 2]
                                [--single-seconds 3] [--page-cache both|off|on]
                                [--load-generator auto|wrk|python]
    make bench BENCH_ARGS="--seconds 20 --database-url postgresql://postgres@127.0.0.1:5432/peerline_bench"

Makes sure the generated community exists (bench/generate.py with a year of history: 10,000 threads,
100,000 posts, the desk's teams and escalations; bench/.data/community-history.sqlite3 by default),
serves `bench.bench_app:create()` with gunicorn (sync workers) on a free port of 127.0.0.1, and
measures, against that one server:

- the baseline (`/bench/baseline/<user id>`, one primary-key query, anonymous);
- as a visitor, as a member (the one with most posts) and as a staff member (one in a desk team):
  the thread page (`/t/<id>`, rotating over threads with 10-20 answers), the latest list (`/`) and
  the unanswered list (`/threads/unanswered`);
- as the staff member, the escalation queue (`/staff/queues`, their own or the urgent queue).

The member and the staff member are signed in as a browser is: a session recorded as signing in
records it, and the cookie Flask-Login sets for it (signed with a SECRET_KEY made for the run and
given to the server); the first page's anti-forgery token is kept in the cookie as a browser keeps
it. The sessions are ended afterwards. Per target: every sampled URL once (so per-process caches
are warm), a warm-up, a fixed-duration load from N concurrent connections, then a few seconds with
one connection for the median a person alone waits. The load comes from wrk when it is on PATH (a
Lua script collects latency percentiles and status codes), else from a built-in Python client.

Anonymous pages may be served from the app's page cache, which would hide what rendering costs; so
by default the whole measurement runs twice, on a server with the page cache off and on one with it
as configured (signed-in pages are never cached: only the anonymous ones are measured again), and
prints a table for each. Each table gives requests, requests per second, p50/p99 latency, each page's
throughput as a share of the baseline's against its target (anonymous pages 50%, signed-in pages
40%), the median with one connection against 5 ms, and "per CPU", that share per CPU-second of
gunicorn (and PostgreSQL), which other work on the machine disturbs much less. On Linux the run also
says where the CPU went, and warns when other processes were busy enough to make the numbers noisy.

Every response must be HTTP 200. Exit status: 0 when every page meets its targets in every table,
1 when any request failed or was not answered 200, 2 when a page missed a target.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import os
import random
import re
import resource
import secrets
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

HOST = "127.0.0.1"
# The community with a year of history (bench/generate.py --history): the desk's teams and open
# escalations make the staff pages what a staff member sees.
DEFAULT_DATABASE_URL = f"sqlite:///{ROOT / 'bench' / '.data' / 'community-history.sqlite3'}"
ANONYMOUS_SHARE = 0.50  # of the baseline's requests per second, for pages anyone reads
SIGNED_IN_SHARE = 0.40  # for the pages a signed-in member or staff member gets
SINGLE_P50_MS = 5.0  # every page's median latency with one connection
SAMPLE_SIZE = 200
THREAD_ANSWERS = (10, 20)
REQUEST_TIMEOUT = 10  # seconds, for wrk and the built-in client alike
NOISY_SHARE = 0.15  # other processes busier than this (share of one core) make a measurement noisy


@dataclass
class Target:
    name: str
    paths: list[str]
    who: str = "anonymous"  # or "member", "staff": whose session cookie the requests carry
    cookie: str = ""  # the Cookie header's value for a signed-in target (signed_in_cookies)

    @property
    def share_target(self) -> float:
        return ANONYMOUS_SHARE if self.who == "anonymous" else SIGNED_IN_SHARE


@dataclass
class Result:
    requests: int = 0
    seconds: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    non_200: int = 0
    errors: int = 0  # no response at all: refused, reset, timed out
    statuses: Counter = field(default_factory=Counter)
    cpu_seconds: float = 0.0  # the load generator's own CPU time
    server_cpu_seconds: float | None = None  # gunicorn's master and workers (Linux only)
    single_p50_ms: float | None = None  # the median with one connection (measured after the load)
    database_cpu_seconds: float = 0.0  # PostgreSQL backends serving the benchmark's database
    other_cpu_seconds: float | None = None  # everything else on the machine meanwhile (Linux only)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def failed(self) -> int:
        return self.non_200 + self.errors


# --- the data and the server ------------------------------------------------------------------------


def samples(database_url: str, seed: int = 1) -> tuple[list[int], list[int]]:
    """Thread ids with 10-20 answers (or the nearest there are) and user ids, each a fixed sample."""
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    low, high = THREAD_ANSWERS
    try:
        with engine.connect() as conn:
            threads = list(conn.scalars(sa.text(
                "SELECT id FROM threads WHERE state = 'visible' AND reply_count BETWEEN :low AND :high "
                "ORDER BY id"), {"low": low, "high": high}))
            if len(threads) < SAMPLE_SIZE:
                threads = list(conn.scalars(sa.text(
                    "SELECT id FROM threads WHERE state = 'visible' "
                    "ORDER BY abs(reply_count - :mid), id LIMIT :n"),
                    {"mid": (low + high) // 2, "n": SAMPLE_SIZE}))
            users = list(conn.scalars(sa.text("SELECT id FROM users ORDER BY id")))
    finally:
        engine.dispose()
    rng = random.Random(seed)
    return (rng.sample(threads, min(SAMPLE_SIZE, len(threads))),
            rng.sample(users, min(SAMPLE_SIZE, len(users))))


MEMBER_SQL = ("SELECT posts.author_id FROM posts JOIN users ON users.id = posts.author_id "
              "WHERE users.role = 'member' AND users.is_active_account GROUP BY posts.author_id "
              "ORDER BY count(*) DESC, posts.author_id LIMIT 1")
STAFF_SQL = ("SELECT users.id FROM users WHERE users.role = 'staff' AND users.is_active_account "
             "ORDER BY (SELECT count(*) FROM escalation_team_members m WHERE m.user_id = users.id) DESC, "
             "users.id LIMIT 1")


class SignedIn:
    """A member (the one with most posts) and a staff member (in a desk team) signed in as a browser
    would be: a session recorded by accounts.services.start_session, and the cookie Flask-Login
    would set for it, signed with the SECRET_KEY the served app is given. `end()` ends both."""

    def __init__(self, database_url: str, secret_key: str):
        os.environ.update(DATABASE_URL=database_url, SECRET_KEY=secret_key, PEERLINE_TICKER="0")
        from bench.bench_app import create

        self.app = create()
        self.tokens: dict[str, str] = {}
        self.cookies: dict[str, str] = {}
        self.user_ids: dict[str, int] = {}

    def start(self) -> None:
        from accounts import services
        from accounts.models import User
        from core.extensions import db

        with self.app.app_context():
            serializer = self.app.session_interface.get_signing_serializer(self.app)
            name = self.app.config["SESSION_COOKIE_NAME"]
            for who, sql in (("member", MEMBER_SQL), ("staff", STAFF_SQL)):
                user_id = db.session.scalar(sa.text(sql))
                if user_id is None:
                    raise RuntimeError(f"the community has no {who} to sign in as")
                token = services.start_session(db.session.get(User, user_id), user_agent="peerline-bench")
                self.user_ids[who], self.tokens[who] = user_id, token
                self.cookies[who] = f"{name}={serializer.dumps({'_user_id': token, '_fresh': False})}"

    def settle(self, port: int, target: Target) -> None:
        """The first signed-in page sets the session's anti-forgery token, as it does for a browser:
        take the cookie it sets, then check the page is served to the person signed in."""
        target.cookie = self.cookies[target.who]
        for _ in range(2):
            status, body, set_cookies = fetch(port, target.paths[0], REQUEST_TIMEOUT, target.cookie)
            if status != 200 or b'class="account-name"' not in body:
                raise RuntimeError(f"{target.paths[0]} as the {target.who} answered {status} "
                                   "without the account menu: the benchmark could not sign in")
            name = self.app.config["SESSION_COOKIE_NAME"]
            fresh = [c.split(";", 1)[0] for c in set_cookies if c.startswith(f"{name}=")]
            if not fresh:
                break
            target.cookie = self.cookies[target.who] = fresh[-1]

    def end(self) -> None:
        from accounts import services

        with self.app.app_context():
            for token in self.tokens.values():
                services.end_session(token)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def get(port: int, path: str, timeout: float = 10.0, cookie: str = "") -> tuple[int, bytes]:
    return fetch(port, path, timeout, cookie)[:2]


def fetch(port: int, path: str, timeout: float = 10.0, cookie: str = "") -> tuple[int, bytes, list[str]]:
    """A GET's status, body and Set-Cookie headers."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        response = conn.getresponse()
        return response.status, response.read(), response.headers.get_all("Set-Cookie") or []
    finally:
        conn.close()


def log_tail(path: Path, lines: int = 30) -> str:
    """The last lines of a log file, indented for a report ("" when it cannot be read)."""
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(f"  | {line}" for line in text[-lines:])


class Server:
    """gunicorn serving bench.bench_app from the repository root, its output in a temporary log file."""

    def __init__(self, database_url: str, workers: int, env: dict[str, str] | None = None):
        self.database_url, self.workers, self.env = database_url, workers, env or {}
        url = sa.engine.make_url(database_url)
        self.database_name = url.database if url.get_backend_name() == "postgresql" else None
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        handle, name = tempfile.mkstemp(prefix="peerline-bench-gunicorn-", suffix=".log")
        os.close(handle)
        self.log_path = Path(name)

    def start(self) -> None:
        env = dict(os.environ, DATABASE_URL=self.database_url, PEERLINE_TICKER="0", **self.env)
        command = [sys.executable, "-m", "gunicorn", "--workers", str(self.workers), "--worker-class", "sync",
                   "--bind", f"{HOST}:{self.port}", "bench.bench_app:create()"]
        with self.log_path.open("wb") as log:
            # A session of its own: Ctrl-C reaches this script, which then stops gunicorn in order.
            self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_until_ready(self, path: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with status {self.process.returncode}\n"
                                   f"{self.log_tail()}")
            try:
                status, _ = get(self.port, path, timeout=5)
            except OSError:
                time.sleep(0.2)
                continue
            if status == 200:
                return
            raise RuntimeError(f"{path} answered {status} instead of 200\n{self.log_tail()}")
        raise RuntimeError(f"gunicorn did not answer within {timeout:.0f} s\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()  # gunicorn's graceful shutdown
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log_tail(self, lines: int = 30) -> str:
        return log_tail(self.log_path, lines)


# --- where the CPU went (Linux /proc; elsewhere these report nothing) ------------------------------

TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def machine_busy_seconds() -> float | None:
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, _irq, _softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + steal) / TICK  # interrupts: mostly our own loopback traffic


def server_seconds(root_pid: int, database: str | None) -> tuple[float, float] | None:
    """CPU seconds of gunicorn (the master and its workers) and of the PostgreSQL backends serving
    `database` (with any parallel workers); None where /proc is not there to read."""
    served, queried, found = 0.0, 0.0, False
    marker = f" {database} ".encode() if database else None
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
            cmdline = (stat.parent / "cmdline").read_bytes() if marker else b""
        except OSError:
            continue
        fields = text[text.rindex(")") + 2:].split()
        pid, ppid, seconds = int(stat.parent.name), int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK
        if pid == root_pid or ppid == root_pid:
            served += seconds
            found = True
        elif marker and cmdline.startswith(b"postgres: ") and (
                marker in cmdline or b"parallel worker" in cmdline):
            queried += seconds
    return (served, queried) if found else None


# --- load from wrk ----------------------------------------------------------------------------------

WRK_SCRIPT = """
local paths = {%(paths)s}
local headers = {%(headers)s}
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  non200 = 0
  statuses = ""
  counter = id * 7919
end

function request()
  counter = counter + 1
  return wrk.format("GET", paths[(counter %% #paths) + 1], headers)
end

function response(status, headers, body)
  if status ~= 200 then
    non200 = non200 + 1
    statuses = statuses .. status .. " "
  end
end

function done(summary, latency, requests)
  local bad, codes = 0, ""
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("non200")
    codes = codes .. thread:get("statuses")
  end
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%%d duration_us=%%d p50_us=%%d p99_us=%%d non200=%%d errors=%%d codes=%%s\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), bad,
    e.connect + e.read + e.write + e.timeout, codes ~= "" and codes:gsub(" ", ",") or "-"))
end
"""


def wrk_load(port: int, paths: list[str], seconds: float, connections: int, cookie: str = "") -> Result:
    lua = WRK_SCRIPT % {"paths": ", ".join(f'"{p}"' for p in paths),
                        "headers": f'["Cookie"] = "{cookie}"' if cookie else ""}
    with tempfile.NamedTemporaryFile("w", prefix="peerline-bench-", suffix=".lua", delete=False) as handle:
        handle.write(lua)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        command = ["wrk", "--threads", str(min(2, connections)), "--connections", str(connections),
                   "--duration", f"{max(1, round(seconds))}s", "--timeout", f"{REQUEST_TIMEOUT}s",
                   "--script", handle.name, f"http://{HOST}:{port}"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=False)
    finally:
        os.unlink(handle.name)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    match = re.search(r"BENCH requests=(\d+) duration_us=(\d+) p50_us=(\d+) p99_us=(\d+) non200=(\d+) "
                      r"errors=(\d+) codes=(\S+)", done.stdout)
    if done.returncode != 0 or not match:
        raise RuntimeError(f"wrk failed (status {done.returncode}):\n{done.stdout}\n{done.stderr}")
    requests, duration, p50, p99, non_200, errors = (int(v) for v in match.groups()[:6])
    codes = Counter(int(c) for c in match.group(7).split(",") if c.isdigit())
    return Result(requests=requests, seconds=duration / 1e6, p50_ms=p50 / 1000, p99_ms=p99 / 1000,
                  non_200=non_200, errors=errors, statuses=codes,
                  cpu_seconds=(after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime))


# --- load from Python -------------------------------------------------------------------------------


class BadResponse(Exception):
    pass


def parse_response(buffer: bytearray, eof: bool) -> tuple[int, bool, int] | None:
    """(status, keep-alive, bytes used) once `buffer` holds a whole HTTP/1.1 response, else None.
    Bodies may have a Content-Length, be chunked, or run until the server closes (`eof`)."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        if eof:
            raise BadResponse("connection closed in the middle of the headers")
        return None
    lines = bytes(buffer[:end]).decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise BadResponse(f"bad status line {lines[0]!r}")
    length, chunked, keep_alive = None, False, parts[0] == "HTTP/1.1"
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding":
            chunked = "chunked" in value
        elif name == "connection":
            keep_alive = "close" not in value and (keep_alive or "keep-alive" in value)
    start = end + 4
    if chunked:
        position = start
        while True:
            line_end = buffer.find(b"\r\n", position)
            if line_end < 0:
                break
            size = int(bytes(buffer[position:line_end]).split(b";")[0], 16)
            position = line_end + 2 + size + 2
            if position > len(buffer):
                break
            if size == 0:
                return int(parts[1]), keep_alive, position
    elif length is not None:
        if len(buffer) - start >= length:
            return int(parts[1]), keep_alive, start + length
    elif eof:
        return int(parts[1]), False, len(buffer)
    if eof:
        raise BadResponse("connection closed in the middle of the body")
    return None


class _Connection:
    """One client connection's state: a socket (reopened when the server closes it) and a request."""

    __slots__ = ("sock", "index", "started", "buffer")

    def __init__(self, index: int):
        self.sock: socket.socket | None = None
        self.index, self.started, self.buffer = index, 0.0, bytearray()


def python_load(port: int, paths: list[str], seconds: float, connections: int, cookie: str = "") -> Result:
    """`connections` HTTP/1.1 clients on non-blocking sockets and one selector, in this thread.

    Plain sockets and epoll (selectors) rather than asyncio streams: gunicorn's sync workers close
    every connection, so each request pays for a new connection, and this keeps that cheap. Latency
    is measured from opening the connection (or sending, on a kept-alive one) to the last byte.
    """
    extra = f"Cookie: {cookie}\r\n" if cookie else ""
    requests = [f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUser-Agent: peerline-bench\r\n"
                f"Accept: text/html\r\n{extra}\r\n".encode() for path in paths]
    result, latencies = Result(), []
    selector = selectors.DefaultSelector()
    clock, address, count = time.perf_counter, (HOST, port), len(requests)
    read, write = selectors.EVENT_READ, selectors.EVENT_WRITE

    def begin(conn: _Connection) -> None:
        conn.started = clock()
        conn.buffer.clear()
        if conn.sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.connect_ex(address)  # EINPROGRESS; writable once connected
            conn.sock = sock
            selector.register(sock, write, conn)
        else:
            send(conn)

    def send(conn: _Connection) -> None:
        conn.sock.send(requests[conn.index % count])  # a few hundred bytes: one send
        conn.index += 1
        selector.modify(conn.sock, read, conn)

    def drop(conn: _Connection) -> None:
        selector.unregister(conn.sock)
        conn.sock.close()
        conn.sock = None

    pool = [_Connection(n * count // connections) for n in range(connections)]
    before = time.process_time()
    started = clock()
    deadline = started + seconds
    for conn in pool:
        begin(conn)
    active = len(pool)
    while active:
        if clock() > deadline + REQUEST_TIMEOUT:  # the server stopped answering: give up on the rest
            result.errors += active
            break
        for key, events in selector.select(timeout=1.0):
            conn = key.data
            try:
                if events & write:
                    error = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if error:
                        raise OSError(error, os.strerror(error))
                    send(conn)
                    continue
                data = conn.sock.recv(262144)
                conn.buffer += data
                parsed = parse_response(conn.buffer, eof=not data)
                if parsed is None:
                    continue
            except (OSError, BadResponse, ValueError):
                result.errors += 1
                drop(conn)
                time.sleep(0.01)  # a refused connection would otherwise spin
            else:
                latencies.append(clock() - conn.started)
                status, keep_alive, _ = parsed
                if status != 200:
                    result.non_200 += 1
                    result.statuses[status] += 1
                if not keep_alive:  # gunicorn's sync workers close after every response
                    drop(conn)
            if clock() < deadline:
                begin(conn)
            else:
                if conn.sock is not None:
                    drop(conn)
                active -= 1
    selector.close()
    result.seconds = clock() - started
    result.cpu_seconds = time.process_time() - before
    result.requests = len(latencies)
    if latencies:
        latencies.sort()
        result.p50_ms = latencies[int(0.50 * (len(latencies) - 1))] * 1000
        result.p99_ms = latencies[int(0.99 * (len(latencies) - 1))] * 1000
    return result


# --- the run ----------------------------------------------------------------------------------------


def measure(generator: str, server: Server, target: Target, seconds: int, warmup: int, connections: int,
            single_seconds: float) -> tuple[Result, Result]:
    load = wrk_load if generator == "wrk" else python_load
    warm = (load(server.port, target.paths, warmup, connections, target.cookie) if warmup > 0
            else Result())
    busy, served = machine_busy_seconds(), server_seconds(server.process.pid, server.database_name)
    result = load(server.port, target.paths, seconds, connections, target.cookie)
    busy_after = machine_busy_seconds()
    served_after = server_seconds(server.process.pid, server.database_name)
    if None not in (busy, served, busy_after, served_after):
        result.server_cpu_seconds = served_after[0] - served[0]
        result.database_cpu_seconds = max(0.0, served_after[1] - served[1])
        result.other_cpu_seconds = max(0.0, (busy_after - busy) - result.server_cpu_seconds
                                       - result.database_cpu_seconds - result.cpu_seconds)
    if single_seconds > 0:  # one person at a time: how long a page takes when nothing queues
        single = load(server.port, target.paths, single_seconds, 1, target.cookie)
        result.single_p50_ms = single.p50_ms
        warm.non_200 += single.non_200
        warm.errors += single.errors
        warm.statuses += single.statuses
    return warm, result


def cpu_note(result: Result) -> str:
    def share(value: float) -> str:
        return f"{value / result.seconds:.0%}"

    note = f"CPU, % of one core: load generator {share(result.cpu_seconds)}"
    if result.server_cpu_seconds is not None:
        note += f", gunicorn {share(result.server_cpu_seconds)}"
        if result.database_cpu_seconds:
            note += f", postgres {share(result.database_cpu_seconds)}"
        note += f", the rest {share(result.other_cpu_seconds)}"
    return note


def print_table(rows: list[tuple[Target, Result]], baseline: Result) -> list[str]:
    """The results table; returns the names of pages that missed a target (their share of the
    baseline's requests per second, or their median with one connection).

    "per CPU" compares requests per CPU-second of gunicorn (and PostgreSQL) instead of per second:
    it moves much less than rps when other processes share the machine (the verdict uses rps).
    """
    header = (f"{'target':<28} {'requests':>9} {'rps':>8} {'p50 ms':>7} {'p99 ms':>7} {'% of base':>9} "
              f"{'target':>6} {'1-conn p50':>10} {'result':>6} {'non-200':>7} {'per CPU':>7}")
    print(header)
    print("-" * len(header))
    missed = []
    for target, result in rows:
        share = result.rps / baseline.rps if baseline.rps else 0.0
        single = "-" if result.single_p50_ms is None else f"{result.single_p50_ms:.1f}"
        if target.name == "baseline":
            verdict, wanted = "-", "-"
        else:
            fast = result.single_p50_ms is None or result.single_p50_ms < SINGLE_P50_MS
            verdict = "PASS" if share >= target.share_target and fast else "FAIL"
            wanted = f"{target.share_target:.0%}"
            if verdict == "FAIL":
                missed.append(label(target))
        per_cpu = "-"
        if result.server_cpu_seconds and baseline.server_cpu_seconds:
            base = baseline.requests / (baseline.server_cpu_seconds + baseline.database_cpu_seconds)
            used = result.server_cpu_seconds + result.database_cpu_seconds
            per_cpu = f"{result.requests / used / base:.0%}"
        print(f"{label(target):<28} {result.requests:>9,} {result.rps:>8,.0f} {result.p50_ms:>7.1f} "
              f"{result.p99_ms:>7.1f} {share:>9.0%} {wanted:>6} {single:>10} {verdict:>6} "
              f"{result.failed:>7,} {per_cpu:>7}")
    return missed


def label(target: Target) -> str:
    return target.name if target.who == "anonymous" or target.name == "baseline" \
        else f"{target.name} ({target.who})"


PAGE_CACHE_MODES = {
    "off": "page cache off (PEERLINE_PAGE_CACHE_SECONDS=0): what rendering costs, as signed-in readers "
           "and everyone right after a change get it",
    "on": "page cache as configured ({setting}): what anonymous readers get",
}


def prime(port: int, paths: list[str], parallel: int, cookie: str = "") -> Result:
    """Request every distinct path once (caches filled for the whole sample), counting non-200s."""
    result = Result()

    def one(path: str) -> None:
        try:
            status, _ = get(port, path, timeout=REQUEST_TIMEOUT, cookie=cookie)
        except OSError:
            result.errors += 1
            return
        if status != 200:
            result.non_200 += 1
            result.statuses[status] += 1

    with ThreadPoolExecutor(max_workers=parallel) as pool:
        list(pool.map(one, dict.fromkeys(paths)))
    return result


def run_mode(mode: str, url: str, targets: list[Target], generator: str, args, signed_in: SignedIn
             ) -> tuple[list, int, Server]:
    """Serve the app with one page-cache setting and measure every target against it (signed-in
    pages are never cached, so with the cache on only the anonymous ones)."""
    env = {"PEERLINE_PAGE_CACHE_SECONDS": "0"} if mode == "off" else {}
    if mode == "on":
        targets = [target for target in targets if target.who == "anonymous"]
    server = Server(url, args.workers, dict(env, SECRET_KEY=os.environ["SECRET_KEY"]))
    rows: list[tuple[Target, Result]] = []
    failures = 0
    try:
        server.start()
        server.wait_until_ready(targets[0].paths[0])
        print(f"\n{server_heading(mode)}\n  gunicorn: {args.workers} sync workers on {HOST}:{server.port} "
              f"(log: {server.log_path})", flush=True)
        for target in targets:
            print(f"  {label(target)} ...", end=" ", flush=True)
            if target.who != "anonymous":
                signed_in.settle(server.port, target)
            primed = prime(server.port, target.paths, args.workers, target.cookie)
            warm, result = measure(generator, server, target, args.seconds, args.warmup, args.connections,
                                   args.single_seconds)
            failures += primed.failed + warm.failed + result.failed
            rows.append((target, result))
            single = "" if result.single_p50_ms is None else f", p50 {result.single_p50_ms:.1f} ms alone"
            print(f"{result.rps:,.0f} rps{single} ({cpu_note(result)})", flush=True)
            if primed.failed or warm.failed or result.failed:
                every = (primed, warm, result)
                codes = dict(sum((r.statuses for r in every), Counter()))
                print(f"    NOT 200: {sum(r.non_200 for r in every)} responses {codes or ''}, "
                      f"{sum(r.errors for r in every)} requests without a response", flush=True)
    finally:
        server.stop()
    return rows, failures, server


def code_version() -> str:
    """The commit being measured, for the record (and whether the work tree differs from it)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return f"{commit} plus uncommitted changes" if dirty else commit


def server_heading(mode: str) -> str:
    value = os.environ.get("PEERLINE_PAGE_CACHE_SECONDS")
    setting = f"={value}" if value else " unset: the app's default"
    setting = "PEERLINE_PAGE_CACHE_SECONDS" + setting
    return PAGE_CACHE_MODES[mode].format(setting=setting)


def main(argv=None) -> int:
    from bench.generate import generate, print_counts, shown, sqlalchemy_url

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL,
                        help="the community to serve, generated if missing (default: %(default)s)")
    parser.add_argument("--seconds", type=int, default=10, help="measured seconds per target")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up seconds per target, not measured")
    parser.add_argument("--single-seconds", type=int, default=3,
                        help="seconds per target with one connection, for its median (0: skip)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--page-cache", choices=("both", "off", "on"), default="both",
                        help="measure with the anonymous page cache off, as configured, or both (default)")
    parser.add_argument("--threads", type=int, default=10_000, help="threads to generate if missing")
    parser.add_argument("--posts", type=int, default=100_000, help="posts to generate if missing")
    parser.add_argument("--load-generator", choices=("auto", "wrk", "python"), default="auto",
                        help="auto: wrk when it is on PATH, else the built-in Python client")
    args = parser.parse_args(argv)
    if min(args.seconds, args.connections, args.workers) < 1 or min(args.warmup, args.single_seconds) < 0:
        parser.error("--seconds, --connections and --workers must be at least 1")
    generator = args.load_generator
    if generator == "auto":
        generator = "wrk" if shutil.which("wrk") else "python"
    elif generator == "wrk" and not shutil.which("wrk"):
        parser.error("wrk is not on PATH (Debian: apt-get install wrk)")
    if importlib.util.find_spec("gunicorn") is None:
        print(f"error: gunicorn is not installed for {sys.executable} (make install)", file=sys.stderr)
        return 1

    try:
        url = sqlalchemy_url(args.database_url)
        community = generate(url, threads=args.threads, posts=args.posts, history=True)
    except (RuntimeError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print_counts(community["counts"])
    thread_ids, user_ids = samples(url)
    pages = [("thread page", [f"/t/{tid}" for tid in thread_ids]), ("latest list", ["/"]),
             ("unanswered list", ["/threads/unanswered"])]
    targets = [Target("baseline", [f"/bench/baseline/{uid}" for uid in user_ids])]
    targets += [Target(name, paths) for name, paths in pages]
    targets += [Target(name, paths, "member") for name, paths in pages]
    targets += [Target(name, paths, "staff") for name, paths in pages]
    targets.append(Target("escalation queue", ["/staff/queues"], "staff"))
    os.environ["SECRET_KEY"] = secrets.token_urlsafe(32)  # the served app signs the cookies with it too
    signed_in = SignedIn(url, os.environ["SECRET_KEY"])
    described = ("wrk (a Lua script collects latency percentiles and status codes)" if generator == "wrk"
                 else "the built-in Python client (non-blocking sockets, one selector)")
    print(f"\ncode: {code_version()}\ndatabase: {shown(url)}")
    print(f"load: {args.connections} connections from {described}; per target: every sampled URL once, "
          f"{args.warmup} s warm-up, {args.seconds} s measured, then {args.single_seconds} s with one "
          "connection; GETs as an anonymous reader, a member and a staff member")
    print(f"thread page: {len(thread_ids)} threads with {THREAD_ANSWERS[0]}-{THREAD_ANSWERS[1]} answers, "
          "rotating", flush=True)

    # SIGTERM (a CI timeout, say) unwinds like Ctrl-C, through the `finally` that stops gunicorn.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    tables, failed, logs = [], 0, []
    try:
        signed_in.start()
        print(f"signed in: member #{signed_in.user_ids['member']} (the one with most posts), staff "
              f"#{signed_in.user_ids['staff']} (in a desk team)", flush=True)
        for mode in ("off", "on") if args.page_cache == "both" else (args.page_cache,):
            rows, failures, server = run_mode(mode, url, targets, generator, args, signed_in)
            tables.append((mode, rows))
            failed += failures
            logs.append(server.log_path)
    except KeyboardInterrupt:
        print("\ninterrupted; gunicorn stopped", file=sys.stderr)
        return 130
    except RuntimeError as error:
        print(f"\nerror: {error}", file=sys.stderr)
        return 1
    finally:
        if signed_in.tokens:
            signed_in.end()

    missed = []
    for mode, rows in tables:
        print(f"\n{server_heading(mode)}\n")
        missed += [f"{name} (page cache {mode})" for name in print_table(rows, rows[0][1])]
    print(f"\ntargets: each anonymous page at least {ANONYMOUS_SHARE:.0%} and each signed-in page at least "
          f"{SIGNED_IN_SHARE:.0%} of the baseline's requests per second, same server, same run; every "
          f"page's median under {SINGLE_P50_MS:.0f} ms with one connection")
    busy = [f"{target.name} (page cache {mode})" for mode, rows in tables for target, result in rows
            if (result.other_cpu_seconds or 0) > NOISY_SHARE * result.seconds]
    if busy:
        print(f"WARNING: other processes used more than {NOISY_SHARE:.0%} of a core during "
              f"{', '.join(busy)}: those numbers are noisy, run again on a quiet machine")
    if failed:
        print(f"\nFAILED: {failed:,} requests were not answered HTTP 200 (priming and warm-up included); "
              f"see the gunicorn logs {', '.join(map(str, logs))}", file=sys.stderr)
        return 1
    for log in logs:
        log.unlink(missing_ok=True)
    if missed:
        print(f"below target: {', '.join(missed)}")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

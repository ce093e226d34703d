"""Escalation sweep benchmark: the sweep over a generated community of 100,000 open threads.

    python bench/escalation_sweep.py [--database-url URL] [--threads 100000] [--posts 300000]
                                     [--users 10000] [--new 100] [--repeat 5] [--explain] [--keep]
    make bench-escalation BENCH_ARGS="--threads 20000 --posts 100000"

Makes sure the generated community exists (bench/generate.py makes or reuses it; by default its own
file, bench/.data/community-100k.sqlite3, so the 10,000-thread community of the other benchmarks
stays as it is) and works on a copy of it (SQLite: a backup into a temporary folder; PostgreSQL: a
database made from it as a template), so the generated community is never written to. On the copy
it sets up a desk like the demo's: two teams of the community's staff (one assigning round-robin),
policies on six of the eight categories (business hours in Berlin with German holidays, and around
the clock; the unresolved rule after 14 days on one) and the site default on the others. Then, with
the clock stopped at one moment T (so that no thread crosses its window between two sweeps):

1. baselines, each --repeat times: a plain count of the open threads (one scan of the threads
   table), and the forum's unanswered list (`forum.queries.list_threads("unanswered")`: its counts
   and first page, what /threads/unanswered reads);
2. the first sweep (`escalation.rules.sweep`), which escalates every thread past its window that
   was never escalated: thousands at once, as when the desk is switched on over a live forum.
   Reported, not held to the target;
3. the steady state: the sweep again --repeat times with nothing changed. It must escalate nothing,
   write nothing (every INSERT, UPDATE and DELETE is counted), and take under 10 s (the issue's
   target), compared with the baselines;
4. --new threads asked through forum.services.create_thread five hours before T (past every peer
   window), then one sweep: it must escalate exactly those, writing rows for them only.

On PostgreSQL the first sweep leaves the planner's statistics of the escalation tables stale (they
were empty when last analyzed); one sweep is measured as it is, then the tables are analyzed, as
autovacuum would soon do, before the steady state is measured.

Every SQL statement the sweeps run is recorded (count, time, rows written per table); --explain
prints the plans of the steady-state sweep's slowest statements (EXPLAIN QUERY PLAN on SQLite,
EXPLAIN ANALYZE on PostgreSQL). Exit status: 0 when the targets are met, 1 on an error, 2 when a
target was missed.
"""

from __future__ import annotations

import argparse
import re
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_DATABASE_URL = f"sqlite:///{ROOT / 'bench' / '.data' / 'community-100k.sqlite3'}"
TARGET_SECONDS = 10.0
NEW_THREADS_AGE = timedelta(hours=5)  # past every peer window of the desk below (the longest is 4 h)
WRITES = ("INSERT", "UPDATE", "DELETE")
_TABLE = re.compile(r'^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)"?', re.IGNORECASE)


# --- the working copy --------------------------------------------------------------------------------


def working_copy(url: str, work: Path, suffix: str = "sweep") -> str:
    """A copy of the generated community to measure on (SQLite: a backup into `work`; PostgreSQL:
    a database `<name>_<suffix>` made from it as a template): the generated one is never written to."""
    from bench.generate import _maintenance_engine
    from bench.search import copy_database

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        target = work / "community.sqlite3"
        copy_database(parsed.database, target)
        return f"sqlite:///{target}"
    copy_name = f"{parsed.database}_{suffix}"
    engine = _maintenance_engine(parsed)
    try:
        with engine.connect() as conn:
            quote = conn.dialect.identifier_preparer.quote
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {quote(copy_name)} WITH (FORCE)")
            conn.exec_driver_sql(f"CREATE DATABASE {quote(copy_name)} TEMPLATE {quote(parsed.database)}")
    finally:
        engine.dispose()
    return parsed.set(database=copy_name).render_as_string(hide_password=False)


def drop_copy(copy_url: str) -> None:
    from bench.generate import drop_database

    if make_url(copy_url).get_backend_name() == "postgresql":
        drop_database(copy_url)


def end_copy(copy_url: str | None, work: Path, keep: bool) -> None:
    """Drop the working copy and its folder, or with --keep say where they are."""
    from bench.generate import shown

    if keep:
        kept_database = copy_url and make_url(copy_url).get_backend_name() == "postgresql"
        print(f"\nkept {work}" + (f" and {shown(copy_url)}" if kept_database else ""))
        return
    if copy_url:
        drop_copy(copy_url)
    shutil.rmtree(work, ignore_errors=True)


def make_app(database_url: str, work: Path, **config):
    """The app on the copy: no ticker, no Redis, and the jobs the sweep enqueues (announcements of
    new escalations) held in the outbox, so nothing but the measured work touches the database;
    `config` adds to that."""
    from app import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": database_url, "PEERLINE_TICKER": False, "REDIS_URL": None,
                       "PEERLINE_JOBS_HELD": True, "PEERLINE_PAGE_CACHE_SECONDS": 0,
                       "PEERLINE_MEMO_SECONDS": 0, "SEARCH_INDEX_DIR": str(work / "search-index"),
                       "MAIL_OUTBOX_DIR": str(work / "mail"), **config})


# --- what the sweep runs -------------------------------------------------------------------------------


@dataclass
class Statement:
    sql: str
    params: object
    seconds: float
    rows: int
    verb: str
    table: str | None
    many: bool


@dataclass
class Recorder:
    """Every statement the engine runs while `on`: its time, and the rows INSERT/UPDATE/DELETE wrote."""

    on: bool = False
    statements: list[Statement] = field(default_factory=list)
    _started: dict = field(default_factory=dict)

    def install(self, engine: sa.Engine) -> None:
        sa.event.listen(engine, "before_cursor_execute", self._before)
        sa.event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if self.on:
            self._started[id(cursor)] = time.perf_counter()

    def _after(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if not self.on:
            return
        seconds = time.perf_counter() - self._started.pop(id(cursor), time.perf_counter())
        verb = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else ""
        match = _TABLE.match(statement)
        rows = cursor.rowcount if verb in WRITES and cursor.rowcount and cursor.rowcount > 0 else 0
        self.statements.append(Statement(statement, parameters, seconds, rows, verb,
                                         match.group(1) if match else None, executemany))

    def start(self) -> None:
        self.statements, self.on = [], True

    def stop(self) -> list[Statement]:
        self.on = False
        return self.statements


def written(statements: list[Statement]) -> dict[str, int]:
    """Rows written, by "VERB table"."""
    rows: Counter = Counter()
    for s in statements:
        if s.verb in WRITES:
            rows[f"{s.verb} {s.table}"] += max(s.rows, 1)
    return dict(sorted(rows.items()))


def explain(statement: Statement, jit_off: bool = False) -> list[str]:
    """The plan of one recorded statement, run again with its own parameters on the raw connection
    (on PostgreSQL with JIT off when the code that ran it turns it off)."""
    from core.extensions import db

    dialect = db.engine.dialect.name
    prefix = "EXPLAIN QUERY PLAN " if dialect == "sqlite" else "EXPLAIN (ANALYZE, BUFFERS) "
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        if jit_off and dialect == "postgresql":
            cursor.execute("SET LOCAL jit = off")
        cursor.execute(prefix + statement.sql, statement.params or ())
        rows = cursor.fetchall()
        raw.rollback()
    finally:
        raw.close()
    if dialect == "sqlite":
        return [f"{'  ' * (1 + (row[1] != 0))}{row[-1]}" for row in rows]
    return [f"  {row[0]}" for row in rows]


# --- the desk --------------------------------------------------------------------------------------------


BILLING = ("getting-started", "invoicing-payments", "tax-reports", "payroll-expenses")
INTEGRATIONS = ("integrations-api", "bank-feeds")
UNRESOLVED_CATEGORY, UNRESOLVED_DAYS = "tax-reports", 14


def set_up_desk() -> dict[str, int]:
    """Two teams of the community's staff, policies on six categories and the site default."""
    from accounts.models import STAFF, User
    from core.extensions import db
    from escalation.hours import Calendar
    from escalation.models import CategoryTeam, Policy, Team
    from forum.models import Category

    staff = list(db.session.scalars(sa.select(User).where(User.role == STAFF).order_by(User.id)))
    categories = {c.slug: c for c in db.session.scalars(sa.select(Category))}
    berlin = Calendar.build(timezone="Europe/Berlin", workdays=(0, 1, 2, 3, 4), opens="09:00", closes="18:00",
                            holiday_country="DE").to_json()
    always = Calendar.build(timezone="UTC", around_the_clock=True).to_json()
    half = len(staff) // 2
    teams = (
        (Team(slug="billing", name="Billing", auto_assign=False, members=staff[:half]), BILLING,
         {"peer_window_s": 4 * 3600, "target_s": 3600, "urgent_target_s": 900, "calendar": berlin}),
        (Team(slug="integrations", name="Integrations", auto_assign=True, members=staff[half:]), INTEGRATIONS,
         {"peer_window_s": 3 * 3600, "target_s": 7200, "urgent_target_s": 1800, "calendar": always}),
    )
    policies = 0
    for team, slugs, values in teams:
        db.session.add(team)
        db.session.flush()
        for slug in slugs:
            if slug in categories:
                db.session.add(CategoryTeam(category_id=categories[slug].id, team_id=team.id))
                db.session.add(Policy(category_id=categories[slug].id, urgent_terms="outage, charged twice",
                                      unresolved_after_days=UNRESOLVED_DAYS if slug == UNRESOLVED_CATEGORY
                                      else None, **values))
                policies += 1
    db.session.add(Policy(category_id=None, peer_window_s=2 * 3600, target_s=3600, urgent_target_s=900,
                          calendar=always))
    db.session.commit()
    return {"staff": len(staff), "policies": policies + 1}


# --- measuring ---------------------------------------------------------------------------------------------


@dataclass
class Run:
    seconds: float
    counts: dict
    statements: list[Statement]

    @property
    def queries(self) -> int:
        return len(self.statements)


def sweep_once(recorder: Recorder, now) -> Run:
    from core.extensions import db
    from escalation import rules

    db.session.remove()
    recorder.start()
    started = time.perf_counter()
    counts = rules.sweep(now)
    seconds = time.perf_counter() - started
    statements = recorder.stop()
    db.session.remove()
    return Run(seconds, counts, statements)


def timed(func, repeat: int) -> list[float]:
    from core.extensions import db

    times = []
    for _ in range(repeat):
        db.session.remove()
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
        db.session.remove()
    return times


def count_open_threads() -> int:
    from core.extensions import db
    from forum.models import VISIBLE, Thread

    return db.session.scalar(sa.select(sa.func.count()).select_from(Thread).where(
        Thread.state == VISIBLE, Thread.closed_at.is_(None), Thread.is_locked.is_(False)))


def unanswered_list() -> int:
    from forum import queries

    page, counts = queries.list_threads("unanswered")
    return counts["unanswered"]


def ask_new_threads(count: int, when, seed: int = 1) -> list[int]:
    """`count` questions through forum.services.create_thread at `when`, by members, in every category."""
    import random

    from accounts.models import MEMBER, User
    from core import clock
    from core.extensions import db
    from forum import services as forum_services
    from forum.models import Category

    rng = random.Random(seed)
    members = list(db.session.scalars(
        sa.select(User).where(User.role == MEMBER, User.is_active_account.is_(True))
        .order_by(User.id).limit(2000)))
    categories = list(db.session.scalars(sa.select(Category.id).order_by(Category.id)))
    made = []
    for n in range(count):
        clock.set(when + timedelta(seconds=n))
        thread = forum_services.create_thread(
            rng.choice(members), categories[n % len(categories)],
            f"Benchmark question {n + 1}: the sweep should find this one",
            "Nobody has answered this yet, and the peer window is over.")
        made.append(thread.id)
    db.session.remove()
    return made


ANALYZED = ("escalations", "escalation_reasons", "escalation_assignments", "escalation_people",
            "escalation_peer_calls", "thread_events", "audit_log", "job_outbox")


def analyze_after_burst(recorder: Recorder, now, plans: bool) -> None:
    """PostgreSQL plans from statistics that the first sweep's thousands of new rows made stale:
    one sweep as they are, then ANALYZE, as autovacuum does soon after (when it is on)."""
    from core.extensions import db

    setting = db.session.execute(sa.text("SHOW autovacuum")).scalar()
    db.session.remove()
    stale = sweep_once(recorder, now)
    print(f"\nthe same sweep right after that burst, before the new rows are analyzed (autovacuum is "
          f"{setting} on this server): {describe(stale)}")
    print_slowest(stale, 2, plans, "that sweep")
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE " + ", ".join(ANALYZED))
    print(f"ANALYZE {', '.join(ANALYZED)}: what autovacuum does after that many new rows\n", flush=True)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def describe(run: Run) -> str:
    write_rows = written(run.statements)
    writes = ", ".join(f"{key} {value:,}" for key, value in write_rows.items()) or "none"
    in_sql = sum(s.seconds for s in run.statements)
    return (f"{ms(run.seconds)}; escalated {run.counts['unanswered']:,} unanswered and "
            f"{run.counts['unresolved']:,} unresolved, asked advocates about {run.counts['peer_calls']:,}; "
            f"{run.queries:,} statements taking {ms(in_sql)} in the database driver; rows written: {writes}")


def print_slowest(run: Run, limit: int, plans: bool, label: str) -> None:
    groups: dict[str, list[Statement]] = defaultdict(list)
    for s in run.statements:
        groups[" ".join(s.sql.split())].append(s)
    ranked = sorted(groups.items(), key=lambda item: -sum(s.seconds for s in item[1]))[:limit]
    print(f"  slowest statements of {label} (of {len(groups)} distinct, by their total time):")
    for sql, runs in ranked:
        total = sum(s.seconds for s in runs)
        print(f"  - {ms(total)} in {len(runs)} run(s): {sql[:300]}{'…' if len(sql) > 300 else ''}")
        if plans and not runs[0].many and runs[0].verb in ("SELECT", "WITH"):
            for line in explain(max(runs, key=lambda s: s.seconds)):
                print(f"      {line}")


def main(argv=None) -> int:
    from bench.forum_pages import code_version, machine_busy_seconds
    from bench.generate import generate, print_counts, shown, sqlalchemy_url
    from bench.search import print_noise

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL,
                        help="SQLite or PostgreSQL, generated if missing, never written to "
                        "(default: %(default)s)")
    parser.add_argument("--threads", type=int, default=100_000, help="threads to generate if missing")
    parser.add_argument("--posts", type=int, default=300_000, help="posts to generate if missing")
    parser.add_argument("--users", type=int, default=10_000, help="people to generate if missing")
    parser.add_argument("--new", type=int, default=100,
                        help="new threads past their window for the last sweep")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each baseline and steady-state sweep")
    parser.add_argument("--explain", action="store_true", help="print the plans of the slowest statements")
    parser.add_argument("--keep", action="store_true", help="keep the working copy")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.new < 1:
        parser.error("--repeat and --new must be at least 1")

    try:
        url = sqlalchemy_url(args.database_url)
        community = generate(url, threads=args.threads, posts=args.posts, users=args.users)
    except (RuntimeError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print_counts(community["counts"])
    work = Path(tempfile.mkdtemp(prefix="peerline-bench-escalation-"))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))  # still drop the copy
    copy_url = None
    missed: list[str] = []
    try:
        copy_url = working_copy(url, work)
        print(f"\ncode: {code_version()}\ndatabase: {shown(url)}, copied to {shown(copy_url)}", flush=True)
        from core import clock
        from core.extensions import db

        app = make_app(copy_url, work)
        with app.app_context():
            recorder = Recorder()
            recorder.install(db.engine)
            desk = set_up_desk()
            moment = clock.now()
            clock.set(moment)  # every sweep at the same moment T: no thread crosses its window meanwhile
            print(f"desk: 2 teams of {desk['staff']} staff, {desk['policies']} policies; "
                  f"the clock stopped at {moment.isoformat(timespec='seconds')}\n", flush=True)

            open_threads = count_open_threads()
            counting = timed(count_open_threads, args.repeat)
            unanswered = unanswered_list()
            listing = timed(unanswered_list, args.repeat)
            baseline, listed = statistics.median(counting), statistics.median(listing)
            print(f"baseline: SELECT count(*) of the {open_threads:,} open threads: median {ms(baseline)} "
                  f"(min {ms(min(counting))}, {args.repeat} runs)")
            print(f"baseline: the forum's unanswered list ({unanswered:,} threads; counts and first page): "
                  f"median {ms(listed)} (min {ms(min(listing))})\n", flush=True)

            busy, cpu = machine_busy_seconds(), time.process_time()
            first = sweep_once(recorder, moment)
            print(f"first sweep (the desk switched on over the whole community): {describe(first)}",
                  flush=True)
            print_slowest(first, 5, False, "the first sweep")
            if db.engine.dialect.name == "postgresql":
                analyze_after_burst(recorder, moment, args.explain)

            steady = [sweep_once(recorder, moment) for _ in range(args.repeat)]
            seconds = [run.seconds for run in steady]
            middle = statistics.median(seconds)
            writes = [written(run.statements) for run in steady]
            escalated = [run.counts["unanswered"] + run.counts["unresolved"] + run.counts["peer_calls"]
                         for run in steady]
            print(f"steady-state sweep, nothing changed ({args.repeat} runs): median {ms(middle)} "
                  f"(min {ms(min(seconds))}, max {ms(max(seconds))}); escalated {max(escalated)}; "
                  f"{steady[0].queries} statements; rows written: "
                  f"{', '.join(f'{k} {v}' for k, v in writes[0].items()) or 'none'}")
            print(f"  = {middle / baseline:,.1f} x the count of open threads, "
                  f"{middle / listed:,.1f} x the unanswered list", flush=True)
            print_slowest(min(steady, key=lambda run: run.seconds), 4, args.explain, "the steady-state sweep")

            new_ids = ask_new_threads(args.new, moment - NEW_THREADS_AGE)
            clock.set(moment)
            after = sweep_once(recorder, moment)
            hours_before = NEW_THREADS_AGE.total_seconds() / 3600
            print(f"\nafter {args.new} new threads asked {hours_before:.0f} h before T: {describe(after)}")
            print(f"  = {after.seconds / baseline:,.1f} x the count of open threads, "
                  f"{after.seconds / listed:,.1f} x the unanswered list; "
                  f"{after.seconds / args.new * 1000:,.1f} ms per escalated thread")
            print_slowest(after, 5, False, "that sweep")
            from escalation.models import OPEN, Escalation

            caught = set(db.session.scalars(sa.select(Escalation.thread_id).where(
                Escalation.thread_id.in_(new_ids), Escalation.state == OPEN)))
            again = sweep_once(recorder, moment)
            print(f"and once more: {describe(again)}")
            db.session.remove()
            print_noise("the sweeps", (busy, machine_busy_seconds()), time.process_time() - cpu,
                        sum(r.seconds for r in [first, *steady, after, again]))
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except (RuntimeError, ValueError, sa.exc.SQLAlchemyError) as error:
        print(f"\nerror: {error}", file=sys.stderr)
        return 1
    finally:
        from core import clock

        clock.reset()
        end_copy(copy_url, work, args.keep)

    print()
    if max(escalated) or any(writes):
        missed.append("the steady-state sweep changed something")
    if middle >= TARGET_SECONDS:
        missed.append(f"the steady-state sweep took {ms(middle)}, target under {TARGET_SECONDS:.0f} s")
    if after.counts["unanswered"] != args.new or caught != set(new_ids):
        missed.append(f"the sweep after {args.new} new threads escalated {after.counts['unanswered']}"
                      f" ({len(caught)} of the new ones)")
    if again.counts["unanswered"] or written(again.statements):
        missed.append("the sweep after that changed something")
    if missed:
        print("below target: " + "; ".join(missed))
        return 2
    print(f"target met: the steady-state sweep over {open_threads:,} open threads takes {ms(middle)} "
          f"(under {TARGET_SECONDS:.0f} s) and writes nothing; the next one escalates exactly the "
          f"{args.new} new threads")
    return 0


if __name__ == "__main__":
    sys.exit(main())

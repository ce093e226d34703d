"""Insights roll-up benchmark: a day's roll-up, a year's recompute, the whole-range report and the
dashboard, over a generated community with a year of history.

    python bench/insights_rollup.py [--threads 100000] [--posts-per-thread 10] [--users N]
                                    [--database-url URL] [--skip-recompute] [--recompute-budget 900]
                                    [--repeat 3] [--requests 200] [--explain] [--keep]
    make bench-insights BENCH_ARGS="--threads 5000"

The issue's target, on 100,000 threads and 1,000,000 posts with a year of history: one day's roll-up
under 2 s, a year's recompute under 2 minutes (SQLite and PostgreSQL), the whole-range report timed,
and the dashboard served from snapshots in under 100 ms at p99.

bench/generate.py --history makes the community (or reuses it): by default its own SQLite file per
size, bench/.data/insights-100k.sqlite3 (gitignored), or --database-url (PostgreSQL: a database such
as postgresql://postgres@127.0.0.1:5432/peerline_bench_insights, created if missing; rows go in with
COPY). Its year ends where the day it was generated began. Everything is measured on a copy (SQLite:
a backup into a temporary folder; PostgreSQL: a database made from it as a template), with the app
context of create_app on the copy:

1. baseline: one SQL statement over all posts (SELECT thread_id, count(*), min(created_at) FROM posts
   GROUP BY thread_id, counted in SQL), --repeat times; every other figure is also shown as a ratio
   to its median;
2. one day's roll-up, `insights.rollup.roll_up_day` for the middle day of the year (4 splits,
   snapshots stored), --repeat times;
3. the year's recompute, `insights.rollup.recompute` over the 365 days and their ISO weeks. It stops
   after --recompute-budget seconds (the periods done are kept) and the whole is extrapolated from
   the periods it did, days and weeks apart (it does the days oldest first, and a day's backlog
   statements grow with the threads asked before it, so a stopped run's estimate is low);
   --skip-recompute leaves it out;
4. the whole-range report, `insights.measures.compute(first, last, "all")` (`flask insights report`);
5. the dashboard, GET /staff/insights?period=30d signed in as staff through the sign-in form: the
   named ranges rolled up first (`insights.rollup.roll_up_ranges`, timed), then --requests requests
   after 5 warm-ups, p50 and p99. If the route answers 404 it is not measured yet. The app is built
   by create_app, which hands what it built to gc.freeze() as in a web process; the statements the
   benchmark recorded in the steps before are let go, so a full collection during a request walks
   about what a web process holds.

Every statement is recorded (bench/escalation_sweep.py's Recorder): the slowest of each step are
listed by their total time, with --explain their plans (EXPLAIN QUERY PLAN on SQLite; EXPLAIN
(ANALYZE, BUFFERS) with jit off, as measures.compute sets it, on PostgreSQL). Exit status: 0 when the
targets measured are met, 1 on an error, 2 when one was missed.
"""

from __future__ import annotations

import argparse
import gc
import os
import signal
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DAY_TARGET_S, YEAR_TARGET_S, DASHBOARD_P99_TARGET_S = 2.0, 120.0, 0.100
DASHBOARD = "/staff/insights?period=30d"
BENCH_PASSWORD = "bench-insights-password"
WARMUPS = 5
BASELINE_SQL = ("SELECT count(*) FROM (SELECT thread_id, count(*) AS n, min(created_at) AS first_at "
                "FROM posts GROUP BY thread_id) AS per_thread")


def default_url(threads: int) -> str:
    size = f"{threads // 1000}k" if threads % 1000 == 0 else str(threads)
    return f"sqlite:///{ROOT / 'bench' / '.data' / f'insights-{size}.sqlite3'}"


# --- the working copy and the app ----------------------------------------------------------------------


def make_app(database_url: str, work: Path):
    """The app on the copy: no ticker, no Redis, jobs held in the outbox, no page or fragment
    caches; CSRF off so the benchmark can post the sign-in form without reading its token."""
    from bench import escalation_sweep

    return escalation_sweep.make_app(database_url, work, WTF_CSRF_ENABLED=False)


# --- measuring -------------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def ratio(seconds: float, baseline: float) -> str:
    return f"{seconds / baseline:,.1f} x the baseline" if baseline else "no baseline"


def measured(recorder, func, *args):
    """(seconds, result, statements) of one call, with a fresh session before and after."""
    from core.extensions import db

    db.session.remove()
    recorder.start()
    started = time.perf_counter()
    result = func(*args)
    seconds = time.perf_counter() - started
    statements = recorder.stop()
    db.session.remove()
    return seconds, result, statements


def print_slowest(statements, limit: int, plans: bool, label: str) -> None:
    from bench.escalation_sweep import explain

    groups: dict[str, list] = defaultdict(list)
    for s in statements:
        groups[" ".join(s.sql.split())].append(s)
    in_driver = sum(s.seconds for s in statements)
    ranked = sorted(groups.items(), key=lambda item: -sum(s.seconds for s in item[1]))[:limit]
    print(f"  slowest statements of {label} ({len(statements):,} statements, {len(groups)} distinct, "
          f"{ms(in_driver)} in the database driver; by their total time):")
    for sql, runs in ranked:
        total = sum(s.seconds for s in runs)
        print(f"  - {ms(total)} ({total / in_driver:.0%}) in {len(runs)} run(s), slowest "
              f"{ms(max(s.seconds for s in runs))}:"
              f" {sql[:400]}{'…' if len(sql) > 400 else ''}")
        if plans and not runs[0].many and runs[0].verb in ("SELECT", "WITH"):
            for line in explain(max(runs, key=lambda s: s.seconds), jit_off=True):
                print(f"      {line}")
    sys.stdout.flush()


def baseline(repeat: int) -> tuple[float, int]:
    from core.extensions import db

    times, threads = [], 0
    for _ in range(repeat):
        db.session.remove()
        started = time.perf_counter()
        threads = db.session.execute(sa.text(BASELINE_SQL)).scalar()
        times.append(time.perf_counter() - started)
        db.session.remove()
    print(f"baseline: one statement over all posts ({BASELINE_SQL}; {threads:,} threads): median "
          f"{ms(statistics.median(times))} (min {ms(min(times))}, {repeat} runs)", flush=True)
    return statistics.median(times), threads


class OverBudget(Exception):
    pass


def recompute_within(recorder, first: date, last: date, budget: float) -> dict:
    """insights.rollup.recompute over [first, last], stopped (through its progress hook) once
    `budget` seconds have passed; the periods done and their times."""
    from core.extensions import db
    from insights import rollup
    from insights.models import DAY

    done: list[tuple[str, float]] = []
    started = time.perf_counter()

    def progress(items):
        items = list(items)
        total[0] = len(items)
        total[1] = sum(1 for item in items if item[0] == DAY)
        mark = time.perf_counter()
        for item in items:
            if time.perf_counter() - started > budget:
                raise OverBudget
            yield item
            now = time.perf_counter()
            done.append((item[0], now - mark))
            mark = now
            if len(done) % 30 == 0:
                print(f"    {len(done)} of {len(items)} periods in {ms(now - started)}", flush=True)

    total = [0, 0]
    db.session.remove()
    recorder.start()
    stopped = False
    try:
        stored = rollup.recompute(first, last, progress=progress)
    except OverBudget:
        stored, stopped = None, True
        db.session.rollback()
    seconds = time.perf_counter() - started
    statements = recorder.stop()
    db.session.remove()
    # The last period's time includes the next one's start only when it ran to the end.
    days = [s for kind, s in done if kind == DAY]
    weeks = [s for kind, s in done if kind != DAY]
    result = {"seconds": seconds, "stored": stored, "stopped": stopped, "done": len(done),
              "periods": total[0],
              "days": total[1], "weeks": total[0] - total[1], "day_times": days, "week_times": weeks,
              "statements": statements}
    if stopped:
        day_mean = statistics.mean(days) if days else 0.0
        week_mean = statistics.mean(weeks) if weeks else day_mean  # no week reached: the same statements
        result["estimate"] = day_mean * total[1] + week_mean * (total[0] - total[1])
        result["week_guessed"] = not weeks
    return result


def staff_client(app):
    """A test client signed in through the sign-in form as a staff member of the community."""
    from werkzeug.security import generate_password_hash

    from accounts.models import STAFF, User
    from core.extensions import db

    user = db.session.scalar(sa.select(User).where(User.role == STAFF).order_by(User.id).limit(1))
    if user is None:
        raise RuntimeError("the generated community has no staff member")
    user.password_hash = generate_password_hash(BENCH_PASSWORD)
    username = user.username
    db.session.commit()
    db.session.remove()
    client = app.test_client()
    response = client.post("/signin", data={"login": username, "password": BENCH_PASSWORD})
    if response.status_code != 302:
        raise RuntimeError(f"signing in as {username} answered {response.status_code}")
    return client, username


def dashboard(app, recorder, requests: int, baseline_s: float) -> dict | None:
    """GET the dashboard as staff, outside the benchmark's own app context (each request has its
    own, as in production: Flask reuses a pushed context, and with it the signed-in user of `g`)."""
    from core.extensions import db
    from insights import measures, rollup
    from insights.models import DAY

    with app.app_context():
        client, username = staff_client(app)
    probe = client.get(DASHBOARD)
    if probe.status_code == 404:
        print(f"dashboard: not measured yet (GET {DASHBOARD} answered 404: the route does not exist)")
        return None
    if probe.status_code != 200:
        print(f"dashboard: GET {DASHBOARD} answered {probe.status_code}; measured anyway")
    with app.app_context():
        # Served from snapshots: the 30 days' own (the recompute may have stopped before them) and
        # the named ranges the daily job stores.
        today = measures.today()
        first, last = rollup.named_ranges(today)["30d"]
        stored = rollup.stored_series(DAY, first, last)
        missing = [first + timedelta(days=n) for n in range((last - first).days + 1)
                   if first + timedelta(days=n) not in stored]
        db.session.remove()
        if missing:
            started = time.perf_counter()
            for day in missing:
                rollup.roll_up_day(day)
                db.session.remove()
            print(f"the 30 days' snapshots: {len(missing)} days rolled up first "
                  f"({ms(time.perf_counter() - started)})")
        seconds, stored_rows, _ = measured(recorder, rollup.roll_up_ranges, today)
        print(f"the daily job's named ranges and the periods before them (rollup.roll_up_ranges): "
              f"{ms(seconds)}, "
              f"{stored_rows:,} snapshot rows; {ratio(seconds, baseline_s)}", flush=True)
    statuses: dict[int, int] = defaultdict(int)
    gc.collect()  # what the steps before left, so that it is not collected during the requests
    for _ in range(WARMUPS):
        client.get(DASHBOARD)
    times = []
    recorder.start()
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(DASHBOARD)
        times.append(time.perf_counter() - started)
        statuses[response.status_code] += 1
    statements = recorder.stop()
    times.sort()
    p50 = times[len(times) // 2]
    p99 = times[min(len(times) - 1, max(0, round(len(times) * 0.99) - 1))]
    print(f"dashboard: GET {DASHBOARD} as {username} (staff), {requests} requests after {WARMUPS} warm-ups: "
          f"p50 {p50 * 1000:,.1f} ms, p99 {p99 * 1000:,.1f} ms, max {times[-1] * 1000:,.1f} ms; "
          f"{len(statements) / requests:,.1f} statements per request; statuses "
          f"{', '.join(f'{k}: {v}' for k, v in sorted(statuses.items()))}")
    print(f"  = p50 {ratio(p50, baseline_s)}, p99 {ratio(p99, baseline_s)}", flush=True)
    return {"p50": p50, "p99": p99, "ok": set(statuses) == {200}, "statements": statements}


def main(argv=None) -> int:
    from bench.escalation_sweep import Recorder, end_copy, working_copy
    from bench.forum_pages import code_version, machine_busy_seconds, server_seconds
    from bench.generate import generate, print_counts, shown, sqlalchemy_url
    from bench.search import print_noise

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=100_000, help="threads to generate if missing")
    parser.add_argument("--posts-per-thread", type=float, default=10.0,
                        help="posts per thread, the question included (default: %(default)s)")
    parser.add_argument("--users", type=int, help="people to generate if missing (default: threads / 10)")
    parser.add_argument("--database-url", help="SQLite or PostgreSQL, generated if missing, never written to "
                        "(default: bench/.data/insights-<threads>.sqlite3)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of the baseline and of the day's roll-up")
    parser.add_argument("--skip-recompute", action="store_true", help="leave out the year's recompute")
    parser.add_argument("--recompute-budget", type=float, default=900.0,
                        help="stop the year's recompute after this many seconds and extrapolate "
                        "(default: %(default)s)")
    parser.add_argument("--requests", type=int, default=200, help="measured dashboard requests")
    parser.add_argument("--explain", action="store_true", help="print the plans of the slowest statements")
    parser.add_argument("--keep", action="store_true", help="keep the working copy")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.requests < 1 or args.threads < 1 or args.posts_per_thread < 1:
        parser.error("--repeat, --requests, --threads and --posts-per-thread must be at least 1")
    users = args.users or max(500, args.threads // 10)
    posts = round(args.threads * args.posts_per_thread)

    try:
        url = sqlalchemy_url(args.database_url or default_url(args.threads))
        community = generate(url, threads=args.threads, posts=posts, users=users, history=True)
    except (RuntimeError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print_counts(community["counts"])
    generated = datetime.fromisoformat(community["meta"]["generated_at"])
    last = generated.date() - timedelta(days=1)
    first = last - timedelta(days=364)
    middle = first + timedelta(days=182)

    work = Path(tempfile.mkdtemp(prefix="peerline-bench-insights-"))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))  # still drop the copy
    copy_url = None
    missed: list[str] = []
    figures: dict = {}
    try:
        started = time.perf_counter()
        copy_url = working_copy(url, work, suffix="work")  # roll-ups and signing in write
        print(f"\ncode: {code_version()}\ndatabase: {shown(url)}, copied to {shown(copy_url)} in "
              f"{ms(time.perf_counter() - started)}\nthe year: {first} to {last} (the middle day {middle})\n",
              flush=True)
        from core.extensions import db
        from insights import measures, rollup

        app = make_app(copy_url, work)
        with app.app_context():
            recorder = Recorder()
            recorder.install(db.engine)
            sqlite = db.engine.dialect.name == "sqlite"
            version = db.session.execute(sa.text(
                "SELECT sqlite_version()" if sqlite else "SHOW server_version")).scalar()
            db.session.remove()
            print(f"{db.engine.dialect.name} {version}", flush=True)
            # Ours: this process and, on PostgreSQL, the server's backends for the copy (not "other").
            copy_name = None if sqlite else make_url(copy_url).database

            def own_seconds():
                served = server_seconds(os.getpid(), copy_name)
                return sum(served) if served else time.process_time()

            busy, cpu, measured_s = machine_busy_seconds(), own_seconds(), 0.0

            base, _ = baseline(args.repeat)
            figures["baseline"] = base

            runs = [measured(recorder, rollup.roll_up_day, middle) for _ in range(args.repeat)]
            day = statistics.median(r[0] for r in runs)
            measured_s += sum(r[0] for r in runs)
            figures["day"] = day
            print(f"\none day's roll-up (rollup.roll_up_day({middle}), 4 splits, {runs[0][1]} snapshot rows, "
                  f"{len(runs[0][2])} statements), {args.repeat} runs: median {ms(day)} "
                  f"(min {ms(min(r[0] for r in runs))}, max {ms(max(r[0] for r in runs))}); "
                  f"{ratio(day, base)}; target under {DAY_TARGET_S:.0f} s", flush=True)
            print_slowest(min(runs, key=lambda r: r[0])[2], 6, args.explain, "the day's roll-up")
            runs = None  # each step's records go once shown: a web process does not hold them
            if day >= DAY_TARGET_S:
                missed.append(f"a day's roll-up took {ms(day)}, target under {DAY_TARGET_S:.0f} s")

            if not args.skip_recompute:
                print(f"\nthe year's recompute (rollup.recompute({first}, {last}): 365 days and their "
                      f"ISO weeks; "
                      f"stops after {args.recompute_budget:,.0f} s and extrapolates) ...", flush=True)
                year = recompute_within(recorder, first, last, args.recompute_budget)
                measured_s += year["seconds"]
                if year["stopped"]:
                    estimate = year["estimate"]
                    days, weeks = year["day_times"], year["week_times"]
                    week_note = (f", mean {ms(statistics.mean(weeks))}" if weeks
                                 else ", none reached: each taken as a day")
                    print(f"the year's recompute: STOPPED after {ms(year['seconds'])}, {year['done']} of "
                          f"{year['periods']} periods done (days: {len(days)} of {year['days']}, mean "
                          f"{ms(statistics.mean(days)) if days else '-'}; weeks: {len(weeks)} of "
                          f"{year['weeks']}"
                          f"{week_note})"
                          f"; the whole would take about {ms(estimate)}; {ratio(estimate, base)}; "
                          f"target under {YEAR_TARGET_S:.0f} s")
                else:
                    estimate = year["seconds"]
                    days, weeks = year["day_times"], year["week_times"]
                    print(f"the year's recompute: {ms(estimate)}, {year['stored']:,} snapshot rows for "
                          f"{year['periods']} periods (days: mean {ms(statistics.mean(days))}, max "
                          f"{ms(max(days))}; "
                          f"weeks: mean {ms(statistics.mean(weeks))}, max {ms(max(weeks))}); "
                          f"{ratio(estimate, base)}; "
                          f"target under {YEAR_TARGET_S:.0f} s")
                figures["year"] = estimate
                print_slowest(year.pop("statements"), 6, args.explain, "the year's recompute")
                if estimate >= YEAR_TARGET_S:
                    missed.append(f"the year's recompute took "
                                  f"{'about ' if year['stopped'] else ''}{ms(estimate)}, "
                                  f"target under {YEAR_TARGET_S:.0f} s")

            seconds, found, statements = measured(recorder, measures.compute, first, last, "all")
            measured_s += seconds
            figures["report"] = seconds
            overall = found.get(0, {})
            print(f"\nthe whole-range report (measures.compute({first}, {last}, 'all'), what `flask insights "
                  f"report` runs): {ms(seconds)}, {len(statements)} statements; {ratio(seconds, base)}\n"
                  f"  opened {overall.get('threads_opened', 0):,}, solved "
                  f"{overall.get('threads_solved', 0):,}, "
                  f"first replies {overall.get('first_replies', 0):,}, escalation responses "
                  f"{overall.get('escalation_responses', 0):,}, backlog open "
                  f"{overall.get('backlog_open', 0):,}, "
                  f"ask flows {overall.get('deflection_flows', 0):,}", flush=True)
            print_slowest(statements, 6, args.explain, "the report")
            statements = found = None

        print()
        board = dashboard(app, recorder, args.requests, base)
        with app.app_context():
            if board is not None:
                figures["dashboard_p99"] = board["p99"]
                if not board["ok"]:
                    missed.append("the dashboard answered other than 200")
                if board["p99"] >= DASHBOARD_P99_TARGET_S:
                    missed.append(f"the dashboard's p99 was {board['p99'] * 1000:,.0f} ms, target under "
                                  f"{DASHBOARD_P99_TARGET_S * 1000:.0f} ms")
                print_slowest(board["statements"], 4, args.explain, "the dashboard requests")
            print_noise("the measured steps", (busy, machine_busy_seconds()), own_seconds() - cpu,
                        measured_s)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except (RuntimeError, ValueError, sa.exc.SQLAlchemyError) as error:
        print(f"\nerror: {error}", file=sys.stderr)
        return 1
    finally:
        end_copy(copy_url, work, args.keep)

    print()
    if missed:
        print("below target: " + "; ".join(missed))
        return 2
    print("targets met: " + ", ".join(f"{k} {ms(v)}" for k, v in figures.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

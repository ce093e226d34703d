"""Snapshots: a period's roll-up replaces its rows, agrees with a report over the same days, keeps a
closed period's figures when a thread is later un-accepted or reopened, and runs from the cron
table on a real RQ worker."""

from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa

from core import clock, jobs
from core.extensions import db
from forum import services as forum_services
from forum import states
from insights import jobs as insights_jobs
from insights import measures, rollup
from insights.models import ALL, CATEGORY, DAY, RANGE, STAFF, TEAM, WEEK, Snapshot
from tests.factories import make_answer, make_category, make_thread, make_user

MONDAY = date(2025, 3, 3)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def _rows(period=DAY, start=MONDAY):
    return db.session.scalars(
        sa.select(Snapshot).where(Snapshot.period == period, Snapshot.period_start == start)
        .order_by(Snapshot.dimension, Snapshot.dimension_id)).all()


def _solved_on_monday(category=None):
    """A thread asked at 09:00 and answered by a peer at 10:00 on MONDAY, accepted at 11:00."""
    asker, peer = make_user(), make_user("advocate")
    clock.set(at(MONDAY, 9))
    thread = make_thread(asker, category=category)
    clock.set(at(MONDAY, 10))
    answer = make_answer(thread, peer)
    clock.set(at(MONDAY, 11))
    forum_services.accept_answer(asker, answer)
    return asker, thread, answer


def test_a_days_roll_up_stores_every_split_and_replaces_its_rows(app, real_clock):
    category = make_category("Billing")
    _solved_on_monday(category)
    clock.set(at(MONDAY + timedelta(days=2), 12))
    stored = rollup.roll_up_day(MONDAY)
    rows = _rows()
    assert stored == len(rows)
    assert {row.dimension for row in rows} == {ALL, CATEGORY, TEAM}  # no staff member did anything
    overall = next(row for row in rows if row.dimension == ALL).measures
    assert overall["threads_opened"] == 1 and overall["threads_solved"] == 1
    assert overall["peer_resolution_share"] == 1.0
    assert overall["first_response_median_s"] == 3600.0
    assert next(row for row in rows if row.dimension == CATEGORY).dimension_id == category.id

    # Another thread opened that day (written late, as an import would): the roll-up replaces the rows.
    clock.set(at(MONDAY, 15))
    make_thread(make_user(), category=category)
    clock.set(at(MONDAY + timedelta(days=2), 12))
    assert rollup.roll_up_day(MONDAY) == stored
    overall = next(row for row in _rows() if row.dimension == ALL).measures
    assert overall["threads_opened"] == 2
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Snapshot).where(
        Snapshot.period == DAY, Snapshot.period_start == MONDAY, Snapshot.dimension == ALL)) == 1


def test_a_snapshot_agrees_with_a_report_over_the_same_days(app, real_clock):
    _solved_on_monday()
    clock.set(at(MONDAY + 1 * timedelta(days=1), 8))
    make_thread(make_user())
    clock.set(at(MONDAY + timedelta(days=10), 12))
    rollup.roll_up_week(MONDAY)
    stored = rollup.find(MONDAY, MONDAY + timedelta(days=6))[0]
    assert stored == measures.compute(MONDAY, MONDAY + timedelta(days=6))[0]
    assert stored["threads_opened"] == 2 and stored["backlog_open"] == 1 and stored["backlog_unanswered"] == 1


def test_a_closed_period_keeps_its_figures_when_the_thread_is_unaccepted_and_reopened(app, real_clock):
    asker, thread, _answer = _solved_on_monday()
    clock.set(at(MONDAY + timedelta(days=1), 9))
    rollup.roll_up_day(MONDAY)
    before = rollup.find(MONDAY, MONDAY)[0]
    assert before["threads_solved"] == 1 and before["backlog_open"] == 0

    clock.set(at(MONDAY + timedelta(days=3), 9))
    forum_services.unaccept_answer(asker, thread)
    staff = make_user("staff")
    states.close_thread(staff, thread, "outdated")
    states.reopen_thread(staff, thread)
    rollup.recompute(MONDAY, MONDAY)
    assert rollup.find(MONDAY, MONDAY)[0] == before  # recomputed from the history: unchanged
    later = measures.compute(MONDAY + timedelta(days=3), MONDAY + timedelta(days=3))[0]
    assert later["threads_solved"] == 0 and later["threads_closed"] == 1 and later["backlog_open"] == 1


def test_recompute_builds_days_and_weeks_and_drops_overlapping_ranges(app, real_clock):
    _solved_on_monday()
    clock.set(at(MONDAY + timedelta(days=20), 9))
    rollup.store(RANGE, MONDAY - timedelta(days=5), MONDAY + timedelta(days=1))
    rollup.store(RANGE, MONDAY + timedelta(days=10), MONDAY + timedelta(days=12))
    seen = []

    def progress(items):
        for item in items:
            seen.append(item)
            yield item

    rollup.recompute(MONDAY, MONDAY + timedelta(days=7), progress=progress)
    assert [kind for kind, _, _ in seen].count(DAY) == 8
    assert [start for kind, start, _ in seen if kind == WEEK] == [MONDAY, MONDAY + timedelta(days=7)]
    ranges = db.session.scalars(sa.select(Snapshot.period_start).where(
        Snapshot.period == RANGE, Snapshot.dimension == ALL)).all()
    assert ranges == [MONDAY + timedelta(days=10)]  # the range that overlapped is gone; the other stays


def test_staff_members_have_their_own_figures(app, real_clock):
    asker, staff = make_user(), make_user("staff")
    clock.set(at(MONDAY, 9))
    thread = make_thread(asker)
    clock.set(at(MONDAY, 9, 30))
    answer = make_answer(thread, staff)
    forum_services.accept_answer(asker, answer)
    found = measures.compute(MONDAY, MONDAY, STAFF)
    mine = found[staff.id]
    assert mine["staff_first_response_median_s"] == 1800.0 and mine["threads_solved"] == 1
    assert mine["threads_opened"] is None and mine["backlog_open"] is None  # nobody's in particular


def test_the_closed_periods_job_runs_once_a_day(app, real_clock):
    _solved_on_monday()
    clock.set(at(MONDAY + timedelta(days=1), 1))
    insights_jobs.roll_up_closed_periods()
    first = db.session.scalar(sa.select(Snapshot.computed_at).where(
        Snapshot.period == DAY, Snapshot.period_start == MONDAY, Snapshot.dimension == ALL))
    named = rollup.named_ranges(MONDAY + timedelta(days=1))
    for start, end in named.values():
        assert rollup.find(start, end) is not None
    clock.set(at(MONDAY + timedelta(days=1), 2))
    insights_jobs.roll_up_closed_periods()  # an hour later: nothing to do
    again = db.session.scalar(sa.select(Snapshot.computed_at).where(
        Snapshot.period == DAY, Snapshot.period_start == MONDAY, Snapshot.dimension == ALL))
    assert again == first


def test_the_roll_up_jobs_are_in_the_cron_table_and_run_on_a_real_worker(redis_app, start_worker, real_clock):
    from app import CRON_TABLE

    listed = {periodic.id: periodic.func for periodic in CRON_TABLE}
    assert listed["insights.roll-up-today"] is insights_jobs.roll_up_today
    assert listed["insights.roll-up-closed-periods"] is insights_jobs.roll_up_closed_periods

    thread = make_thread(make_user())
    worker = start_worker(redis_app, "default")
    jobs.enqueue(insights_jobs.roll_up_today)
    db.session.commit()
    worker.drain()
    today = measures.today()
    stored = rollup.find(today, today)
    assert stored is not None and stored[0]["threads_opened"] == 1
    assert stored[0]["backlog_unanswered"] == 1
    assert thread.id


def test_team_and_category_splits_add_up_to_the_whole(app, real_clock):
    from escalation.models import CategoryTeam, Team

    billing, setup, other = make_category("Billing"), make_category("Setup"), make_category("Other")
    team = Team(slug="money", name="Money")
    db.session.add(team)
    db.session.flush()
    db.session.add_all([CategoryTeam(category_id=billing.id, team_id=team.id),
                        CategoryTeam(category_id=setup.id, team_id=team.id)])
    db.session.commit()
    _solved_on_monday(billing)
    clock.set(at(MONDAY, 12))
    make_thread(make_user(), category=setup)
    make_thread(make_user(), category=other)
    clock.set(at(MONDAY + timedelta(days=1), 9))
    found = measures.compute_splits(MONDAY, MONDAY, (ALL, CATEGORY, TEAM))
    assert found[ALL][0]["threads_opened"] == 3 and found[ALL][0]["backlog_open"] == 2
    assert {key: row["threads_opened"] for key, row in found[CATEGORY].items()} == {
        billing.id: 1, setup.id: 1, other.id: 1}
    assert {key: row["threads_opened"] for key, row in found[TEAM].items()} == {team.id: 2, 0: 1}
    assert {key: row["backlog_open"] for key, row in found[TEAM].items()} == {team.id: 1, 0: 1}
    assert found[TEAM][team.id]["first_response_median_s"] == 3600.0
    # Each split alone says the same as the splits computed together.
    assert measures.compute(MONDAY, MONDAY, TEAM) == found[TEAM]

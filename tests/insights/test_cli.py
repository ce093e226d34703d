"""`flask insights recompute` and `flask insights report`: what they print, and bad input refused
with a clear message and nothing changed."""

import json
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from core import clock
from core.extensions import db
from forum import services as forum_services
from insights import measures
from insights.models import DAY, WEEK, Snapshot
from tests.factories import make_answer, make_category, make_thread, make_user


@pytest.fixture
def solved(app, real_clock):
    """One thread asked Monday 3 March 2025 at 09:00 in "billing", answered by a peer at 10:00 and
    accepted at 11:00; one asked at 12:00 and never answered."""
    billing = make_category("Billing")
    asker = make_user()
    clock.set(datetime(2025, 3, 3, 9, tzinfo=UTC))
    thread = make_thread(asker, category=billing)
    clock.set(datetime(2025, 3, 3, 10, tzinfo=UTC))
    answer = make_answer(thread, make_user("advocate"))
    clock.set(datetime(2025, 3, 3, 11, tzinfo=UTC))
    forum_services.accept_answer(asker, answer)
    clock.set(datetime(2025, 3, 3, 12, tzinfo=UTC))
    make_thread(make_user(), category=make_category("Setup"))
    clock.set(datetime(2025, 3, 20, 9, tzinfo=UTC))
    return billing


def snapshot_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Snapshot))


def test_report_prints_a_table_and_json_with_the_metrics_names(solved, runner):
    table = runner.invoke(args=["insights", "report", "--from", "2025-03-01", "--to", "2025-03-07"])
    assert table.exit_code == 0, table.output
    assert "Peerline insights, 2025-03-01 to 2025-03-07" in table.output
    assert "Threads opened" in table.output and "Solved by peers" in table.output and "100.0%" in table.output
    assert "First response, median" in table.output and "1h 00m" in table.output

    week = ["--from", "2025-03-01", "--to", "2025-03-07"]
    result = runner.invoke(args=["insights", "report", *week, "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)  # standard output holds the JSON object and nothing else
    assert list(figures) == list(measures.KEYS)
    assert figures["threads_opened"] == 2 and figures["threads_solved"] == 1
    assert figures["backlog_open"] == 1 and figures["backlog_unanswered"] == 1

    one = runner.invoke(args=["insights", "report", "--from", "2025-03-01", "--to", "2025-03-07", "--json",
                              "--category", "billing"])
    assert json.loads(one.output)["threads_opened"] == 1 and json.loads(one.output)["backlog_open"] == 0


@pytest.mark.parametrize(("args", "message"), [
    (["--from", "2025-03-07", "--to", "2025-03-01"], "the range ends (2025-03-01) before it starts"),
    (["--from", "yesterday", "--to", "2025-03-01"], "'yesterday' is not a date; write it as YYYY-MM-DD"),
    (["--from", "2025-02-30", "--to", "2025-03-01"], "'2025-02-30' is not a date"),
    (["--from", "2025-03-01", "--to", "2025-03-07", "--category", "<b>nope</b>"],
     "no category has the slug '<b>nope</b>' (known: billing, setup)"),
])
def test_bad_input_is_refused_with_a_clear_message(solved, runner, args, message):
    for command in (["insights", "report"], ["insights", "recompute"]):
        if "--category" in args and command[1] == "recompute":
            continue
        result = runner.invoke(args=[*command, *args])
        assert result.exit_code == 2
        assert message in result.output
    assert snapshot_count() == 0  # nothing written


def test_recompute_rebuilds_the_days_and_weeks_of_a_range(solved, runner):
    result = runner.invoke(args=["insights", "recompute", "--from", "2025-03-01", "--to", "2025-03-09"])
    assert result.exit_code == 0, result.output
    assert "Recomputed 2025-03-01 to 2025-03-09" in result.output
    days = db.session.scalars(sa.select(Snapshot.period_start).where(
        Snapshot.period == DAY, Snapshot.dimension == "all").order_by(Snapshot.period_start)).all()
    assert days == [date(2025, 3, day) for day in range(1, 10)]
    weeks = db.session.scalars(sa.select(Snapshot.period_start).where(
        Snapshot.period == WEEK, Snapshot.dimension == "all").order_by(Snapshot.period_start)).all()
    assert weeks == [date(2025, 2, 24), date(2025, 3, 3)]
    stored = db.session.scalar(sa.select(Snapshot.measures).where(
        Snapshot.period == DAY, Snapshot.period_start == date(2025, 3, 3), Snapshot.dimension == "all"))
    assert stored == measures.compute(date(2025, 3, 3), date(2025, 3, 3))[0]
    assert stored["threads_opened"] == 2 and stored["backlog_open"] == 1

"""`flask escalation sweep` and `flask escalation list [--queue NAME] [--json]`, for operators."""

import json
from datetime import UTC, datetime, timedelta

from core import clock
from escalation import services
from tests.escalation.desk import open_escalations
from tests.factories import make_thread, make_user

START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
FIELDS = {"thread_id", "reasons", "queue", "escalated_at", "due_at", "assignee", "state"}


def run(runner, *args: str):
    result = runner.invoke(args=["escalation", *args])
    assert result.exit_code == 0, result.output
    return result.output


def desk(runner):
    """Two threads past their peer window, one urgent (held by a staff member), one still young."""
    clock.set(START)
    quiet = [make_thread(title=f"Quiet question {i}") for i in range(2)]
    clock.set(START + timedelta(hours=2, minutes=30))
    urgent = make_thread(title="Shop is down", urgent=True, urgent_reason="Outage")
    make_thread(title="Asked a moment ago")
    holder = make_user("staff", username="dana")
    services.claim(holder, open_escalations()[0])
    return quiet, urgent


def test_sweep_opens_what_is_due_and_says_how_many(app, runner):
    quiet, urgent = desk(runner)
    output = run(runner, "sweep")
    assert "Escalated 2 unanswered and 0 unresolved threads" in output
    assert sorted(e.thread_id for e in open_escalations()) == sorted([urgent.id] + [t.id for t in quiet])
    assert "Escalated 0 unanswered" in run(runner, "sweep")  # nothing twice
    assert len(open_escalations()) == 3


def test_list_as_json_and_by_queue(app, runner):
    quiet, urgent = desk(runner)
    run(runner, "sweep")
    listed = json.loads(run(runner, "list", "--json"))
    assert isinstance(listed, list) and len(listed) == 3
    assert all(FIELDS <= set(row) for row in listed)
    by_thread = {row["thread_id"]: row for row in listed}
    assert by_thread[urgent.id]["reasons"] == ["urgent"] and by_thread[urgent.id]["queue"] == "urgent"
    assert by_thread[urgent.id]["assignee"] == "dana" and by_thread[urgent.id]["state"] == "open"
    for thread in quiet:
        row = by_thread[thread.id]
        assert (row["reasons"], row["queue"], row["assignee"]) == (["unanswered"], "general", None)
        assert datetime.fromisoformat(row["escalated_at"]) == START + timedelta(hours=2, minutes=30)
        assert datetime.fromisoformat(row["due_at"]) == START + timedelta(hours=3, minutes=30)
    assert [row["due_at"] for row in listed] == sorted(row["due_at"] for row in listed)  # soonest first

    only_urgent = json.loads(run(runner, "list", "--queue", "urgent", "--json"))
    assert [row["thread_id"] for row in only_urgent] == [urgent.id]
    assert json.loads(run(runner, "list", "--queue", "billing", "--json")) == []

    text = run(runner, "list", "--queue", "urgent")
    assert f"thread {urgent.id}" in text and "dana" in text
    assert "No open escalations." in run(runner, "list", "--queue", "billing")

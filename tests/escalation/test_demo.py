"""`flask demo load` gives the demo community a working desk: two teams, policies on their categories,
canned replies, and open escalations (one overdue, one urgent, one assigned, one acknowledged) that
agree with the threads' history, the sweep and the deadline check."""

import sqlalchemy as sa
from markupsafe import escape

from core import clock, jobs
from core.clock import as_utc
from core.extensions import db
from escalation import rules
from escalation.models import (
    OPEN,
    URGENT_QUEUE,
    CannedReply,
    CategoryTeam,
    Escalation,
    Policy,
    Team,
)
from forum.models import Post, Thread, ThreadEvent


def test_the_demo_has_a_working_desk(app, runner, client, auth):
    result = runner.invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output
    assert "Loaded the demo escalation desk: 2 teams" in result.output

    teams = list(db.session.scalars(sa.select(Team).order_by(Team.name)))
    assert [t.name for t in teams] == ["Billing", "Integrations"]
    assert all(t.members and all(m.role == "staff" for m in t.members) for t in teams)
    mapped = list(db.session.scalars(sa.select(CategoryTeam.category_id)))
    assert len(mapped) >= 2
    assert {t.id for t in teams} == set(db.session.scalars(sa.select(CategoryTeam.team_id)))
    with_policy = set(db.session.scalars(
        sa.select(Policy.category_id).where(Policy.category_id.is_not(None))))
    assert set(mapped) <= with_policy
    calendars = {p.category_id: p.calendar for p in db.session.scalars(sa.select(Policy))}
    assert any(c.get("timezone") == "Europe/Berlin" and c.get("holiday_country") == "DE"
               for c in calendars.values())
    assert any(c.get("around_the_clock") for c in calendars.values())

    replies = list(db.session.scalars(sa.select(CannedReply)))
    assert any(r.is_acknowledgement and "looking into this" in r.body for r in replies)
    assert any("{asker}" in r.body for r in replies) and any("{article:" in r.body for r in replies)

    now = clock.now()
    waiting = list(db.session.scalars(sa.select(Escalation).where(Escalation.state == OPEN)))
    overdue = [e for e in waiting if e.first_response_at is None and as_utc(e.due_at) < now]
    assert overdue and all(e.breached_at is not None and e.warned_at is not None for e in overdue)
    assert any(e.queue == URGENT_QUEUE and e.first_response_at is None for e in waiting)
    assert any(e.assignee_id is not None for e in waiting)
    [acknowledged] = [e for e in waiting if e.acknowledged_at is not None]
    assert acknowledged.first_response_at == acknowledged.acknowledged_at
    post = db.session.get(Post, acknowledged.first_response_post_id)
    assert "We are looking into this" in post.body and post.author_role == "staff"
    thread = db.session.get(Thread, acknowledged.thread_id)
    assert thread.first_reply_post_id == post.id and thread.first_staff_reply_post_id == post.id
    assert db.session.scalar(sa.select(Escalation.id).where(Escalation.state != OPEN)) is not None

    # Each opening is in its thread's history, after the question and no later than now.
    for escalation in db.session.scalars(sa.select(Escalation)):
        asked = as_utc(db.session.get(Thread, escalation.thread_id).created_at)
        assert asked <= as_utc(escalation.escalated_at) <= now
        kinds = set(db.session.scalars(sa.select(ThreadEvent.kind).where(
            ThreadEvent.thread_id == escalation.thread_id)))
        assert "escalated" in kinds
        assert ("escalation_breached" in kinds) == (escalation.breached_at is not None)

    # The rules agree: the sweep and the deadline check have nothing to do, and no announcement of
    # these past escalations is waiting to be sent.
    assert rules.sweep() == {"unanswered": 0, "unresolved": 0, "peer_calls": 0}
    assert rules.check_deadlines() == {"warned": 0, "breached": 0}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(jobs.JobRecord).where(
        jobs.JobRecord.func.endswith("announce_escalation"))) == 0

    checked = runner.invoke(args=["history", "check"])
    assert checked.exit_code == 0, checked.output

    # Staff can work it from the queues.
    auth.as_role("staff")
    for name in ("urgent", "billing", "integrations"):
        page = client.get(f"/staff/queues/{name}")
        assert page.status_code == 200, (name, page.status_code)
    for escalation in waiting:
        page = client.get(f"/staff/escalations/{escalation.id}")
        title = str(escape(db.session.get(Thread, escalation.thread_id).title))
        assert page.status_code == 200 and title in page.text

    again = runner.invoke(args=["demo", "load", "--if-empty"])
    assert again.exit_code == 0 and "desk is set up already" in again.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Team)) == 2


def test_a_forum_that_is_not_the_demo_gets_no_demo_desk(app, runner):
    from tests.factories import make_thread

    make_thread()
    result = runner.invoke(args=["demo", "load", "--if-empty"])
    assert result.exit_code == 0, result.output
    assert "not the demo community, so the demo escalation desk" in result.output
    assert db.session.scalar(sa.select(Team.id)) is None

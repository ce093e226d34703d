"""The rules that open escalations, with the clock moved rather than slept."""

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from core import clock
from core.errors import Conflict, Forbidden, Invalid
from core.extensions import db
from escalation import rules, services
from escalation.models import NEEDS_STAFF, OPEN, UNANSWERED, URGENT, Escalation, Policy
from forum import services as forum_services
from forum import states
from tests.factories import make_answer, make_category, make_thread, make_user


def open_escalations() -> list[Escalation]:
    return list(db.session.scalars(
        sa.select(Escalation).where(Escalation.state == OPEN).order_by(Escalation.id)))


def test_an_unanswered_thread_is_escalated_once_its_peer_window_has_passed(app):
    start = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday
    clock.set(start)
    thread = make_thread(title="Sync stops after an hour")
    clock.set(start + timedelta(hours=1, minutes=59))
    assert rules.sweep()["unanswered"] == 0
    clock.set(start + timedelta(hours=2, minutes=1))
    assert rules.sweep()["unanswered"] == 1
    [escalation] = open_escalations()
    assert escalation.thread_id == thread.id and escalation.reason_codes == [UNANSWERED]
    # The default policy: around the clock, a one-hour staff target from the moment of escalation.
    assert escalation.due_at.replace(tzinfo=UTC) == start + timedelta(hours=3, minutes=1)
    assert rules.sweep()["unanswered"] == 0  # a second run makes no duplicate
    assert len(open_escalations()) == 1


def test_due_times_are_in_business_hours_and_a_later_policy_change_moves_nothing(app):
    category = make_category("Billing")
    db.session.add(Policy(category_id=category.id, peer_window_s=1800, target_s=3600, urgent_target_s=900,
                          calendar={"timezone": "Europe/Berlin", "workdays": [0, 1, 2, 3, 4],
                                    "opens": "09:00", "closes": "18:00"}))
    db.session.commit()
    friday = datetime(2026, 3, 6, 16, 0, tzinfo=UTC)  # 17:00 in Berlin
    clock.set(friday)
    make_thread(category=category)
    clock.set(friday + timedelta(minutes=30))  # 17:30 in Berlin: the peer window is over
    rules.sweep()
    [escalation] = open_escalations()
    assert escalation.due_at.replace(tzinfo=UTC) == datetime(2026, 3, 9, 8, 30, tzinfo=UTC)  # Monday 09:30
    db.session.execute(sa.update(Policy).values(target_s=60))
    db.session.commit()
    db.session.refresh(escalation)
    assert escalation.due_at.replace(tzinfo=UTC) == datetime(2026, 3, 9, 8, 30, tzinfo=UTC)


def test_the_sweep_skips_answered_closed_locked_removed_threads_and_deactivated_askers(app):
    start = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    clock.set(start)
    staff = make_user("staff")
    answered = make_thread()
    make_answer(answered)
    closed, locked, hidden, deleted = (make_thread() for _ in range(4))
    states.close_thread(staff, closed, "other", "Done elsewhere.")
    states.set_locked(staff, locked, True)
    states.hide_thread(staff, hidden, "Advertising", "spam")
    states.delete_thread(staff, deleted)
    gone = make_thread()
    gone.author.is_active_account = False
    db.session.commit()
    waiting = make_thread()
    clock.set(start + timedelta(days=1))
    assert rules.sweep()["unanswered"] == 1
    assert [e.thread_id for e in open_escalations()] == [waiting.id]


def test_a_thread_handed_back_is_not_escalated_again_for_the_same_reason(app):
    clock.set(datetime(2026, 3, 2, 10, 0, tzinfo=UTC))
    make_thread()
    clock.advance(hours=3)
    rules.sweep()
    [escalation] = open_escalations()
    services.hand_back(make_user("staff"), escalation, "Peers know this one better.")
    clock.advance(hours=3)
    assert rules.sweep()["unanswered"] == 0
    assert open_escalations() == []


def test_urgent_threads_go_to_the_urgent_queue_at_once(app):
    thread = make_thread(title="Charged twice", urgent=True, urgent_reason="Two charges on my card")
    [escalation] = open_escalations()
    assert (escalation.thread_id, escalation.queue) == (thread.id, "urgent")
    assert escalation.reason_codes == [URGENT]
    assert escalation.target_s == 900


def test_urgent_terms_of_the_policy_escalate_a_thread_that_uses_them(app):
    db.session.add(Policy(category_id=None, urgent_terms="outage, data loss", calendar={}))
    db.session.commit()
    make_thread(title="Is there an OUTAGE right now?")
    make_thread(title="Timeouts", body="We fear data   loss after the update.")
    make_thread(title="Outages page is hard to find", body="Where is the status page?")  # not the word
    assert [e.reason_codes for e in open_escalations()] == [[URGENT], [URGENT]]


def test_advocates_send_threads_to_staff_with_a_reason_and_members_cannot(app):
    thread = make_thread()
    advocate, member = make_user("advocate"), make_user()
    with pytest.raises(Forbidden):
        services.send_up(member, thread, NEEDS_STAFF, "please")
    with pytest.raises(Invalid):
        services.send_up(advocate, thread, NEEDS_STAFF, "   ")
    escalation = services.send_up(advocate, thread, NEEDS_STAFF, "Needs an account lookup")
    assert escalation.created_by_id == advocate.id and escalation.reason_codes == [NEEDS_STAFF]
    with pytest.raises(Conflict):
        services.send_up(advocate, thread, NEEDS_STAFF, "Again")
    # Urgency added later raises the priority and moves it to the urgent queue, still one escalation.
    services.send_up(advocate, thread, URGENT, "Their shop is down")
    [escalation] = open_escalations()
    assert escalation.reason_codes == [NEEDS_STAFF, URGENT] and escalation.queue == "urgent"


def test_a_public_staff_reply_stops_the_clock_and_a_note_does_not(app):
    start = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    clock.set(start)
    thread = make_thread(urgent=True, urgent_reason="Site down")
    staff = make_user("staff")
    [escalation] = open_escalations()
    clock.advance(minutes=5)
    services.add_note(staff, thread, "Checking the logs first.")
    db.session.refresh(escalation)
    assert escalation.first_response_at is None
    clock.advance(minutes=5)
    post = make_answer(thread, staff, body="We are on it.")
    db.session.refresh(escalation)
    assert escalation.first_response_post_id == post.id
    assert escalation.response_business_s == 600
    assert escalation.state == OPEN  # it stays in the queue until someone resolves it


def test_accepting_an_answer_or_closing_the_thread_resolves_its_escalation(app):
    asker = make_user()
    solved = make_thread(asker, urgent=True, urgent_reason="x")
    closed = make_thread(urgent=True, urgent_reason="y")
    answer = make_answer(solved)
    forum_services.accept_answer(asker, answer)
    states.close_thread(make_user("staff"), closed, "other", "")
    ended = {e.thread_id: e.resolution for e in db.session.scalars(sa.select(Escalation))}
    assert ended == {solved.id: "solved", closed.id: "closed"}


def test_an_urgent_thread_handed_back_is_not_taken_again_as_unanswered(app):
    clock.set(datetime(2026, 3, 2, 10, 0, tzinfo=UTC))
    make_thread(urgent=True, urgent_reason="Shop down")
    [escalation] = open_escalations()
    services.hand_back(make_user("staff"), escalation, "A known workaround; peers can guide them.")
    clock.advance(hours=6)
    assert rules.sweep()["unanswered"] == 0
    assert open_escalations() == []


def test_a_thread_locked_then_unlocked_returns_to_the_queue(app):
    clock.set(datetime(2026, 3, 2, 10, 0, tzinfo=UTC))
    staff = make_user("staff")
    thread = make_thread()
    clock.advance(hours=3)
    rules.sweep()
    states.set_locked(staff, thread, True)
    assert open_escalations() == []  # ended with the lock
    states.set_locked(staff, thread, False)
    clock.advance(minutes=1)
    assert rules.sweep()["unanswered"] == 1
    assert [e.thread_id for e in open_escalations()] == [thread.id]


def test_an_urgent_thread_closed_and_reopened_goes_back_to_the_urgent_queue(app):
    staff = make_user("staff")
    thread = make_thread(urgent=True, urgent_reason="Payments fail")
    states.close_thread(staff, thread, "other", "")
    assert open_escalations() == []
    states.reopen_thread(staff, thread)
    [escalation] = open_escalations()
    assert (escalation.thread_id, escalation.queue) == (thread.id, "urgent")


def test_a_moved_thread_takes_its_escalation_to_the_new_category_team(app):
    from escalation.models import CategoryTeam, Team

    billing, api = make_category("Billing"), make_category("API")
    teams = {slug: Team(slug=slug, name=slug.title(), auto_assign=False) for slug in ("billing", "api")}
    db.session.add_all(teams.values())
    db.session.flush()
    db.session.add_all([CategoryTeam(category_id=billing.id, team_id=teams["billing"].id),
                        CategoryTeam(category_id=api.id, team_id=teams["api"].id)])
    db.session.commit()
    thread = make_thread(category=billing)
    services.send_up(make_user("advocate"), thread, NEEDS_STAFF, "Needs an account lookup")
    states.move_thread(make_user("staff"), thread, api.id)
    [escalation] = open_escalations()
    assert (escalation.queue, escalation.team_id) == ("api", teams["api"].id)

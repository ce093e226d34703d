"""Working the desk: claiming, assigning, handing on, releasing, resolving and handing back, and the
round-robin that gives new escalations to the least-loaded available member of a team."""

import threading
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from accounts import audit
from accounts.models import User
from core import clock
from core.errors import Conflict, Invalid
from core.extensions import db
from escalation import services
from escalation.models import ANSWERED, HANDED_BACK, OPEN, RESOLVED, Assignment, Escalation
from forum import history
from tests.escalation.desk import escalated, make_team, set_desk
from tests.factories import make_category, make_thread, make_user

START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday


def assignments(escalation) -> list[tuple[str, int | None, int | None]]:
    """(action, assignee id, by id) of who held the escalation, in order."""
    return [(a.action, a.assignee_id, a.by_id) for a in db.session.scalars(
        sa.select(Assignment).where(Assignment.escalation_id == escalation.id).order_by(Assignment.id))]


def desk_events(thread_id: int) -> list[tuple[str, int | None, str | None]]:
    """(kind, actor id, reason) of the thread's escalation history events."""
    return [(e.kind, e.actor_id, e.reason) for e in history.events_for(thread_id)
            if e.kind.startswith("escalation_") or e.kind == "escalated"]


def audit_actions(escalation) -> list[tuple[str, int | None]]:
    return [(e.action, e.actor_id) for e in reversed(audit.entries_for(services.ESCALATION, escalation.id))]


# --- claims -------------------------------------------------------------------------------------------


def test_a_claim_gives_the_escalation_to_the_claimer_and_is_recorded_everywhere(app):
    clock.set(START)
    dana = make_user("staff", display_name="Dana Desk")
    escalation = escalated()
    clock.set(START.replace(minute=5))
    services.claim(dana, escalation)
    db.session.expire_all()
    escalation = db.session.get(Escalation, escalation.id)
    assert escalation.assignee_id == dana.id
    assert escalation.assigned_at.replace(tzinfo=UTC) == START.replace(minute=5)
    assert assignments(escalation) == [("claimed", dana.id, dana.id)]
    assert ("escalation_assigned", dana.id, "claimed") in desk_events(escalation.thread_id)
    assert ("escalation-claimed", dana.id) in audit_actions(escalation)


def test_a_second_claim_is_refused_with_the_holders_name_and_changes_nothing(app):
    dana, eli = make_user("staff", display_name="Dana Desk"), make_user("staff", display_name="Eli Late")
    escalation = escalated()
    services.claim(dana, escalation)
    before = (assignments(escalation), desk_events(escalation.thread_id), audit_actions(escalation))
    with pytest.raises(Conflict, match="Dana Desk"):
        services.claim(eli, escalation)
    db.session.rollback()
    db.session.expire_all()
    escalation = db.session.get(Escalation, escalation.id)
    assert escalation.assignee_id == dana.id
    assert (assignments(escalation), desk_events(escalation.thread_id), audit_actions(escalation)) == before
    with pytest.raises(Conflict):  # claiming what you hold already is no change either
        services.claim(dana, escalation)


def test_a_resolved_escalation_cannot_be_claimed(app):
    staff, other = make_user("staff"), make_user("staff")
    escalation = escalated()
    services.resolve(staff, escalation)
    with pytest.raises(Conflict, match="resolved"):
        services.claim(other, escalation)
    db.session.rollback()
    escalation = db.session.get(Escalation, escalation.id)
    assert escalation.assignee_id is None and assignments(escalation) == []


def test_two_staff_claiming_at_the_same_moment_get_one_winner_and_one_clear_message(make_app):
    app = make_app("postgresql")
    with app.app_context():
        ana, bo = make_user("staff", display_name="Ana First"), make_user("staff", display_name="Bo Second")
        escalation_id = escalated().id
        people = {ana.id: "Ana First", bo.id: "Bo Second"}
    barrier = threading.Barrier(2)
    outcomes: dict[int, object] = {}

    def claim_as(user_id: int) -> None:
        with app.app_context():
            try:
                actor = db.session.get(User, user_id)
                escalation = db.session.get(Escalation, escalation_id)
                assert escalation.assignee_id is None  # both saw it free
                barrier.wait(timeout=10)
                services.claim(actor, escalation)
                outcomes[user_id] = "won"
            except Conflict as error:
                outcomes[user_id] = error.message
            except Exception as error:  # noqa: BLE001 - reported below
                outcomes[user_id] = error
            finally:
                db.session.remove()

    workers = [threading.Thread(target=claim_as, args=(uid,)) for uid in people]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert sorted(str(o) == "won" for o in outcomes.values()) == [False, True], outcomes
    [winner] = [uid for uid, outcome in outcomes.items() if outcome == "won"]
    [message] = [outcome for uid, outcome in outcomes.items() if uid != winner]
    assert isinstance(message, str) and people[winner] in message, message
    with app.app_context():
        escalation = db.session.get(Escalation, escalation_id)
        assert escalation.assignee_id == winner
        assert assignments(escalation) == [("claimed", winner, winner)]
        db.session.remove()


# --- assigning, handing on, releasing ------------------------------------------------------------------


def test_only_staff_can_be_given_an_escalation(app):
    lead = make_user("staff")
    escalation = escalated()
    for role in ("member", "advocate"):
        with pytest.raises(Invalid, match="staff member"):
            services.assign(lead, escalation, make_user(role).id)
        db.session.rollback()
    with pytest.raises(Invalid):
        services.assign(lead, escalation, 999_999)
    db.session.rollback()
    escalation = db.session.get(Escalation, escalation.id)
    assert escalation.assignee_id is None and assignments(escalation) == []


def test_assigning_to_someone_at_their_cap_is_refused_with_the_cap(app):
    lead = make_user("staff")
    busy = make_user("staff", display_name="Busy Bea")
    set_desk(busy, cap=2)
    for _ in range(2):
        services.assign(lead, escalated(), busy.id)
    third = escalated()
    with pytest.raises(Invalid) as refused:
        services.assign(lead, third, busy.id)
    assert "Busy Bea" in refused.value.message and "2 open escalations" in refused.value.message
    db.session.rollback()
    third = db.session.get(Escalation, third.id)
    assert third.assignee_id is None and assignments(third) == []
    # A resolved one no longer counts against the cap.
    services.resolve(lead, db.session.scalars(sa.select(Escalation).where(Escalation.assignee_id == busy.id))
                     .first())
    services.assign(lead, third, busy.id)
    assert db.session.get(Escalation, third.id).assignee_id == busy.id


def test_handing_on_and_releasing_keep_a_record(app):
    lead, first, second = make_user("staff"), make_user("staff"), make_user("staff")
    escalation = escalated()
    services.claim(first, escalation)
    services.assign(lead, escalation, second.id, "Billing knows this one")
    escalation = db.session.get(Escalation, escalation.id)
    assert escalation.assignee_id == second.id
    services.release(second, escalation, "Off sick tomorrow")
    db.session.expire_all()
    escalation = db.session.get(Escalation, escalation.id)
    assert escalation.assignee_id is None and escalation.assigned_at is None and escalation.state == OPEN
    assert assignments(escalation) == [("claimed", first.id, first.id), ("handed_on", second.id, lead.id),
                                       ("released", None, second.id)]
    events = desk_events(escalation.thread_id)
    assert ("escalation_assigned", lead.id, "handed_on") in events
    assert ("escalation_released", second.id, "released") in events
    actions = audit_actions(escalation)
    assert ("escalation-handed_on", lead.id) in actions and ("escalation-released", second.id) in actions
    with pytest.raises(Conflict):  # nobody has it now
        services.release(lead, escalation)


# --- resolving ------------------------------------------------------------------------------------------


def test_resolving_twice_is_refused_and_the_first_resolution_stands(app):
    clock.set(START)
    first, second = make_user("staff"), make_user("staff")
    escalation = escalated()
    services.resolve(first, escalation, ANSWERED, "Refund issued")
    clock.set(START.replace(hour=11))
    before = (desk_events(escalation.thread_id), audit_actions(escalation))
    with pytest.raises(Conflict, match="resolved already"):
        services.resolve(second, escalation, "closed", "Again")
    db.session.rollback()
    db.session.expire_all()
    escalation = db.session.get(Escalation, escalation.id)
    assert (escalation.state, escalation.resolution) == (RESOLVED, ANSWERED)
    assert escalation.resolved_by_id == first.id
    assert escalation.resolved_at.replace(tzinfo=UTC) == START
    assert escalation.resolution_note == "Refund issued"
    assert (desk_events(escalation.thread_id), audit_actions(escalation)) == before


def test_handing_back_needs_a_reason(app):
    staff = make_user("staff")
    escalation = escalated()
    with pytest.raises(Invalid, match="Say why"):
        services.hand_back(staff, escalation, "   ")
    db.session.rollback()
    assert db.session.get(Escalation, escalation.id).state == OPEN
    services.hand_back(staff, escalation, "Peers know this product better than we do")
    db.session.expire_all()
    escalation = db.session.get(Escalation, escalation.id)
    assert (escalation.state, escalation.resolution) == (RESOLVED, HANDED_BACK)
    assert escalation.resolution_note == "Peers know this product better than we do"
    assert ("escalation_resolved", staff.id, HANDED_BACK) in desk_events(escalation.thread_id)


# --- round-robin ----------------------------------------------------------------------------------------


def test_round_robin_gives_the_least_loaded_available_member_under_their_cap(app):
    lead = make_user("staff")
    a, b, c, d = (make_user("staff", display_name=name) for name in ("Ann", "Ben", "Cat", "Dev"))
    billing = make_category("Billing")
    make_team("Billing", [a, b, c, d], categories=[billing])
    set_desk(b, available=False)  # holds nothing, but away
    set_desk(d, cap=0)  # holds nothing, and takes nothing
    for holder, count in ((a, 2), (c, 1)):
        for _ in range(count):
            services.assign(lead, escalated(), holder.id)  # in a category of no team
    escalation = escalated(category=billing)
    # A holds 2, C holds 1; B is away and D is at their cap of 0: C, the least loaded who can take it.
    assert escalation.assignee_id == c.id
    assert assignments(escalation) == [("auto", c.id, None)]
    assert ("escalation_assigned", None, "auto") in desk_events(escalation.thread_id)
    # Now A and C hold 2 each; C was assigned a moment ago, A longer ago: A gets the next.
    assert escalated(category=billing).assignee_id == a.id


def test_round_robin_alternates_between_equally_loaded_members(app):
    first, second = make_user("staff"), make_user("staff")
    category = make_category("Integrations")
    make_team("Integrations", [first, second], categories=[category])
    clock.set(START)
    given = []
    for _ in range(4):
        escalation = escalated(category=category)
        given.append(escalation.assignee_id)
        services.resolve(first, escalation)  # both hold nothing again: only who had one last differs
        clock.advance(minutes=1)
    assert given[0] in (first.id, second.id) and given[1] in (first.id, second.id)
    assert given == [given[0], given[1], given[0], given[1]] and given[0] != given[1]


def test_a_team_that_does_not_auto_assign_leaves_escalations_unassigned(app):
    category = make_category("Security")
    make_team("Security", [make_user("staff")], categories=[category], auto_assign=False)
    escalation = escalated(make_thread(category=category))
    assert escalation.assignee_id is None and escalation.queue == "security"

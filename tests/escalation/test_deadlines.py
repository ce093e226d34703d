"""Breach warnings at 80% of the target and at the breach, "can you help?" notices to advocates at
75% of the peer window, and the sweep on two workers at once. The clock is moved, never slept."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from core import clock, jobs
from core.extensions import db
from escalation import rules, services
from escalation.models import OPEN, RESOLVED, UNANSWERED, Escalation, EscalationReason
from forum import history
from forum import services as forum_services
from tests.escalation.desk import escalated, make_team, notices_of, open_escalations, set_desk
from tests.factories import make_answer, make_category, make_thread, make_user

START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday; the default policy is around the clock
WARN_AT = START + timedelta(minutes=48)  # 80% of the default one-hour target
DUE_AT = START + timedelta(hours=1)
DEADLINE_NOTICES = ("esc_warning", "esc_breach")


def breach_events(thread_id: int) -> int:
    return sum(1 for e in history.events_for(thread_id) if e.kind == "escalation_breached")


def check_at(moment: datetime) -> dict[str, int]:
    """The deadline job at `moment`, and the notices it sends delivered."""
    clock.set(moment)
    counts = rules.check_deadlines()
    jobs.wait_idle()
    return counts


# --- breach warnings ---------------------------------------------------------------------------------


def test_the_holder_is_warned_at_80_percent_and_told_of_the_breach_once(app):
    clock.set(START)
    holder, colleague = make_user("staff"), make_user("staff")
    escalation = escalated()
    services.claim(holder, escalation)
    jobs.wait_idle()  # the notices of the new escalation, out of the way

    assert check_at(WARN_AT - timedelta(seconds=1)) == {"warned": 0, "breached": 0}
    assert notices_of(holder, *DEADLINE_NOTICES) == []

    assert check_at(WARN_AT) == {"warned": 1, "breached": 0}
    assert notices_of(holder, *DEADLINE_NOTICES) == [("esc_warning", escalation.thread_id)]
    assert notices_of(colleague, *DEADLINE_NOTICES) == []  # the holder has it: only they are told
    escalation = db.session.get(Escalation, escalation.id)
    assert escalation.breached_at is None and breach_events(escalation.thread_id) == 0

    assert check_at(DUE_AT - timedelta(seconds=1)) == {"warned": 0, "breached": 0}
    assert check_at(DUE_AT) == {"warned": 0, "breached": 1}
    db.session.expire_all()
    escalation = db.session.get(Escalation, escalation.id)
    assert escalation.breached_at.replace(tzinfo=UTC) == DUE_AT
    assert breach_events(escalation.thread_id) == 1
    assert notices_of(holder, *DEADLINE_NOTICES) == [("esc_warning", escalation.thread_id),
                                                      ("esc_breach", escalation.thread_id)]

    # Run again (and later): nothing more is marked, recorded or sent.
    assert check_at(DUE_AT) == {"warned": 0, "breached": 0}
    assert check_at(DUE_AT + timedelta(hours=5)) == {"warned": 0, "breached": 0}
    db.session.expire_all()
    assert db.session.get(Escalation, escalation.id).breached_at.replace(tzinfo=UTC) == DUE_AT
    assert breach_events(escalation.thread_id) == 1
    assert len(notices_of(holder, *DEADLINE_NOTICES)) == 2


def test_when_nobody_has_it_every_member_of_its_team_is_warned(app):
    clock.set(START)
    billing = make_category("Billing")
    first, second, outsider = make_user("staff"), make_user("staff"), make_user("staff")
    make_team("Billing", [first, second], categories=[billing], auto_assign=False)
    escalation = escalated(category=billing)
    assert escalation.assignee_id is None
    jobs.wait_idle()

    assert check_at(WARN_AT) == {"warned": 1, "breached": 0}
    for member in (first, second):
        assert notices_of(member, *DEADLINE_NOTICES) == [("esc_warning", escalation.thread_id)]
    assert notices_of(outsider, *DEADLINE_NOTICES) == []

    assert check_at(DUE_AT) == {"warned": 0, "breached": 1}
    for member in (first, second):
        assert [kind for kind, _ in notices_of(member, *DEADLINE_NOTICES)] == ["esc_warning", "esc_breach"]
    assert notices_of(outsider, *DEADLINE_NOTICES) == []


def test_an_escalation_answered_before_its_due_time_is_never_warned_or_breached(app):
    clock.set(START)
    holder = make_user("staff")
    escalation = escalated()
    services.claim(holder, escalation)
    clock.set(START + timedelta(minutes=30))
    make_answer(escalation.thread, holder, "We refunded the second charge; it shows in 3 days.")
    jobs.wait_idle()
    for moment in (WARN_AT, DUE_AT, DUE_AT + timedelta(days=2)):
        assert check_at(moment) == {"warned": 0, "breached": 0}
    db.session.expire_all()
    escalation = db.session.get(Escalation, escalation.id)
    assert escalation.first_response_at.replace(tzinfo=UTC) == START + timedelta(minutes=30)
    assert escalation.warned_at is None and escalation.breached_at is None
    assert breach_events(escalation.thread_id) == 0
    assert notices_of(holder, *DEADLINE_NOTICES) == []


def test_a_note_does_not_stop_the_clock_so_the_breach_still_comes(app):
    clock.set(START)
    holder = make_user("staff")
    escalation = escalated()
    services.claim(holder, escalation)
    services.add_note(holder, escalation.thread, "Looking at the payment provider's logs.")
    assert check_at(DUE_AT) == {"warned": 0, "breached": 1}  # warned with the breach, not twice
    assert notices_of(holder, *DEADLINE_NOTICES) == [("esc_breach", escalation.thread_id)]


# --- peers before staff ---------------------------------------------------------------------------------


def accepted_answer_in(tag: str, advocate) -> None:
    """A solved thread in `tag` whose accepted answer is the advocate's."""
    asker = make_user()
    thread = make_thread(asker, tags=[tag])
    forum_services.accept_answer(asker, make_answer(thread, advocate, "Switch rounding to the total."))


def test_advocates_who_know_the_tag_are_asked_at_75_percent_of_the_peer_window(app):
    forum_services.resolve_tags(make_user("admin"), ["invoices"])
    db.session.commit()
    clock.set(START - timedelta(days=3))
    expert, away, asking_advocate = make_user("advocate"), make_user("advocate"), make_user("advocate")
    outsider = make_user("advocate")  # answers, but in no thread of the tag
    for person in (expert, away, asking_advocate):
        accepted_answer_in("invoices", person)
    elsewhere = make_user()
    forum_services.accept_answer(elsewhere, make_answer(make_thread(elsewhere), outsider))
    set_desk(away, available=False)

    clock.set(START)
    thread = make_thread(asking_advocate, tags=["invoices"], title="Invoice totals are off by a cent")
    clock.set(START + timedelta(minutes=89))  # 74% of the two-hour peer window
    assert rules.sweep()["peer_calls"] == 0
    clock.set(START + timedelta(minutes=90))  # 75%
    assert rules.sweep() == {"unanswered": 0, "unresolved": 0, "peer_calls": 1}
    jobs.wait_idle()
    assert notices_of(expert, "peer_call") == [("peer_call", thread.id)]
    for person in (away, asking_advocate, outsider):
        assert notices_of(person, "peer_call") == [], person.username

    clock.set(START + timedelta(minutes=100))
    assert rules.sweep()["peer_calls"] == 0  # asked once per thread
    jobs.wait_idle()
    assert notices_of(expert, "peer_call") == [("peer_call", thread.id)]
    assert open_escalations() == []  # peers still have their window


def test_an_answered_thread_calls_no_one(app):
    forum_services.resolve_tags(make_user("admin"), ["invoices"])
    db.session.commit()
    expert = make_user("advocate")
    accepted_answer_in("invoices", expert)
    clock.set(START)
    thread = make_thread(tags=["invoices"])
    make_answer(thread, make_user())
    clock.set(START + timedelta(minutes=90))
    assert rules.sweep()["peer_calls"] == 0
    jobs.wait_idle()
    assert notices_of(expert, "peer_call") == []


# --- one open escalation per thread ----------------------------------------------------------------------


def test_two_sweeps_at_the_same_moment_open_each_escalation_once(make_app):
    app = make_app("postgresql")
    with app.app_context():
        clock.set(START)
        thread_ids = [make_thread(title=f"Export number {i} fails halfway").id for i in range(20)]
    moment = START + timedelta(hours=3)
    clock.set(moment)
    barrier = threading.Barrier(2)
    results: list[object] = []

    def sweep() -> None:
        with app.app_context():
            try:
                barrier.wait(timeout=10)
                results.append(rules.sweep(moment))
            except Exception as error:  # noqa: BLE001 - reported below
                results.append(error)
            finally:
                db.session.remove()

    workers = [threading.Thread(target=sweep) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert all(isinstance(r, dict) for r in results) and len(results) == 2, results
    assert sum(r["unanswered"] for r in results) == 20  # each opened once, and counted once
    with app.app_context():
        escalations = open_escalations()
        assert sorted(e.thread_id for e in escalations) == sorted(thread_ids)
        reasons = db.session.execute(sa.select(EscalationReason.thread_id, EscalationReason.reason)).all()
        assert sorted(reasons) == sorted((tid, UNANSWERED) for tid in thread_ids)
        opened = [e for tid in thread_ids for e in history.events_for(tid) if e.kind == "escalated"]
        assert len(opened) == 20
        db.session.remove()


def test_the_database_refuses_a_second_open_escalation_for_a_thread(app):
    escalation = escalated()

    def another(state: str) -> Escalation:
        return Escalation(thread_id=escalation.thread_id, queue="general", priority=2, state=state,
                          escalated_at=clock.now(), target_s=3600, calendar={}, due_at=clock.now(),
                          warn_at=clock.now())

    db.session.add(another(OPEN))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()
    db.session.add(another(RESOLVED))  # resolved ones are history: any number of them
    db.session.commit()
    assert [e.id for e in open_escalations()] == [escalation.id]


def test_when_the_holder_is_away_the_team_is_warned_instead(app):
    holder, colleague = make_user("staff"), make_user("staff")
    category = make_category("Desk away")
    make_team("Away team", [colleague], categories=[category], auto_assign=False)  # holder from elsewhere
    escalation = escalated(category=category)
    services.claim(holder, escalation)
    set_desk(holder, available=False)
    clock.set(escalation.due_at.replace(tzinfo=UTC) + timedelta(minutes=1))
    rules.check_deadlines()
    jobs.wait_idle()
    assert notices_of(colleague, "esc_breach") and not notices_of(holder, "esc_breach")

"""METRICS.md's hand-built fixture: about a dozen threads, one per rule, built through the real
services with a moved clock, and every figure of the week worked out by hand here (never read from
the implementation).

The week under test is Monday 2025-03-03 .. Sunday 2025-03-09 in UTC (PEERLINE_TIMEZONE unset);
the week after, 2025-03-10 .. 2025-03-16, holds the events that must not change it (an un-accept,
a thread solved again, a late first reply, a demotion).

Categories: A "Billing" (slug billing) and B "Setup" (slug setup). No category has a policy of its
own, so every escalation has the built-in default: a 1 h target, around the clock (business time is
real time), so an escalation is due one hour after it was opened.

Times are UTC, "3 09:00" meaning 2025-03-03 09:00. Each thread below and what it adds to the week:

T1  A  peer-solved           created 3 09:00; peer p1 replies 3 11:00; asker accepts 3 14:00
       -> first reply 2 h = 7200 (peer); solved by a peer, resolution 5 h = 18000
T2  A  deleted reply         created 3 10:00; p2 replies 3 11:00 and deletes it 3 11:30; p1 replies 3 14:00
       -> the deleted reply counts nowhere: first reply is p1's, 4 h = 14400 (peer); open at the end
T3  B  hidden reply          created 3 12:00; p3 replies 3 13:00, staff S hides it 3 14:00; S replies 3 18:00
       -> the hidden reply counts nowhere: first reply is S's, 6 h = 21600 (staff), also the first staff
          reply 21600; open at the end (answered)
T14 A  re-accepted while     created 3 15:00; p1 replies 3 16:00; admin S2 replies 3 17:00; asker accepts
       accepted, then solved p1's 3 18:00, then S2's 3 19:00 (the answer changes while one is in force)
       again next week       -> first reply 1 h = 3600 (peer); first staff reply 2 h = 7200; solved ONCE this
                                week, by the acceptance that counted (p1's, a peer, 3 h = 10800)
                             next week: un-accepted 11 10:00, p1's accepted again 12 10:00
                             -> solved again next week: peer, 12 10:00 - 3 15:00 = 211 h = 759600
T4  A  asker's follow-up     created 4 09:00; the asker adds a follow-up 4 10:00; p2 replies 4 12:00;
                             asker accepts p2's 4 17:00
       -> the follow-up is not a reply: first reply 3 h = 10800 (peer); solved by a peer, 8 h = 28800
T5  B  role changed after    created 4 10:00; member r replies 4 10:30; r is made staff 4 11:00; S replies
       posting               4 12:00; the asker accepts r's reply 4 13:00
       -> r's reply stays a peer's (the role it was written in): first reply 30 min = 1800 (peer); the
          first staff reply is S's, 2 h = 7200; solved by a peer, 3 h = 10800
T6  A  self-solved           created 5 09:00; p1 replies 5 10:00; the asker answers 5 13:00 and accepts
                             their own answer 5 15:00
       -> first reply 1 h = 3600 (peer); solved by the asker (self), 6 h = 21600
T7  B  un-accepted after     created 5 12:00; S replies 5 14:00; the asker accepts S's 5 22:00;
       the period            next week the asker un-accepts it (11 09:00)
       -> first reply 2 h = 7200 (staff), first staff reply 7200; solved by staff, 10 h = 36000, and it
          stays solved at the week's end (the backlog at that moment does not hold it)
T8  A->B moved               created 6 09:00 in A; p3 replies 6 10:00; staff moves it to B 6 11:00; the
                             asker accepts p3's 6 14:00
       -> opened in A, first reply in A 1 h = 3600 (peer); solved in B by a peer, 5 h = 18000
T9  B  escalation breached,  created 7 09:00; advocate p1 sends it to staff 7 10:00 (due 7 11:00); peer p4
       still open            replies 7 12:00 (a peer's reply does not stop an escalation's clock)
       -> first reply 3 h = 10800 (peer); its escalation is due in the week, never answered, still
          open at the week's end: a breach, and an open escalation in the backlog; the thread is open
T10 A  escalation met        created 7 12:00; p1 sends it to staff 7 13:00 (due 7 14:00); S2 replies 7 13:30;
                             S2 resolves the escalation 7 14:00 (answered; the thread stays unsolved)
       -> first reply 1.5 h = 5400 (staff), first staff reply 5400; escalation response 30 min = 1800,
          before its due time: met; the thread is open at the end, its escalation is not
T11 A  no reply              created 8 10:00; S leaves an internal note 8 11:00 (never a reply);
                             next week p2 replies 10 09:00
       -> open and unanswered at the week's end; next week its first reply, 47 h = 169200 (peer)
T12 B  closed, no answer     created 8 12:00; S closes it (off-topic) 8 16:00
       -> counts in threads_closed (solved or closed), not in the backlog
T13 A  deleted thread        created 9 09:00; p1 replies 9 10:00; the asker accepts it 9 10:30; S deletes
                             the thread 9 11:00
       -> counts nowhere: not opened, not solved, no first reply, not in the backlog
After the week, S (staff when writing in T3, T5, T7) is made a member 14 09:00: S's posts stay staff
posts.

Percentiles are by linear interpolation between closest ranks (numpy's default): over n sorted
values v[0..n-1], the p-th is at position (n - 1) * p / 100, between the two ranks around it.
"""

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from accounts import services as accounts_services
from core import clock
from core.extensions import db
from escalation import services as escalation_services
from escalation.models import ANSWERED, NEEDS_STAFF
from forum import services as forum_services
from forum import states
from insights import measures
from insights.models import ALL, CATEGORY
from tests.factories import make_category, make_user

WEEK = (date(2025, 3, 3), date(2025, 3, 9))
NEXT_WEEK = (date(2025, 3, 10), date(2025, 3, 16))
SECONDS = 1.0  # SQLite's julianday arithmetic is off by a few milliseconds
SHARE = 1e-9

# METRICS.md, "Names in exports, the API and `flask insights report --json`", copied by hand.
METRICS_NAMES = {
    "period_start", "period_end", "threads_opened", "threads_solved", "threads_closed",
    "peer_resolution_share", "self_resolution_share", "staff_resolution_share", "peer_answer_share",
    "first_response_median_s", "first_response_p90_s", "staff_first_response_median_s",
    "staff_first_response_p90_s", "escalation_response_median_s", "escalation_response_p90_s",
    "sla_attainment", "sla_breaches", "time_to_resolution_median_s", "time_to_resolution_p90_s",
    "backlog_open", "backlog_unanswered", "backlog_escalations", "csat", "deflection_rate",
}


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment of March 2025, UTC."""
    return datetime(2025, 3, day, hour, minute, tzinfo=UTC)


def when(day: int, hour: int, minute: int = 0) -> None:
    """Stop the clock there: what follows happens then."""
    clock.set(at(day, hour, minute))


def ask(author, category, title: str, day: int, hour: int, minute: int = 0):
    when(day, hour, minute)
    return forum_services.create_thread(author, category.id, title, "It fails with an error when I try.")


def answer(author, thread, day: int, hour: int, minute: int = 0, body: str = "Try turning it off and on."):
    when(day, hour, minute)
    return forum_services.create_post(author, thread, body)


def accept(actor, post, day: int, hour: int, minute: int = 0):
    when(day, hour, minute)
    return forum_services.accept_answer(actor, post)


def build_fixture() -> dict:
    """The threads of the module docstring, in the order they happen, through the real services.
    Returns the categories and a few people by name."""
    billing, setup = make_category("Billing"), make_category("Setup")  # A and B
    when(1, 8)
    p1, p2, p3, p4 = (make_user("advocate"), make_user("member"), make_user("member"), make_user("advocate"))
    r = make_user("member")
    s, s2 = make_user("staff"), make_user("admin")
    askers = {n: make_user("member") for n in range(1, 15)}

    # T1, A: peer-solved.
    t1 = ask(askers[1], billing, "T1 peer solved", 3, 9)
    accept(askers[1], answer(p1, t1, 3, 11), 3, 14)

    # T2, A: a deleted reply; the next one is the first reply.
    t2 = ask(askers[2], billing, "T2 deleted reply", 3, 10)
    deleted = answer(p2, t2, 3, 11)
    when(3, 11, 30)
    states.delete_post(p2, deleted)
    answer(p1, t2, 3, 14)

    # T3, B: a hidden reply; staff give the first reply.
    t3 = ask(askers[3], setup, "T3 hidden reply", 3, 12)
    hidden = answer(p3, t3, 3, 13)
    when(3, 14)
    states.hide_post(s, hidden, "Off-topic advertising")
    answer(s, t3, 3, 18)

    # T14, A: accepted, then another answer accepted while the first was in force.
    t14 = ask(askers[14], billing, "T14 accepted twice", 3, 15)
    by_peer = answer(p1, t14, 3, 16)
    by_admin = answer(s2, t14, 3, 17)
    accept(askers[14], by_peer, 3, 18)
    accept(askers[14], by_admin, 3, 19)

    # T4, A: the asker's own follow-up is not a reply.
    t4 = ask(askers[4], billing, "T4 own follow-up", 4, 9)
    answer(askers[4], t4, 4, 10, body="More details: it happens on every invoice.")
    accept(askers[4], answer(p2, t4, 4, 12), 4, 17)

    # T5, B: the first replier becomes staff afterwards.
    t5 = ask(askers[5], setup, "T5 role changed", 4, 10)
    by_r = answer(r, t5, 4, 10, 30)
    when(4, 11)
    accounts_services.change_role_from_shell(r, "staff", "Hired")
    answer(s, t5, 4, 12)
    accept(askers[5], by_r, 4, 13)

    # T6, A: self-solved.
    t6 = ask(askers[6], billing, "T6 self solved", 5, 9)
    answer(p1, t6, 5, 10)
    own = answer(askers[6], t6, 5, 13, body="Found it myself: the rounding setting.")
    accept(askers[6], own, 5, 15)

    # T7, B: staff-solved, un-accepted next week.
    t7 = ask(askers[7], setup, "T7 unaccepted later", 5, 12)
    accept(askers[7], answer(s, t7, 5, 14), 5, 22)

    # T8, A then B: moved between its first reply and its acceptance.
    t8 = ask(askers[8], billing, "T8 moved", 6, 9)
    by_p3 = answer(p3, t8, 6, 10)
    when(6, 11)
    states.move_thread(s, t8, setup.id)
    accept(askers[8], by_p3, 6, 14)

    # T9, B: escalated, breached, still open at the week's end.
    t9 = ask(askers[9], setup, "T9 breach still open", 7, 9)
    when(7, 10)
    escalation_services.send_up(p1, t9, NEEDS_STAFF, "Needs an account lookup")
    answer(p4, t9, 7, 12)

    # T10, A: escalated, answered before its due time, escalation resolved.
    t10 = ask(askers[10], billing, "T10 escalation met", 7, 12)
    when(7, 13)
    escalation = escalation_services.send_up(p1, t10, NEEDS_STAFF, "Needs an account lookup")
    answer(s2, t10, 7, 13, 30)
    when(7, 14)
    escalation_services.resolve(s2, escalation, ANSWERED)

    # T11, A: no reply this week (an internal note is not one); a reply next week.
    t11 = ask(askers[11], billing, "T11 no reply", 8, 10)
    when(8, 11)
    escalation_services.add_note(s, t11, "Waiting for the billing team.")

    # T12, B: closed without an answer.
    t12 = ask(askers[12], setup, "T12 closed", 8, 12)
    when(8, 16)
    states.close_thread(s, t12, "off-topic")

    # T13, A: solved, then the thread is deleted.
    t13 = ask(askers[13], billing, "T13 deleted thread", 9, 9)
    accept(askers[13], answer(p1, t13, 9, 10), 9, 10, 30)
    when(9, 11)
    states.delete_thread(s, t13)

    # --- the next week -------------------------------------------------------------------------------
    answer(p2, t11, 10, 9)  # T11's first reply
    when(11, 9)
    forum_services.unaccept_answer(askers[7], t7)  # T7 un-accepted
    when(11, 10)
    forum_services.unaccept_answer(askers[14], t14)  # T14 un-accepted...
    accept(askers[14], by_peer, 12, 10)  # ...and solved again
    when(14, 9)
    accounts_services.change_role_from_shell(s, "member", "Left the company")

    when(31, 12)  # long after both weeks: every backlog is measured at its week's end
    db.session.commit()
    return {"billing": billing, "setup": setup}


def check(found: dict, expected: dict) -> None:
    """Every expected figure, durations to the second, shares to 1e-9; all mismatches at once."""
    wrong = {}
    for key, value in expected.items():
        got = found.get(key)
        if value is None or isinstance(value, str):
            same = got == value
        elif got is None:
            same = False
        elif isinstance(value, int) and not key.endswith("_s"):
            same = got == value
        else:
            same = got == pytest.approx(value, abs=SECONDS if key.endswith("_s") else SHARE)
        if not same:
            wrong[key] = {"expected": value, "got": got}
    assert not wrong, wrong


@pytest.fixture
def week(app):
    return build_fixture()


# --- the week, overall --------------------------------------------------------------------------------


def test_threads_opened_solved_and_closed(week):
    check(measures.compute(*WEEK, ALL)[0], {
        "period_start": "2025-03-03", "period_end": "2025-03-09",
        # T1 T2 T3 T4 T5 T6 T7 T8 T9 T10 T11 T12 T14 = 13; T13 was deleted and counts nowhere.
        "threads_opened": 13,
        # Went from unsolved to solved this week: T1 T4 T5 T6 T7 T8 T14 = 7. T14's second acceptance
        # (made while p1's was in force) is no new solve; T7's un-accept next week does not take it
        # out; T13 was deleted.
        "threads_solved": 7,
        # Solved or closed: the 7 solved + T12 (closed without an answer) = 8.
        "threads_closed": 8,
    })


def test_resolution_shares(week):
    # Of the 7 solved: peer T1 T4 T5 (r wrote it as a member) T8 T14 (p1's, the acceptance that
    # counted) = 5; self T6 = 1; staff T7 = 1. 5/7 + 1/7 + 1/7 = 1.
    check(measures.compute(*WEEK, ALL)[0], {
        "peer_resolution_share": 5 / 7, "self_resolution_share": 1 / 7, "staff_resolution_share": 1 / 7,
    })


def test_time_to_resolution(week):
    # The counted acceptances minus creation: T1 18000, T4 28800, T5 10800, T6 21600, T7 36000,
    # T8 18000, T14 10800. Sorted: 10800 10800 18000 18000 21600 28800 36000 (n = 7).
    # median: position 6 * 0.5 = 3 -> 18000
    # p90: position 6 * 0.9 = 5.4 -> 28800 + 0.4 * (36000 - 28800) = 28800 + 2880 = 31680
    check(measures.compute(*WEEK, ALL)[0], {
        "time_to_resolution_median_s": 18000.0, "time_to_resolution_p90_s": 31680.0,
    })


def test_first_response_and_peer_answer_share(week):
    # First replies this week (the deleted T2 reply, the hidden T3 reply, T4's own follow-up and
    # T11's internal note are not replies; T13 was deleted; T11 and T12 have none):
    #   T1 7200 peer, T2 14400 peer, T3 21600 staff, T4 10800 peer, T5 1800 peer (r was a member
    #   then), T6 3600 peer, T7 7200 staff, T8 3600 peer, T9 10800 peer, T10 5400 staff,
    #   T14 3600 peer -> 11 first replies, 8 by peers: 8/11.
    # Sorted: 1800 3600 3600 3600 5400 7200 7200 10800 10800 14400 21600 (n = 11).
    # median: position 10 * 0.5 = 5 -> 7200; p90: position 10 * 0.9 = 9 -> 14400
    check(measures.compute(*WEEK, ALL)[0], {
        "peer_answer_share": 8 / 11, "first_response_median_s": 7200.0, "first_response_p90_s": 14400.0,
    })


def test_staff_first_response(week):
    # First staff replies this week: T3 21600 (S), T5 7200 (S; r's earlier reply was written as a
    # member), T7 7200 (S), T10 5400 (S2), T14 7200 (S2). S's demotion next week changes none.
    # Sorted: 5400 7200 7200 7200 21600 (n = 5).
    # median: position 4 * 0.5 = 2 -> 7200
    # p90: position 4 * 0.9 = 3.6 -> 7200 + 0.6 * (21600 - 7200) = 7200 + 8640 = 15840
    check(measures.compute(*WEEK, ALL)[0], {
        "staff_first_response_median_s": 7200.0, "staff_first_response_p90_s": 15840.0,
    })


def test_escalations_and_sla(week):
    # Escalations due this week or first answered in it: T9 (due 7 11:00, never answered, open and
    # overdue at the end: a breach) and T10 (due 7 14:00, answered 7 13:30: met). 1 / (1 + 1) = 0.5.
    # Escalation response: T10 only, 13:30 - 13:00 = 1800 business seconds (around the clock).
    check(measures.compute(*WEEK, ALL)[0], {
        "sla_attainment": 0.5, "sla_breaches": 1,
        "escalation_response_median_s": 1800.0, "escalation_response_p90_s": 1800.0,
    })


def test_backlog_at_the_end_of_the_week(week):
    # At 2025-03-10 00:00: T1 T4 T5 T6 T8 T14 solved, T7 solved then (un-accepted later), T12
    # closed, T13 deleted -> open: T2 T3 T9 T10 T11 = 5; unanswered: T11 (its reply came on the 10th)
    # = 1; open escalations: T9 (T10's was resolved) = 1.
    check(measures.compute(*WEEK, ALL)[0], {
        "backlog_open": 5, "backlog_unanswered": 1, "backlog_escalations": 1,
    })


def test_nothing_to_measure_is_null(week):
    # No ratings and no ask flows in the fixture.
    check(measures.compute(*WEEK, ALL)[0], {"csat": None, "deflection_rate": None})


# --- by category --------------------------------------------------------------------------------------


def test_billing_category(week):
    # A: T1 T2 T4 T6 T8 (created there) T10 T11 T14 opened = 8 (T13 deleted).
    # Solved in A: T1 peer 18000, T4 peer 28800, T6 self 21600, T14 peer 10800 (T8 was in B when
    #   accepted) = 4: peer 3/4, self 1/4, staff 0; closed = 4.
    #   TTR sorted 10800 18000 21600 28800: median position 1.5 -> 18000 + 0.5 * 3600 = 19800;
    #   p90 position 2.7 -> 21600 + 0.7 * 7200 = 26640.
    # First replies in A: T1 7200 p, T2 14400 p, T4 10800 p, T6 3600 p, T8 3600 p (still in A at
    #   6 10:00), T10 5400 staff, T14 3600 p -> 6/7 by peers.
    #   Sorted 3600 3600 3600 5400 7200 10800 14400: median position 3 -> 5400;
    #   p90 position 5.4 -> 10800 + 0.4 * 3600 = 12240.
    # First staff replies in A: T10 5400, T14 7200: median position 0.5 -> 6300;
    #   p90 position 0.9 -> 5400 + 0.9 * 1800 = 7020.
    # Escalations: T10 met -> 1/1, no breach; response 1800.
    # Backlog at the end: T2 T10 T11 = 3, unanswered T11 = 1, no open escalation.
    check(measures.compute(*WEEK, CATEGORY)[week["billing"].id], {
        "threads_opened": 8, "threads_solved": 4, "threads_closed": 4,
        "peer_resolution_share": 0.75, "self_resolution_share": 0.25, "staff_resolution_share": 0.0,
        "time_to_resolution_median_s": 19800.0, "time_to_resolution_p90_s": 26640.0,
        "peer_answer_share": 6 / 7, "first_response_median_s": 5400.0, "first_response_p90_s": 12240.0,
        "staff_first_response_median_s": 6300.0, "staff_first_response_p90_s": 7020.0,
        "sla_attainment": 1.0, "sla_breaches": 0,
        "escalation_response_median_s": 1800.0, "escalation_response_p90_s": 1800.0,
        "backlog_open": 3, "backlog_unanswered": 1, "backlog_escalations": 0,
    })


def test_setup_category_counts_a_moved_thread_where_it_was(week):
    # B: T3 T5 T7 T9 T12 opened = 5 (T8 was opened in A).
    # Solved in B: T5 peer 10800, T7 staff 36000, T8 peer 18000 (moved to B before its acceptance)
    #   = 3: peer 2/3, self 0, staff 1/3; closed: those 3 + T12 = 4.
    #   TTR sorted 10800 18000 36000: median 18000; p90 position 1.8 -> 18000 + 0.8 * 18000 = 32400.
    # First replies in B: T3 21600 staff, T5 1800 peer, T7 7200 staff, T9 10800 peer -> 2/4.
    #   Sorted 1800 7200 10800 21600: median position 1.5 -> 7200 + 0.5 * 3600 = 9000;
    #   p90 position 2.7 -> 10800 + 0.7 * 10800 = 18360.
    # First staff replies in B: T3 21600, T5 7200, T7 7200 -> sorted 7200 7200 21600: median 7200;
    #   p90 position 1.8 -> 7200 + 0.8 * 14400 = 18720.
    # Escalations: T9 breached -> 0/1, 1 breach, no response time.
    # Backlog at the end: T3 T9 = 2, none unanswered, T9's escalation open = 1.
    check(measures.compute(*WEEK, CATEGORY)[week["setup"].id], {
        "threads_opened": 5, "threads_solved": 3, "threads_closed": 4,
        "peer_resolution_share": 2 / 3, "self_resolution_share": 0.0, "staff_resolution_share": 1 / 3,
        "time_to_resolution_median_s": 18000.0, "time_to_resolution_p90_s": 32400.0,
        "peer_answer_share": 0.5, "first_response_median_s": 9000.0, "first_response_p90_s": 18360.0,
        "staff_first_response_median_s": 7200.0, "staff_first_response_p90_s": 18720.0,
        "sla_attainment": 0.0, "sla_breaches": 1,
        "escalation_response_median_s": None, "escalation_response_p90_s": None,
        "backlog_open": 2, "backlog_unanswered": 0, "backlog_escalations": 1,
    })


# --- the week after -----------------------------------------------------------------------------------


def test_next_week_counts_the_thread_solved_again(week):
    # Nothing opened. Solved: T14 again (un-accepted 11 10:00, accepted 12 10:00; a peer's answer),
    # 12 10:00 - 3 15:00 = 8 d 19 h = 211 h = 759600 s. T7's un-accept removes nothing.
    # First replies: T11, 10 09:00 - 8 10:00 = 47 h = 169200 (peer). No staff reply, no escalation
    # due or answered.
    # Backlog at 2025-03-17 00:00: T2 T3 T7 (un-accepted) T9 T10 T11 = 6, none unanswered; T9's
    # escalation still open = 1.
    check(measures.compute(*NEXT_WEEK, ALL)[0], {
        "period_start": "2025-03-10", "period_end": "2025-03-16",
        "threads_opened": 0, "threads_solved": 1, "threads_closed": 1,
        "peer_resolution_share": 1.0, "self_resolution_share": 0.0, "staff_resolution_share": 0.0,
        "time_to_resolution_median_s": 759600.0, "time_to_resolution_p90_s": 759600.0,
        "peer_answer_share": 1.0, "first_response_median_s": 169200.0, "first_response_p90_s": 169200.0,
        "staff_first_response_median_s": None, "staff_first_response_p90_s": None,
        "escalation_response_median_s": None, "escalation_response_p90_s": None,
        "sla_attainment": None, "sla_breaches": 0,
        "backlog_open": 6, "backlog_unanswered": 0, "backlog_escalations": 1,
    })


# --- the report -----------------------------------------------------------------------------------------


def test_json_report_has_exactly_the_metrics_names(week, app):
    runner = app.test_cli_runner()
    db.session.commit()
    week_args = ["insights", "report", "--from", "2025-03-03", "--to", "2025-03-09", "--json"]
    result = runner.invoke(args=week_args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert set(report) == METRICS_NAMES
    check(report, {"threads_opened": 13, "threads_solved": 7, "threads_closed": 8, "sla_breaches": 1,
                   "backlog_open": 5, "time_to_resolution_p90_s": 31680.0})

    result = runner.invoke(args=[*week_args, "--category", "setup"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert set(report) == METRICS_NAMES
    check(report, {"threads_opened": 5, "threads_solved": 3, "threads_closed": 4,
                   "staff_resolution_share": 1 / 3, "backlog_escalations": 1})


# --- smaller fixtures ---------------------------------------------------------------------------------


def test_solved_twice_in_one_period_counts_once(app):
    # Created 3 09:00; p replies 3 10:00; accepted 3 11:00, un-accepted 3 12:00, accepted again
    # 3 13:00. "Threads solved in the period" counts threads: 1, not 2. Time to resolution is over
    # threads solved in the period, so one value; the acceptance that counted is the first one to
    # take it from unsolved to solved in the period (our reading): 11:00 - 09:00 = 7200.
    category, asker, peer = make_category("Billing"), make_user("member"), make_user("member")
    thread = ask(asker, category, "Solved twice", 3, 9)
    post = answer(peer, thread, 3, 10)
    accept(asker, post, 3, 11)
    when(3, 12)
    forum_services.unaccept_answer(asker, thread)
    accept(asker, post, 3, 13)
    when(31, 12)
    check(measures.compute(*WEEK, ALL)[0], {
        "threads_opened": 1, "threads_solved": 1, "threads_closed": 1, "peer_resolution_share": 1.0,
        "time_to_resolution_median_s": 7200.0, "time_to_resolution_p90_s": 7200.0,
    })


def test_periods_are_days_of_the_site_time_zone(make_app, backend):
    # New York is UTC-5 until 2025-03-09. Asked 4 03:00 UTC = Monday 3 22:00 local; a peer replies
    # 4 04:00 UTC = Monday 23:00 local (1 h = 3600); accepted 4 06:00 UTC = Tuesday 01:00 local
    # (3 h = 10800). Monday local: opened 1, first reply 3600, nothing solved, backlog at Monday's
    # local end (4 05:00 UTC) 1 answered thread. Tuesday local: solved 1 in 10800, backlog 0.
    # In UTC all of it would be Tuesday.
    app = make_app(backend, PEERLINE_TIMEZONE="America/New_York")
    with app.app_context():
        category, asker, peer = make_category("Billing"), make_user("member"), make_user("member")
        thread = ask(asker, category, "Late on Monday", 4, 3)
        accept(asker, answer(peer, thread, 4, 4), 4, 6)
        when(31, 12)
        monday = date(2025, 3, 3)
        tuesday = date(2025, 3, 4)
        check(measures.compute(monday, monday, ALL)[0], {
            "threads_opened": 1, "threads_solved": 0, "threads_closed": 0,
            "first_response_median_s": 3600.0, "peer_answer_share": 1.0,
            "time_to_resolution_median_s": None, "backlog_open": 1, "backlog_unanswered": 0,
        })
        check(measures.compute(tuesday, tuesday, ALL)[0], {
            "threads_opened": 0, "threads_solved": 1, "threads_closed": 1,
            "first_response_median_s": None, "peer_answer_share": None,
            "time_to_resolution_median_s": 10800.0, "backlog_open": 0, "backlog_unanswered": 0,
        })


def test_a_recompute_sweeps_the_backlogs_to_the_same_figures(week):
    """Over many periods the recompute sweeps the backlogs from the history at once; every day's
    and week's snapshot must equal the figures computed for that period alone."""
    from insights import rollup
    from insights.models import ALL, CATEGORY, STAFF, TEAM

    clock.set(datetime(2025, 3, 20, 9, tzinfo=UTC))
    first, last = WEEK[0] - timedelta(days=2), NEXT_WEEK[1]
    assert rollup.recompute(first, last) > 0
    periods = [(day, day) for day in (first + timedelta(days=n) for n in range((last - first).days + 1))]
    periods += [WEEK, NEXT_WEEK, (WEEK[0] - timedelta(days=7), WEEK[0] - timedelta(days=1))]
    for start, end in periods:
        alone = measures.compute_splits(start, end, (ALL, CATEGORY, TEAM, STAFF))
        for split, rows in alone.items():
            assert (rollup.find(start, end, split) or {}) == rows, (start, end, split)

"""The thread history: one event per state change with its actor, role and category; the check of
the cached columns against it; periods that stay as they were; the audit log; closed means closed."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from accounts.models import AuditEntry
from core import clock, jobs, signals
from core.errors import Conflict, Forbidden, Invalid
from core.extensions import AppendOnly, db
from forum import categories, history, hooks, services, states
from forum.models import Notification, Post, Thread, ThreadEvent
from tests.factories import make_answer, make_category, make_thread, make_user


def forum_events(thread) -> list[ThreadEvent]:
    """The thread's history as the forum writes it (packages above add their own kinds, such as
    an urgent thread's escalation)."""
    return [e for e in history.events_for(thread.id) if e.kind in history.FORUM_KINDS]


def kinds(thread) -> list[str]:
    return [e.kind for e in forum_events(thread)]


def last_event(thread) -> ThreadEvent:
    return forum_events(thread)[-1]


def audit_actions(subject_type: str, subject_id: int) -> list[str]:
    return list(db.session.scalars(sa.select(AuditEntry.action).where(
        AuditEntry.subject_type == subject_type, AuditEntry.subject_id == subject_id)
        .order_by(AuditEntry.id)))


def test_every_state_change_writes_exactly_one_event_with_actor_role_and_category(app):
    asker, staff, helper = make_user(), make_user("staff"), make_user("advocate")
    help_desk, billing = make_category("Help desk"), make_category("Billing")
    thread = make_thread(asker, category=help_desk, urgent=True, urgent_reason="Payroll is down")
    assert kinds(thread) == ["created", "urgent_raised"]
    assert (last_event(thread).actor_id, last_event(thread).actor_role) == (asker.id, "member")

    answer = make_answer(thread, helper)
    staff_answer = make_answer(thread, staff)
    assert kinds(thread)[-2:] == ["first_reply", "first_staff_reply"]
    assert thread.first_staff_reply_post_id == staff_answer.id

    steps = [
        (lambda: services.accept_answer(asker, answer), "accepted", asker),
        (lambda: services.unaccept_answer(asker, thread), "unaccepted", asker),
        (lambda: services.accept_answer(staff, answer), "accepted", staff),
        (lambda: states.set_urgent(asker, thread, False), "urgent_cleared", asker),
        (lambda: states.close_thread(staff, thread, "duplicate", "See thread 12"), "closed", staff),
        (lambda: states.reopen_thread(staff, thread), "reopened", staff),
        (lambda: states.set_locked(staff, thread, True), "locked", staff),
        (lambda: states.set_locked(staff, thread, False), "unlocked", staff),
        (lambda: states.move_thread(staff, thread, billing.id), "moved", staff),
        (lambda: states.hide_post(staff, staff_answer, "Shares a customer's address"), "reply_hidden", staff),
        (lambda: states.unhide_post(staff, staff_answer), "reply_unhidden", staff),
        (lambda: states.hide_thread(staff, thread, "Legal asked us to"), "hidden", staff),
        (lambda: states.unhide_thread(staff, thread), "unhidden", staff),
        (lambda: states.delete_thread(staff, thread, "Asked twice"), "deleted", staff),
        (lambda: states.restore_thread(staff, thread), "restored", staff),
    ]
    for step, kind, actor in steps:
        before = len(kinds(thread))
        step()
        assert len(kinds(thread)) == before + 1, kind
        event = last_event(thread)
        assert (event.kind, event.actor_id, event.actor_role) == (kind, actor.id, actor.role)
        assert event.category_id == thread.category_id
    closed = next(e for e in history.events_for(thread.id) if e.kind == "closed")
    assert (closed.reason, closed.note, closed.category_id) == ("duplicate", "See thread 12", help_desk.id)
    moved = next(e for e in history.events_for(thread.id) if e.kind == "moved")
    assert (moved.from_category_id, moved.category_id) == (help_desk.id, billing.id)
    assert history.check([thread.id]) == []
    assert audit_actions("thread", thread.id) == [  # staff accepting on the asker's behalf too
        "accept", "close", "reopen", "lock", "unlock", "move", "hide", "unhide", "delete", "restore"]
    assert audit_actions("post", staff_answer.id) == ["hide", "unhide"]


def test_refused_and_no_op_changes_write_nothing_and_say_why(app, client):
    staff, asker = make_user("staff"), make_user()
    category = make_category("Help")
    thread = make_thread(asker, category=category)
    answer = make_answer(thread)
    before = kinds(thread)
    refused = [
        (lambda: states.move_thread(staff, thread, category.id), Invalid, "already in"),
        (lambda: states.move_thread(staff, thread, 999_999), Invalid, "Choose one of the categories"),
        (lambda: states.move_thread(staff, thread, "x"), Invalid, "Choose one of the categories"),
        (lambda: states.reopen_thread(staff, thread), Conflict, "not closed"),
        (lambda: states.close_thread(staff, thread, "because"), Invalid, "Choose why"),
        (lambda: states.unhide_post(staff, answer), Conflict, "not hidden"),
        (lambda: states.hide_post(staff, answer, "   "), Invalid, "Say why"),
        (lambda: states.hide_post(staff, answer, "x" * 501), Invalid, "under 500"),
        (lambda: states.set_locked(staff, thread, False), Conflict, "already unlocked"),
        (lambda: states.restore_thread(staff, thread), Conflict, "not deleted"),
        (lambda: services.unaccept_answer(asker, thread), Conflict, "No answer is accepted"),
        (lambda: states.close_thread(asker, thread, "duplicate"), Forbidden, "Only staff"),
        (lambda: states.hide_post(asker, answer, "I dislike it"), Forbidden, "Only staff"),
        (lambda: states.set_urgent(make_user(), thread, True, "me too"), Forbidden, "Only the person"),
    ]
    for call, error, message in refused:
        with pytest.raises(error, match=message):
            call()
        db.session.rollback()
    assert kinds(thread) == before

    states.close_thread(staff, thread, "off-topic")
    states.hide_post(staff, answer, "Rude")
    after = kinds(thread)
    with pytest.raises(Conflict, match="already closed"):
        states.close_thread(staff, thread, "duplicate")
    with pytest.raises(Conflict, match="already hidden"):
        states.hide_post(staff, answer, "Still rude")
    db.session.rollback()
    assert kinds(thread) == after

    # The routes answer the same refusals with the service's message and status.
    client.post("/signin", data={"login": staff.username, "password": "correct horse battery staple"})
    assert client.post(f"/t/{thread.id}/close", data={"reason": "duplicate"}).status_code == 409
    assert client.post(f"/t/{thread.id}/move", data={"category_id": "424242"}).status_code == 400
    response = client.post(f"/posts/{answer.id}/hide", data={"reason": "again"})
    assert response.status_code == 409 and "already hidden" in response.text
    assert client.post(f"/t/{thread.id}/reopen").status_code == 302
    assert client.post(f"/t/{thread.id}/reopen").status_code == 409
    assert kinds(thread) == [*after, "reopened"]


def test_closed_and_locked_threads_refuse_answers_in_the_service_and_the_route(app, client):
    staff, member = make_user("staff"), make_user()
    closed, locked = make_thread(), make_thread()
    states.close_thread(staff, closed, "answered-elsewhere", "Fixed in release 4.2")
    states.set_locked(staff, locked, True)
    with pytest.raises(Forbidden, match="closed"):
        services.create_post(member, closed, "One more idea")
    with pytest.raises(Forbidden, match="locked"):
        services.create_post(member, locked, "One more idea")
    client.post("/signin", data={"login": member.username, "password": "correct horse battery staple"})
    for thread, word in ((closed, "closed"), (locked, "locked")):
        response = client.post(f"/t/{thread.id}/reply", data={"body": "Direct POST"})
        assert response.status_code == 403 and word in response.text
        if thread is closed:  # the refusal's page says who closed it and why, as the thread does
            assert f"by {staff.display_name}: answered elsewhere" in response.text
        assert db.session.get(Thread, thread.id).reply_count == 0
    page = client.get(f"/t/{closed.id}").text
    assert f"by {staff.display_name}" in page and "answered elsewhere" in page
    assert "Fixed in release 4.2" in page and "Ask a new question" in page
    assert f'action="/t/{closed.id}/reply"' not in page
    make_answer(closed, staff, "Staff may still say where the fix is")  # staff can still post


def test_the_history_check_finds_a_cache_that_disagrees(app, runner):
    staff = make_user("staff")
    thread = make_thread()
    answer = make_answer(thread)
    services.accept_answer(thread.author, answer)
    states.close_thread(staff, thread, "other")
    assert runner.invoke(args=["history", "check"]).exit_code == 0
    db.session.execute(sa.update(Thread).where(Thread.id == thread.id).values(
        accepted_post_id=None, solved_at=None, closed_at=None))  # what un-accepting used to do silently
    db.session.commit()
    result = runner.invoke(args=["history", "check"])
    assert result.exit_code != 0
    assert f"thread {thread.id}: accepted_post_id is None, the history says {answer.id}" in result.output
    assert f"thread {thread.id}: closed is False" in result.output


def test_the_history_check_passes_on_the_demo_community_and_after_a_scripted_sequence(app, runner):
    assert runner.invoke(args=["demo", "load"]).exit_code == 0
    assert history.check() == []
    staff = make_user("staff")
    thread = db.session.scalar(sa.select(Thread).where(Thread.reply_count >= 2).order_by(Thread.id))
    answers = list(db.session.scalars(
        sa.select(Post).where(Post.thread_id == thread.id, Post.kind == "answer").order_by(Post.id)))
    other = make_category("Elsewhere")
    services.accept_answer(staff, answers[0])
    services.unaccept_answer(staff, thread)
    services.accept_answer(staff, answers[1])
    states.close_thread(staff, thread, "outdated")
    states.reopen_thread(staff, thread)
    states.move_thread(staff, thread, other.id)
    states.hide_post(staff, answers[1], "Wrong")  # the accepted answer: the thread is unsolved again
    states.unhide_post(staff, answers[1])
    states.delete_post(staff, answers[0])
    states.restore_post(staff, answers[0])
    states.hide_thread(staff, thread, "Checking")
    states.delete_thread(staff, thread)
    states.restore_thread(staff, thread)  # back to hidden, not visible
    assert db.session.get(Thread, thread.id).state == "hidden"
    assert history.check() == []
    assert runner.invoke(args=["history", "check"]).exit_code == 0


def _solved_and_backlog(start, end) -> tuple[int, int]:
    """Threads solved in [start, end) and the backlog at `end`, from the history alone (METRICS.md,
    "State over time"): solved when an acceptance comes while none is in force."""
    solved, open_at_end = 0, 0
    for thread_id in db.session.scalars(sa.select(Thread.id)):
        accepted = closed = removed = False
        for event in history.events_for(thread_id):
            at = clock.as_utc(event.at)
            if at >= end:
                break
            if event.kind == "accepted":
                if not accepted and at >= start:
                    solved += 1
                accepted = True
            elif event.kind == "unaccepted":
                accepted = False
            elif event.kind in ("closed", "reopened"):
                closed = event.kind == "closed"
            elif event.kind in ("deleted", "hidden", "restored", "unhidden"):
                removed = event.kind in ("deleted", "hidden")
        open_at_end += not (accepted or closed or removed) and any(
            clock.as_utc(e.at) < end for e in history.events_for(thread_id))
    return solved, open_at_end


def test_last_weeks_figures_from_the_history_do_not_change_when_a_thread_is_unaccepted_today(app):
    clock.set(clock.now() - timedelta(days=10))
    week_start = clock.now()
    asker, staff = make_user(), make_user("staff")
    solved, closed, waiting = make_thread(asker), make_thread(asker), make_thread(asker)
    services.accept_answer(asker, make_answer(solved))
    states.close_thread(staff, closed, "duplicate")
    clock.advance(days=7)
    week_end = clock.now()
    before = _solved_and_backlog(week_start, week_end)
    assert before == (1, 1)  # `waiting` is the backlog

    clock.advance(days=2)  # today
    services.unaccept_answer(asker, solved)
    states.reopen_thread(staff, closed)
    assert _solved_and_backlog(week_start, week_end) == before
    assert waiting.id  # still open; it counted in last week's backlog and counts now
    with pytest.raises(AppendOnly):  # nothing rewrites the history that keeps last week as it was
        history.events_for(solved.id)[0].note = "edited"
        db.session.flush()
    db.session.rollback()


def test_a_subscriber_that_raises_rolls_back_the_change_and_its_jobs(app):
    from core.jobs import JobRecord

    staff = make_user("staff")
    thread = make_thread()
    jobs_before = db.session.scalar(sa.select(sa.func.count()).select_from(JobRecord))
    events_before = kinds(thread)

    def refuse(sender, **extra):
        raise RuntimeError("the escalation package is broken")

    signals.thread_closed.connect(refuse)
    try:
        with pytest.raises(RuntimeError):
            states.close_thread(staff, thread, "duplicate")
        db.session.rollback()
    finally:
        signals.thread_closed.disconnect(refuse)
    db.session.expire_all()
    assert db.session.get(Thread, thread.id).closed_at is None
    assert kinds(thread) == events_before
    assert audit_actions("thread", thread.id) == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(JobRecord)) == jobs_before

    states.close_thread(staff, thread, "duplicate")  # without it, the search job is saved with the change
    assert db.session.scalar(sa.select(sa.func.count()).select_from(JobRecord)) > jobs_before


def test_events_carry_the_actor_and_the_right_names(app):
    staff, asker = make_user("staff"), make_user()
    thread = make_thread(asker)
    answer = make_answer(thread)
    seen = []

    def listen(name):
        def receiver(sender, **extra):
            seen.append((name, extra.get("actor").id if extra.get("actor") else None))
        return receiver

    names = ["thread_restored", "answer_unaccepted", "thread_locked", "thread_reopened", "thread_moved",
             "vote_cast", "post_restored", "thread_created", "post_edited", "answer_accepted"]
    receivers = {name: listen(name) for name in names}
    for name, receiver in receivers.items():
        getattr(signals, name).connect(receiver)
    try:
        services.vote(staff, answer, 1)
        services.accept_answer(asker, answer)
        services.unaccept_answer(asker, thread)
        states.set_locked(staff, thread, True)
        states.close_thread(staff, thread, "other")
        states.reopen_thread(staff, thread)
        states.move_thread(staff, thread, make_category("Other").id)
        states.delete_post(staff, answer)
        states.restore_post(staff, answer)
        states.delete_thread(staff, thread)
        states.restore_thread(staff, thread)
    finally:
        for name, receiver in receivers.items():
            getattr(signals, name).disconnect(receiver)
    assert seen == [("vote_cast", staff.id), ("answer_accepted", asker.id), ("answer_unaccepted", asker.id),
                    ("thread_locked", staff.id), ("thread_reopened", staff.id), ("thread_moved", staff.id),
                    ("post_restored", staff.id), ("thread_restored", staff.id)]


def test_a_check_point_can_hold_a_post_for_review_or_refuse_it(app, client):
    asker, newcomer, staff = make_user(), make_user(), make_user("staff")
    thread = make_thread(asker)

    def check(draft):
        if "casino" in draft.body:
            raise Invalid("That looks like spam.", field="body")
        if draft.actor.id == newcomer.id:
            return "First posts of new members wait for review"
        return None

    hooks.post_checks.append(check)
    try:
        with pytest.raises(Invalid, match="spam"):
            services.create_post(asker, thread, "Best casino bonus")
        held = services.create_post(newcomer, thread, "Have you tried the sync button?")
    finally:
        hooks.post_checks.remove(check)
    db.session.refresh(thread)
    assert held.state == "held" and thread.reply_count == 0 and thread.first_reply_post_id is None
    assert kinds(thread)[-1] == "reply_hidden"

    def page_as(user):
        client.post("/signout")
        if user is not None:
            client.post("/signin", data={"login": user.username, "password": "correct horse battery staple"})
        return client.get(f"/t/{thread.id}").text

    assert "Have you tried the sync button?" not in page_as(None)
    assert "Have you tried the sync button?" not in page_as(asker)
    mine = page_as(newcomer)
    assert "Have you tried the sync button?" in mine and "Waiting for review" in mine
    staff_page = page_as(staff)
    assert "First posts of new members wait for review" in staff_page and "Approve" in staff_page
    clock.advance(days=3)
    states.unhide_post(staff, held)  # approved: now it is the first reply, and the asker hears of it
    db.session.refresh(thread)
    assert thread.reply_count == 1 and thread.first_reply_post_id == held.id
    first_reply = next(e for e in history.events_for(thread.id) if e.kind == "first_reply")
    assert (first_reply.actor_id, first_reply.actor_role) == (newcomer.id, "member")  # the reply's author
    # Dated when it became the first reply, not back in a period that may be closed already.
    assert clock.as_utc(first_reply.at) > clock.as_utc(held.created_at) + timedelta(days=2)
    db.session.commit()  # SQLite: let the notice job write
    jobs.wait_idle()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification).where(
        Notification.user_id == asker.id, Notification.post_id == held.id)) == 1

    hooks.post_checks.append(check)
    try:  # an edit is checked too: spam refused, a new member's edit held
        with pytest.raises(Invalid, match="spam"):
            services.edit_post(newcomer, held, "Now with a casino link")
        db.session.rollback()
        services.edit_post(newcomer, held, "Have you tried the sync button? It fixed mine.")
    finally:
        hooks.post_checks.remove(check)
    db.session.refresh(thread)
    assert held.state == "held" and thread.reply_count == 0


def test_removing_the_accepted_answer_sends_answer_unaccepted_and_history_keeps_categories(app):
    staff, asker, admin = make_user("staff"), make_user(), make_user("admin")
    old, new = make_category("Old place"), make_category("New place")
    thread = make_thread(asker, category=old)
    answer = make_answer(thread)
    services.accept_answer(asker, answer)
    seen = []

    def receiver(sender, **extra):
        seen.append((sender.id, extra["actor"].id, extra["post"].id))

    signals.answer_unaccepted.connect(receiver)
    try:
        states.hide_post(staff, answer, "Wrong and rude")
    finally:
        signals.answer_unaccepted.disconnect(receiver)
    assert seen == [(thread.id, staff.id, answer.id)]
    with pytest.raises(Invalid, match="Choose why"):  # abandoned is the job's reason, not staff's
        states.close_thread(staff, thread, "abandoned")
    db.session.rollback()
    states.move_thread(staff, thread, new.id)
    with pytest.raises(Conflict, match="history keeps it"):  # deleting it would rewrite the history
        categories.delete_category(admin, old)
    db.session.rollback()
    assert history.events_for(thread.id)[0].category_id == old.id
    assert audit_actions("category", old.id) == []


def test_the_urgent_reason_is_for_the_asker_and_staff_and_the_badge_goes_when_solved(app, client):
    asker, staff, reader = make_user(), make_user("staff"), make_user()
    thread = make_thread(asker, urgent=True, urgent_reason="Account 4471 cannot pay payroll")

    def page_as(user):
        client.post("/signout")
        if user is not None:
            client.post("/signin", data={"login": user.username, "password": "correct horse battery staple"})
        return client.get(f"/t/{thread.id}").text

    assert "Account 4471" in page_as(asker) and "Account 4471" in page_as(staff)
    for viewer in (reader, None):
        page = page_as(viewer)
        assert "Account 4471" not in page and "badge-urgent" in page
    services.accept_answer(asker, make_answer(thread))
    assert "badge-urgent" not in page_as(None) and "Account 4471" not in page_as(asker)

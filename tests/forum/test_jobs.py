"""Forum jobs: notices and mail to followers, reminders to accept, abandoned threads, view counts."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from core import clock, jobs
from core.errors import Forbidden
from core.extensions import db
from forum import jobs as forum_jobs
from forum import notices as forum_notices
from forum import services, viewcounts
from forum.models import Notification, Post, Thread
from tests.conftest import outbox_messages
from tests.factories import make_answer, make_thread, make_user

# About jobs: they run as soon as they are committed, as in production (conftest.make_app).
pytestmark = pytest.mark.live_jobs


def notices(user) -> list[str]:
    return list(db.session.scalars(
        sa.select(Notification.kind).where(Notification.user_id == user.id).order_by(Notification.id)))


def reminders(user) -> list[str]:
    """The stages of the reminders `user` was sent, in order ("1", "2")."""
    return [key.rsplit(":", 1)[1] for key in db.session.scalars(
        sa.select(Notification.dedupe_key).where(Notification.user_id == user.id,
                                                 Notification.kind == "reminder").order_by(Notification.id))]


def test_followers_hear_of_new_answers_in_app_and_by_mail(app):
    asker, first, second = make_user(), make_user(), make_user()
    thread = make_thread(asker, title="Why is my invoice total wrong?")
    make_answer(thread, first)
    make_answer(thread, second)
    jobs.wait_idle()
    assert notices(asker) == ["answer", "answer"]
    assert notices(first) == ["answer"]  # of the second answer, not of their own
    assert notices(second) == []
    mails = outbox_messages(app)
    assert sorted(m["To"] for m in mails) == sorted([asker.email, asker.email, first.email])
    assert all(m["Subject"] == "New answer in “Why is my invoice total wrong?”" for m in mails)
    assert all(m["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click" for m in mails)


def test_accepting_tells_the_followers(app):
    asker, helper = make_user(), make_user()
    thread = make_thread(asker)
    answer = make_answer(thread, helper)
    services.accept_answer(asker, answer)
    jobs.wait_idle()
    assert notices(helper) == ["accepted"]
    assert "accepted" not in notices(asker)  # they did it themselves


def test_notification_jobs_run_twice_notify_once(app):
    asker = make_user()
    thread = make_thread(asker)
    answer = make_answer(thread)
    jobs.wait_idle()
    forum_jobs.notify_new_post(answer.id)
    jobs.wait_idle()
    notice_id = db.session.scalar(sa.select(Notification.id).where(Notification.user_id == asker.id))
    forum_jobs.send_notification_mail(notice_id)
    assert notices(asker) == ["answer"]
    assert len(outbox_messages(app)) == 1


def test_one_click_unsubscribe_stops_the_mail(app, client):
    asker = make_user()
    thread = make_thread(asker)
    make_answer(thread)
    jobs.wait_idle()
    [message] = outbox_messages(app)
    link = str(message["List-Unsubscribe"]).strip().strip("<>").removeprefix("http://peerline.test")
    assert client.get(link).status_code == 200
    assert client.post(link).status_code == 200  # no CSRF token: the link is the credential
    assert not forum_notices.is_following(asker, thread)
    make_answer(thread)
    jobs.wait_idle()
    assert [m["To"] for m in outbox_messages(app)].count(asker.email) == 1
    assert client.post("/unsubscribe/forged-token").status_code == 404


def _age_first_reply(thread, days):
    db.session.execute(sa.update(Thread).where(Thread.id == thread.id)
                       .values(first_reply_at=clock.now() - timedelta(days=days)))
    db.session.commit()


def test_askers_are_reminded_after_three_days_and_a_week(app):
    asker = make_user()
    thread = make_thread(asker)
    make_answer(thread)
    jobs.wait_idle()
    forum_jobs.remind_askers()
    assert reminders(asker) == []  # too early
    _age_first_reply(thread, 3.5)
    forum_jobs.remind_askers()
    forum_jobs.remind_askers()  # and not twice
    jobs.wait_idle()
    assert reminders(asker) == ["1"]
    _age_first_reply(thread, 8)
    forum_jobs.remind_askers()
    jobs.wait_idle()
    assert reminders(asker) == ["1", "2"]
    subjects = [m["Subject"] for m in outbox_messages(app) if m["To"] == asker.email]
    assert subjects[-2:] == [f"Did an answer solve “{thread.title}”?"] * 2


def test_a_thread_answered_over_a_week_ago_gets_one_reminder_not_one_per_stage(app):
    """`make run` on the demo community mailed askers twice in the same second: one run of the job
    sent every stage a thread was due for, the 3-day reminder and straight after it the week's."""
    asker, other = make_user(), make_user()
    old, recent = make_thread(asker, title="Answered ten days ago"), make_thread(other)
    make_answer(old)
    make_answer(recent)
    jobs.wait_idle()
    _age_first_reply(old, 10)
    _age_first_reply(recent, 4)
    before = len(outbox_messages(app))
    for _ in range(2):  # and the ticker's next run adds nothing
        jobs.run_periodic("forum.remind-askers")
        jobs.wait_idle()
    assert reminders(asker) == ["2"] and reminders(other) == ["1"]
    mails = outbox_messages(app)[before:]
    assert sorted(m["To"] for m in mails) == sorted([asker.email, other.email])
    db.session.expire_all()
    assert (old.reminders_sent, recent.reminders_sent) == (2, 1)
    _age_first_reply(recent, 8)  # the week's reminder still comes, once
    forum_jobs.remind_askers()
    forum_jobs.remind_askers()
    assert reminders(other) == ["1", "2"] and reminders(asker) == ["2"]


def test_the_demo_community_mails_each_asker_one_reminder_per_thread(app):
    """The situation reported: right after the demo community is loaded, the first run of the
    reminder job (the ticker's) mails no asker twice about one thread."""
    from forum import demo

    demo.load()
    jobs.run_periodic("forum.remind-askers")
    jobs.wait_idle()
    mails = outbox_messages(app)
    assert mails, "the demo community has askers to remind"
    pairs = [(m["To"], m["Subject"]) for m in mails]
    assert len(pairs) == len(set(pairs)), sorted(pairs)
    keys = list(db.session.scalars(sa.select(Notification.dedupe_key)
                                   .where(Notification.kind == "reminder")))
    threads = [key.split(":")[1] for key in keys]
    assert len(threads) == len(set(threads)) == len(mails)


def test_solved_threads_get_no_reminder(app):
    asker = make_user()
    thread = make_thread(asker)
    services.accept_answer(asker, make_answer(thread))
    _age_first_reply(thread, 10)
    forum_jobs.remind_askers()
    assert reminders(asker) == []


def test_quiet_answered_threads_close_as_abandoned_but_never_unanswered_or_urgent_ones(app):
    asker = make_user()
    quiet, solved, busy = make_thread(asker), make_thread(asker), make_thread(asker)
    unanswered, urgent = make_thread(asker), make_thread(asker, urgent=True, urgent_reason="Outage")
    for thread in (quiet, busy, urgent):
        make_answer(thread)
    services.accept_answer(asker, make_answer(solved))
    old = clock.now() - timedelta(days=45)
    db.session.execute(sa.update(Thread).where(Thread.id.in_([quiet.id, solved.id, unanswered.id, urgent.id]))
                       .values(last_activity_at=old))
    db.session.commit()
    forum_jobs.close_abandoned_threads()
    db.session.expire_all()
    assert quiet.close_reason == "abandoned" and quiet.closed_by_id is None
    assert [t.closed_at for t in (solved, busy, unanswered, urgent)] == [None] * 4
    with pytest.raises(Forbidden, match="closed"):
        make_answer(quiet, asker, "Still broken, here are the logs")
    services.accept_answer(asker, db.session.scalar(sa.select(Post).where(
        Post.thread_id == quiet.id, Post.kind == "answer")))
    assert quiet.closed_at is None and quiet.is_solved  # the asker came back: solved, not abandoned


def test_views_are_counted_without_a_write_per_view(app, client):
    thread = make_thread()
    jobs.wait_idle()  # the new thread's index job writes too; only page views are measured
    statements = []
    db.session.commit()

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        for _ in range(5):
            assert client.get(f"/t/{thread.id}").status_code == 200
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    assert not [s for s in statements if s.lstrip().upper().startswith("UPDATE")]
    viewcounts.flush()
    db.session.refresh(thread)
    assert thread.view_count == 5


def test_an_address_the_mail_server_refuses_does_not_keep_the_others_from_their_mail(app, monkeypatch):
    import smtplib

    from core import mail

    asker, refused, fine = make_user(), make_user(), make_user()
    thread = make_thread(asker, title="Who hears of the answer?")
    for person in (refused, fine):
        forum_notices.set_following(person, thread, True)
    jobs.wait_idle()
    real_send = mail.send
    emails = {"asker": asker.email, "refused": refused.email, "fine": fine.email}

    def smtp(to, *args, **kwargs):  # the SMTP server refuses one recipient, as servers do
        if to == emails["refused"]:
            raise smtplib.SMTPRecipientsRefused({to: (550, b"No such user")})
        return real_send(to, *args, **kwargs)

    monkeypatch.setattr(mail, "send", smtp)
    answer = make_answer(thread)
    db.session.commit()
    jobs.wait_idle()
    assert sorted(m["To"] for m in outbox_messages(app)) == sorted([emails["asker"], emails["fine"]])
    record = db.session.scalar(sa.select(jobs.JobRecord).where(
        jobs.JobRecord.func == "forum.jobs:notify_new_post"))
    assert record.status == "failed" and "1 of 3 notices could not be mailed" in record.last_error
    monkeypatch.setattr(mail, "send", real_send)  # the address works again: the retry mails only it
    forum_jobs.notify_new_post(answer.id)
    assert sorted(m["To"] for m in outbox_messages(app)) == sorted(emails.values())

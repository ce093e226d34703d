"""Notification settings: each person chooses per kind how they get its notices (in the app only,
mailed at once, in a daily digest, or none), on a settings page that refuses what it does not offer;
notices are made and mailed as chosen, and the digest job mails each person one digest, once."""

import sqlalchemy as sa

from core import clock, jobs
from core.extensions import db
from forum import jobs as forum_jobs
from forum import notices
from forum.models import Notification, NotificationPreference
from tests.conftest import outbox_links, outbox_messages
from tests.factories import make_answer, make_thread, make_user


def _notices(user) -> list[Notification]:
    return list(db.session.scalars(sa.select(Notification).where(Notification.user_id == user.id)
                                   .order_by(Notification.id).execution_options(populate_existing=True)))


def _choose(client, **choices):
    return client.post("/settings/notifications", data={f"kind-{k}": v for k, v in choices.items()})


def _mails_to(app, user) -> list:
    return [m for m in outbox_messages(app) if user.email in str(m["To"])]


def test_each_delivery_gives_exactly_its_notices_and_mails(app, client, auth):
    """Four followers of one thread, one per choice, and a fifth who never chose (mail at once)."""
    people = {}
    for delivery in ("none", "app", "mail", "digest"):
        person = auth.as_role("member")
        assert _choose(client, answer=delivery).status_code == 302
        auth.sign_out()
        people[delivery] = person
    unchosen = make_user()
    thread = make_thread(unchosen)  # the asker follows it, and has not chosen
    for person in people.values():
        notices.set_following(person, thread, True)
    answer = make_answer(thread)
    db.session.commit()
    jobs.wait_idle()

    assert _notices(people["none"]) == []  # none: not even listed
    assert [n.post_id for n in _notices(people["app"])] == [answer.id]
    assert [n.post_id for n in _notices(people["digest"])] == [answer.id]
    mails = outbox_messages(app)
    assert sorted(str(m["To"]) for m in mails) == sorted([people["mail"].email, unchosen.email])
    assert all(m["Subject"] == f"New answer in “{thread.title}”" for m in mails)

    forum_jobs.send_digests()
    forum_jobs.send_digests()  # run again (a retry, or the next day with nothing new): nothing more
    [digest] = _mails_to(app, people["digest"])
    assert digest["Subject"] == "Your Peerline digest: 1 notification"
    body = digest.get_body(preferencelist=("plain",)).get_content()
    assert f"New answer in “{thread.title}”" in body
    assert f"http://peerline.test/t/{thread.id}#post-{answer.id}" in body
    # one thread: its one-click link in the body and the header
    assert "http://peerline.test/unsubscribe/" in body and "List-Unsubscribe" in digest
    assert "http://peerline.test/settings/notifications" in body
    assert _notices(people["digest"])[0].mailed_at is not None
    assert _mails_to(app, people["app"]) == [] and _mails_to(app, people["none"]) == []
    assert len(outbox_messages(app)) == 3


def test_a_digest_gathers_a_day_of_notices_from_several_threads_in_one_mail(app, client, auth):
    person = auth.as_role("member")
    _choose(client, answer="digest", accepted="digest")
    threads = [make_thread(person, title=f"Export number {n} fails") for n in range(3)]
    for thread in threads:
        make_answer(thread)
    db.session.commit()
    jobs.wait_idle()
    client.get(f"/t/{threads[0].id}")  # read already: not news for the digest
    assert outbox_messages(app) == []
    forum_jobs.send_digests()
    [digest] = outbox_messages(app)
    assert digest["Subject"] == "Your Peerline digest: 2 notifications"
    body = digest.get_body(preferencelist=("plain",)).get_content()
    assert "Export number 0" not in body and "Export number 1" in body and "Export number 2" in body
    assert body.count("Stop mail about") == 2 and "List-Unsubscribe" not in digest
    # The next day's answer comes in the next day's digest, alone.
    with clock.moved(days=1):
        make_answer(threads[1], body="Another idea: clear the cache and export again.")
        db.session.commit()
        jobs.wait_idle()
        forum_jobs.send_digests()
    assert [m["Subject"] for m in _mails_to(app, person)] == [
        "Your Peerline digest: 2 notifications", "Your Peerline digest: 1 notification"]
    assert all(link.startswith("http://peerline.test/") for link in outbox_links(app))


def test_the_digest_job_is_in_the_cron_table(app):
    from app import CRON_TABLE

    [entry] = [e for e in CRON_TABLE if e.id == "forum.send-digests"]
    assert entry.func is forum_jobs.send_digests and entry.every == 24 * 3600


def test_the_settings_page_offers_each_kind_the_person_can_receive(app, client, auth):
    auth.as_role("member")
    page = client.get("/settings/notifications")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    text = page.text
    assert "New answers in threads you follow" in text and "A warning from the moderators" in text
    assert 'name="kind-answer" value="mail" checked' in text  # the default of a mailed kind
    assert "esc_new" not in text and "A thread escalated to your team" not in text  # staff only
    assert "Unanswered questions in topics you know" not in text  # peer calls go to advocates
    # What moderators decide about you cannot be turned off, only moved to the app or a digest.
    assert 'name="kind-mod_restricted" value="app"' in text
    assert 'name="kind-mod_restricted" value="none"' not in text
    assert 'name="kind-answer" value="none"' in text
    refused = _choose(client, mod_restricted="none", post_removed="none")
    assert refused.status_code == 400
    assert db.session.scalar(sa.select(sa.func.count()).select_from(NotificationPreference)) == 0
    auth.sign_out()
    auth.as_role("advocate")
    assert 'name="kind-peer_call" value="mail" checked' in client.get("/settings/notifications").text
    auth.sign_out()
    auth.as_role("staff")
    staff_page = client.get("/settings/notifications").text
    assert 'name="kind-esc_new" value="mail" checked' in staff_page
    assert 'name="kind-esc_breach" value="none"' not in staff_page


def test_choices_are_saved_and_shown_and_a_default_keeps_no_row(app, client, auth):
    person = auth.as_role("member")
    response = _choose(client, answer="digest", reminder="none")
    assert response.status_code == 302 and response.location == "/settings/notifications"
    page = client.get("/settings/notifications").text
    assert "Your notification settings are saved." in page
    assert 'name="kind-answer" value="digest" checked' in page
    assert 'name="kind-reminder" value="none" checked' in page
    _choose(client, answer="mail")
    rows = dict(db.session.execute(sa.select(NotificationPreference.kind, NotificationPreference.delivery)
                                   .where(NotificationPreference.user_id == person.id)).all())
    assert rows == {"reminder": "none"}


def test_bad_choices_are_refused_and_change_nothing(app, client, auth):
    person = auth.as_role("member")
    _choose(client, answer="app")
    for bad, message in (
        ({"answer": "pigeon"}, "Choose how to get"),
        ({"pigeon_post": "mail"}, "There is no such kind of notification"),
        ({"esc_new": "none"}, "There is no such kind of notification"),  # staff only
        ({"answer": "<b>mail</b>"}, "Choose how to get"),
        ({"answer": "none", "accepted": "sometimes"}, "Choose how to get"),  # all or nothing
        ({}, "Choose how to get at least one"),
    ):
        response = _choose(client, **bad)
        assert response.status_code == 400, bad
        assert message in response.text and "<b>mail</b>" not in response.text
    rows = dict(db.session.execute(sa.select(NotificationPreference.kind, NotificationPreference.delivery)
                                   .where(NotificationPreference.user_id == person.id)).all())
    assert rows == {"answer": "app"}
    auth.sign_out()
    assert client.get("/settings/notifications").status_code == 302  # to sign in
    assert _choose(client, answer="none").status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).select_from(NotificationPreference)) == 1


def test_opening_a_notice_from_the_list_reads_it_and_refuses_someone_elses(app, client, auth):
    asker = auth.as_role("member")
    thread = make_thread(asker)
    make_answer(thread)
    db.session.commit()
    jobs.wait_idle()
    [mine] = _notices(asker)
    forum_jobs.notify("mod_warning", [asker.id], None, None, "a1")  # leads to the moderation page
    [_, warning] = _notices(asker)
    stranger = make_user()
    forum_jobs.notify("mod_warning", [stranger.id], None, None, "a2")
    [theirs] = _notices(stranger)
    assert client.get(f"/notifications/{warning.id}").location == "/my/moderation"
    assert _notices(asker)[1].read_at is not None and _notices(asker)[0].read_at is None
    for bad in (theirs.id, 999999, "abc", -1):
        assert client.get(f"/notifications/{bad}").status_code == 404
    assert _notices(stranger)[0].read_at is None
    response = client.get(f"/notifications/{mine.id}")
    assert response.status_code == 303
    assert 'aria-label="1 unread"' not in client.get("/notifications").text
    assert 'class="read"' in client.get("/notifications").text

"""Notices: a registry of kinds, created once per person and event (with or without a thread or
post), listed and mailed in their kind's words, and read when their recipient opens the thread."""

import re

import pytest
import sqlalchemy as sa

from core import jobs
from core.extensions import db
from forum import jobs as forum_jobs
from forum import notices
from forum.models import Notification
from tests.conftest import outbox_links, outbox_messages
from tests.factories import make_answer, make_thread, make_user


@pytest.fixture
def digest_kind():
    """A kind with no thread, as a package above the forum would register it in its init_app."""
    kind = notices.register_kind(notices.NoticeKind(
        "weekly-digest", summary="Your week on {site}: {count} new answers", needs_thread=False,
        mail_text="{count} answers this week.\n\nSee them: {link}",
        link=lambda notice: ("forum.notifications", {}),
        values=lambda notice: {"count": 7}))
    yield kind
    notices.KINDS.pop(kind.name, None)


def _notices(user) -> list[Notification]:
    return list(db.session.scalars(sa.select(Notification).where(Notification.user_id == user.id)
                                   .order_by(Notification.id).execution_options(populate_existing=True)))


def test_an_unknown_kind_is_refused_and_writes_nothing(app):
    person = make_user()
    thread = make_thread()
    with pytest.raises(ValueError, match=r"unknown notice kind 'shoutout'; the registered kinds are "
                                         r"accepted, answer, .*esc_breach, .*reminder"):
        notices.add_notices("shoutout", [person.id], thread_id=thread.id)
    with pytest.raises(ValueError, match="unknown notice kind"):
        forum_jobs.notify("shoutout", [person.id], thread.id)
    for bad in (None, 3, "", "Answer", "x" * 500):
        with pytest.raises(ValueError):
            notices.add_notices(bad, [person.id], thread_id=thread.id)
    db.session.rollback()
    assert _notices(person) == []


def test_kinds_that_need_a_thread_keys_and_names_are_checked(app, digest_kind):
    person = make_user()
    with pytest.raises(ValueError, match="'answer' notice needs a thread"):
        notices.add_notices("answer", [person.id])
    with pytest.raises(ValueError, match="needs a key naming its event"):
        notices.add_notices("weekly-digest", [person.id])
    for bad_key in ("", "a b", "<script>", "k" * 101, "ключ"):
        with pytest.raises(ValueError, match="notice key"):
            notices.add_notices("weekly-digest", [person.id], key=bad_key)
    assert notices.register_kind(digest_kind) is digest_kind  # the same kind again: create_app runs often
    with pytest.raises(ValueError, match="registered as 'answer' already"):
        notices.register_kind(notices.NoticeKind("answer", summary="Something else", mail_text=""))
    for bad_name in ("", "Answer", "a" * 21, "no spaces", "é"):
        with pytest.raises(ValueError, match="notice kind is named"):
            notices.register_kind(notices.NoticeKind(bad_name, summary="", mail_text=""))


def test_a_kind_with_no_thread_is_listed_and_mailed_once(app, client, auth, digest_kind):
    person = auth.as_role("member")
    for _ in range(2):  # a job run twice notifies and mails once
        forum_jobs.notify("weekly-digest", [person.id], None, None, "2026-w49")
    forum_jobs.notify("weekly-digest", [person.id], None, None, "2026-w50")  # another event
    [first, second] = _notices(person)
    assert (first.thread_id, first.post_id, first.dedupe_key) == (None, None, "weekly-digest:-:-:2026-w49")
    assert first.mailed_at is not None and second.dedupe_key.endswith("2026-w50")
    mails = outbox_messages(app)
    assert [m["Subject"] for m in mails] == ["Your week on Peerline: 7 new answers"] * 2
    assert "List-Unsubscribe" not in mails[0]  # no thread, nothing to stop following
    assert outbox_links(app) == ["http://peerline.test/notifications"] * 2
    page = client.get("/notifications").text
    for notice in (first, second):  # listed through the page that reads them, which leads on
        assert f'<a href="/notifications/{notice.id}">Your week on Peerline: 7 new answers</a>' in page
        assert client.get(f"/notifications/{notice.id}").location == "/notifications"


def test_notices_without_a_post_are_made_once_on_both_databases(app):
    """NULLs are distinct in unique constraints (SQLite and PostgreSQL): the key is never NULL."""
    notices.register_kind(notices.NoticeKind("thread-moved", summary="“{title}” moved",
                                             mail_text="{link}", mailed=False))
    try:
        person, other = make_user(), make_user()
        thread = make_thread()
        first = notices.add_notices("thread-moved", [person.id], thread_id=thread.id)
        again = notices.add_notices("thread-moved", [person.id, other.id, person.id], thread_id=thread.id)
        db.session.commit()
        assert len(first) == 1 and first[0] in again and len(again) == 2
        assert [n.post_id for n in _notices(person)] == [None]
        forum_jobs.notify("thread-moved", [person.id], thread.id)
        assert len(_notices(person)) == 1 and _notices(person)[0].mailed_at is None  # not a mailed kind
        assert outbox_messages(app) == []
    finally:
        notices.KINDS.pop("thread-moved", None)


def test_the_list_shows_each_kind_in_its_words_escaped_and_an_unknown_kind_plainly(app, client, auth):
    person = auth.as_role("member")
    thread = make_thread(person, title="<script>alert(1)</script> in the invoice")
    answer = make_answer(thread)
    jobs.wait_idle()
    db.session.add(Notification(user_id=person.id, thread_id=thread.id, kind="gone-package",
                                dedupe_key="gone-package:1"))
    db.session.commit()
    page = client.get("/notifications").text
    assert "<script>alert(1)" not in page
    [answered, gone] = _notices(person)
    assert (f'<a href="/notifications/{answered.id}">New answer in “&lt;script&gt;alert(1)&lt;/script&gt; '
            f'in the invoice”</a>') in page
    assert f'<a href="/notifications/{gone.id}">A notice</a>' in page
    assert client.get(f"/notifications/{answered.id}").location == f"/t/{thread.id}#post-{answer.id}"
    assert client.get(f"/notifications/{gone.id}").location == f"/t/{thread.id}"
    forum_jobs.send_notification_mail(_notices(person)[-1].id)  # an unknown kind is not mailed
    assert len(outbox_messages(app)) == 1


def unread_in_header(page: str) -> int:
    found = re.search(r'Notifications, (\d+) unread', page)
    return int(found.group(1)) if found else 0


def _statements(client, url):
    statements = []

    def record(_conn, _cursor, statement, *_args):
        statements.append(" ".join(statement.split()))

    db.session.commit()
    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        response = client.get(url)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    assert response.status_code == 200
    return response.text, [s for s in statements if s.upper().startswith("UPDATE NOTIFICATIONS")]


def test_opening_a_thread_reads_its_notices_and_only_its_own(app, client, auth):
    asker = auth.as_role("member")
    read_here, elsewhere = make_thread(asker), make_thread(asker)
    answers = [make_answer(thread) for thread in (read_here, read_here, elsewhere)]
    jobs.wait_idle()
    bystander = make_user()
    forum_jobs.notify("answer", [bystander.id], read_here.id, answers[0].id)
    assert unread_in_header(client.get("/notifications").text) == 3

    page, updates = _statements(client, f"/t/{read_here.id}")
    assert len(updates) == 1  # one UPDATE, because there was something to read
    assert unread_in_header(page) == 1  # the header already counts what is left
    read = {n.thread_id: n.read_at is not None for n in _notices(asker)}
    assert read == {read_here.id: True, elsewhere.id: False}
    assert all(n.read_at is None for n in _notices(bystander))  # someone else's stay unread

    _page, updates = _statements(client, f"/t/{read_here.id}")
    assert updates == []  # nothing left to read: no write at all
    _page, updates = _statements(client, f"/t/{elsewhere.id}")
    assert len(updates) == 1 and all(n.read_at is not None for n in _notices(asker))


def test_a_notice_with_no_thread_is_read_from_the_list_only(app, client, auth, digest_kind):
    person = auth.as_role("member")
    forum_jobs.notify("weekly-digest", [person.id], None, None, "w1")
    thread = make_thread()
    client.get(f"/t/{thread.id}")
    assert _notices(person)[0].read_at is None
    assert client.post("/notifications").status_code == 302
    assert _notices(person)[0].read_at is not None

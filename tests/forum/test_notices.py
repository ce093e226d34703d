"""Notices: a registry of kinds, created once per person and event (with or without a thread or
post), listed and mailed in their kind's words."""

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
    with pytest.raises(ValueError, match=r"unknown notice kind 'mention'; the registered kinds are "
                                         r"accepted, answer, reminder"):
        notices.add_notices("mention", [person.id], thread_id=thread.id)
    with pytest.raises(ValueError, match="unknown notice kind"):
        forum_jobs.notify("mention", [person.id], thread.id)
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
    assert page.count('<a href="/notifications">Your week on Peerline: 7 new answers</a>') == 2


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
    assert (f'<a href="/t/{thread.id}#post-{answer.id}">New answer in “&lt;script&gt;alert(1)&lt;/script&gt; '
            f'in the invoice”</a>') in page
    assert f'<a href="/t/{thread.id}">A notice</a>' in page
    forum_jobs.send_notification_mail(_notices(person)[-1].id)  # an unknown kind is not mailed
    assert len(outbox_messages(app)) == 1

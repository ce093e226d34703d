"""Internal notes and private conversations stay with staff (and the asker, for a conversation):
absent from the thread page, search, notifications and mail of everyone else. The asker of an
escalated thread sees that staff have it and by when, never who or the notes."""

import pytest
import sqlalchemy as sa

import search
from core import jobs
from core.extensions import db
from escalation import services
from escalation.models import Conversation
from forum import viewcounts
from tests.conftest import outbox_messages
from tests.escalation.desk import escalated
from tests.factories import PASSWORD, make_answer, make_thread, make_user

NOTE = "Zebracorn: card ending 4242 was refunded by hand"
SECRET_WORD = "zebracorn"
PRIVATE = "Quokkaprint: your account number is 88-1234"
PRIVATE_WORD = "quokkaprint"


@pytest.fixture(autouse=True)
def no_views_left_buffered(app):
    yield
    viewcounts.flush()


def signed_in(app, user):
    client = app.test_client()
    response = client.post("/signin", data={"login": user.username, "password": PASSWORD})
    assert response.status_code == 302, response.text
    return client


def mail_texts(app) -> list[str]:
    return [f"{m['Subject']}\n{m.get_body(preferencelist=('plain',)).get_content()}"
            for m in outbox_messages(app)]


def found(word: str) -> int:
    return search.search(word).total


def test_an_internal_note_reaches_no_one_but_staff(app, runner):
    asker, member, advocate = make_user(), make_user(), make_user("advocate")
    staff = make_user("staff", display_name="Quentin Holder")
    thread = make_thread(asker, title="Refund for a double charge")
    escalation = escalated(thread)
    services.claim(staff, escalation)
    services.add_note(staff, thread, NOTE)
    make_answer(thread, staff, "We refunded the second charge.")  # the asker is notified and mailed
    make_answer(thread, advocate, "It shows on your statement within 3 days.")
    jobs.wait_idle()

    readers = {"asker": signed_in(app, asker), "member": signed_in(app, member),
               "advocate": signed_in(app, advocate), "anonymous": app.test_client()}
    for who, client in readers.items():
        page = client.get(f"/t/{thread.id}")
        assert page.status_code == 200, who
        assert "We refunded the second charge." in page.text, who  # the public reply is there
        assert "4242" not in page.text and "Zebracorn" not in page.text, who
    for who in ("asker", "member", "advocate"):
        notifications = readers[who].get("/notifications")
        assert notifications.status_code == 200
        assert "4242" not in notifications.text and "Zebracorn" not in notifications.text, who
    mails = mail_texts(app)
    assert any(asker.email in str(m["To"]) for m in outbox_messages(app))  # mail went out...
    assert not [text for text in mails if "4242" in text or "Zebracorn" in text]  # ...without the note

    assert found("refund") == 1  # the thread is indexed...
    assert found(SECRET_WORD) == 0 and found("4242") == 0  # ...without its notes
    assert runner.invoke(args=["search", "rebuild"]).exit_code == 0
    assert found("refund") == 1 and found(SECRET_WORD) == 0

    # Staff do see it, on the escalation's page.
    staff_page = signed_in(app, staff).get(f"/staff/escalations/{escalation.id}")
    assert NOTE in staff_page.text


def test_a_private_conversation_is_for_the_asker_and_staff_only(app, runner):
    asker, member = make_user(), make_user()
    staff = make_user("staff")
    thread = make_thread(asker, title="Cannot log in to the billing portal")
    escalation = escalated(thread)
    staff_client = signed_in(app, staff)
    response = staff_client.post(f"/staff/escalations/{escalation.id}/conversation", data={"body": PRIVATE})
    assert response.status_code == 302
    [conversation] = db.session.scalars(sa.select(Conversation)).all()
    url = f"/conversations/{conversation.id}"
    assert response.headers["Location"].endswith(url)

    asker_client = signed_in(app, asker)
    assert PRIVATE in asker_client.get(url).text
    assert asker_client.post(url, data={"body": "Thanks, that works now"}).status_code == 302
    page = staff_client.get(url)
    assert page.status_code == 200 and PRIVATE in page.text and "Thanks, that works now" in page.text

    assert signed_in(app, member).get(url).status_code == 404
    assert signed_in(app, make_user("advocate")).get(url).status_code == 404
    anonymous = app.test_client().get(url)
    assert anonymous.status_code == 302 and "/signin" in anonymous.headers["Location"]
    assert signed_in(app, member).post(url, data={"body": "Let me in"}).status_code == 404

    # The asker is pointed to it from the thread; nobody reads its text there.
    assert url in asker_client.get(f"/t/{thread.id}").text
    for client in (signed_in(app, member), app.test_client(), asker_client):
        page = client.get(f"/t/{thread.id}")
        assert "88-1234" not in page.text and "Quokkaprint" not in page.text
        assert "Thanks, that works now" not in page.text
    assert url not in signed_in(app, member).get(f"/t/{thread.id}").text

    jobs.wait_idle()
    assert found("billing portal") == 1
    assert found(PRIVATE_WORD) == 0 and found("88-1234") == 0
    assert runner.invoke(args=["search", "rebuild"]).exit_code == 0
    assert found(PRIVATE_WORD) == 0
    assert not [text for text in mail_texts(app) if "Quokkaprint" in text or "88-1234" in text]


def test_the_asker_sees_that_staff_have_it_and_by_when_but_not_who_or_the_notes(app):
    asker, member = make_user(), make_user()
    holder = make_user("staff", display_name="Quentin Holder")
    thread = make_thread(asker, title="Data missing after the import")
    escalation = escalated(thread)
    services.claim(holder, escalation)
    services.add_note(holder, thread, NOTE)

    page = signed_in(app, asker).get(f"/t/{thread.id}").text
    assert "Our staff have this question and aim to answer by" in page
    assert "Quentin Holder" not in page and "Quentin" not in page
    assert "4242" not in page and "Zebracorn" not in page
    assert f"/staff/escalations/{escalation.id}" not in page

    other = signed_in(app, member).get(f"/t/{thread.id}").text
    assert "Our staff have this question" not in other and "Quentin Holder" not in other
    anonymous = app.test_client().get(f"/t/{thread.id}").text
    assert "Our staff have this question" not in anonymous and "Quentin Holder" not in anonymous

    # Staff see where it is and a link to work it.
    staff_page = signed_in(app, make_user("staff")).get(f"/t/{thread.id}").text
    assert f"/staff/escalations/{escalation.id}" in staff_page


def test_a_note_that_mentions_people_tells_the_staff_among_them_and_no_one_else(app):
    from forum.models import Notification

    author = make_user("staff", username="nora_staff")
    colleague = make_user("staff", username="sam_staff")
    member = make_user(username="mia_member")
    thread = make_thread(member, title="Refund for a double charge")
    services.add_note(author, thread,
                      "@sam_staff can you check? @mia_member must not hear of it. @nora_staff")
    jobs.wait_idle()
    heard = dict(db.session.execute(sa.select(Notification.user_id, Notification.kind)).all())
    assert heard == {colleague.id: "note_mention"}

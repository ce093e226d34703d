"""One visibility rule: a hidden post or thread is gone for members from every place that reads
posts, and staff see it with a badge saying which and why."""

import sqlalchemy as sa

import search
from core import clock, jobs
from core.extensions import db
from forum import queries, search_documents, services, states
from forum.models import Notification, Thread
from tests.conftest import outbox_messages
from tests.factories import PASSWORD, make_answer, make_thread, make_user


def sign_in(client, user):
    client.post("/signout")
    if user is not None:
        client.post("/signin", data={"login": user.username, "password": PASSWORD})


def hit_ids(query: str) -> list[str]:
    return [hit.doc_id for hit in search.search(query).hits]


def test_a_hidden_answer_is_gone_for_members_everywhere_and_badged_for_staff(app, client, runner):
    asker, author, staff, reader = make_user(), make_user(), make_user("staff"), make_user()
    thread = make_thread(asker, title="Payroll export stops at row 500")
    kept = make_answer(thread, make_user(), "Check the row limit in settings")
    hidden = make_answer(thread, author, "Visit my shady zebrafix site")
    jobs.wait_idle()
    services.vote(reader, hidden, 1)
    assert hit_ids("zebrafix") == [f"thread:{thread.id}"]

    states.hide_post(staff, hidden, "Advertising")
    jobs.wait_idle()
    db.session.refresh(thread)
    assert thread.reply_count == 1
    # The hidden answer is no activity: the thread's last activity is the answer still shown.
    assert clock.as_utc(thread.last_activity_at) == clock.as_utc(kept.created_at)
    assert hit_ids("zebrafix") == []  # the index job of the hide
    assert queries.answer_record(author)[0] == 0  # the profile feed and record leave it out
    assert queries.reputation_for([author.id])[author.id] == 0  # its up-vote no longer counts

    for viewer in (None, reader, author):
        sign_in(client, viewer)
        page = client.get(f"/t/{thread.id}").text
        assert "zebrafix" not in page, viewer
        assert "1 answer" in page
        assert client.get(f"/posts/{hidden.id}/revisions").status_code == 404
    sign_in(client, staff)
    page = client.get(f"/t/{thread.id}").text
    assert "zebrafix" in page and "Hidden" in page and "Advertising" in page and "Unhide" in page
    assert "Restore" not in page.split("zebrafix")[1].split("</article>")[0]  # unhide is not restore

    # A missed hide (its index job lost) is repaired by reconcile: the hide changed the version.
    states.unhide_post(staff, hidden)
    jobs.wait_idle()
    stale = search_documents.load([thread.id])
    states.hide_post(staff, hidden, "Advertising again")
    jobs.wait_idle()
    search.index(stale)  # the index as it was before the hide, as if the job had been lost
    assert hit_ids("zebrafix") == [f"thread:{thread.id}"]
    assert runner.invoke(args=["search", "reconcile"]).exit_code == 0
    jobs.wait_idle()
    assert hit_ids("zebrafix") == []


def test_a_hidden_thread_leaves_lists_counts_search_and_mail(app, client, runner):
    asker, staff, follower = make_user(), make_user("staff"), make_user()
    thread = make_thread(asker, title="Quarterly VAT return shows zebracount totals")
    other = make_thread(title="Unrelated question")
    jobs.wait_idle()
    states.hide_thread(staff, thread, "Posted customer data")
    jobs.wait_idle()
    page, counts = queries.list_threads("latest")
    assert [row.id for row in page.items] == [other.id] and counts["latest"] == 1
    assert hit_ids("zebracount") == []
    make_answer(other, follower)  # the asker of a hidden thread is not mailed about it
    jobs.wait_idle()
    before = len(outbox_messages(app))
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification).where(
        Notification.thread_id == thread.id)) == 0

    for viewer in (None, follower, asker):
        sign_in(client, viewer)
        assert client.get(f"/t/{thread.id}").status_code == 404
        assert "zebracount" not in client.get("/").text
    sign_in(client, staff)
    page = client.get(f"/t/{thread.id}").text
    assert "Posted customer data" in page and "Only staff see this thread" in page
    states.unhide_thread(staff, thread)
    jobs.wait_idle()
    assert hit_ids("zebracount") == [f"thread:{thread.id}"]
    assert db.session.get(Thread, thread.id).state == "visible"
    assert len(outbox_messages(app)) == before


def test_notices_about_a_hidden_answer_are_neither_listed_nor_counted(app, client):
    asker, staff = make_user(), make_user("staff")
    thread = make_thread(asker, title="Where did my invoices go?")
    answer = make_answer(thread, make_user(), "Try the zebralink archive")
    jobs.wait_idle()
    sign_in(client, asker)
    assert "Where did my invoices go?" in client.get("/notifications").text
    states.hide_post(staff, answer, "Spam link")
    assert "Where did my invoices go?" not in client.get("/notifications").text
    assert 'aria-label="1 unread"' not in client.get("/tags").text
    states.unhide_post(staff, answer)  # back with its content
    assert "Where did my invoices go?" in client.get("/notifications").text

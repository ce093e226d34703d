"""The staff desk's pages: queues and an escalation's page for staff only, claims through the page,
advocates sending a thread to staff, and a fixed number of SQL queries whatever the queue's length."""

import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from core import clock
from core.extensions import db
from escalation import services
from escalation.models import URGENT, Escalation
from forum import viewcounts
from tests.escalation.desk import escalated, open_escalations
from tests.factories import make_answer, make_category, make_thread, make_user
from tests.forum.test_query_counts import counting_queries, describe

START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def no_views_left_buffered(app):
    """Thread views wait in a process-wide buffer keyed by thread id: write ours before the next
    test's fresh database reuses the ids."""
    yield
    viewcounts.flush()


def urgent_thread(title="Checkout is down for everyone", reason="Shop offline since 9:00", **options):
    return make_thread(title=title, urgent=True, urgent_reason=reason, **options)


def the_escalation(thread) -> Escalation:
    return db.session.scalar(sa.select(Escalation).where(Escalation.thread_id == thread.id))


# --- what staff see ---------------------------------------------------------------------------------------


def test_staff_see_the_queue_with_time_left_reasons_and_the_escalation_page(app, client, auth):
    clock.set(START)
    thread = urgent_thread()
    escalation = the_escalation(thread)
    auth.as_role("staff")

    page = client.get("/staff/queues/urgent")
    assert page.status_code == 200
    assert "Checkout is down for everyone" in page.text
    assert "15 min left" in page.text  # the urgent target, around the clock
    assert "Urgent" in page.text and "Unassigned" in page.text
    assert f"/staff/escalations/{escalation.id}" in page.text

    page = client.get(f"/staff/escalations/{escalation.id}")
    assert page.status_code == 200
    assert "Checkout is down for everyone" in page.text
    assert "15 min left" in page.text
    assert "Shop offline since 9:00" in page.text  # why it is here

    clock.set(START + timedelta(minutes=20))
    assert "5 min overdue" in client.get("/staff/queues/urgent").text
    assert "5 min overdue" in client.get(f"/staff/escalations/{escalation.id}").text


def test_a_queue_row_names_its_category_asker_reasons_and_holder(app, client, auth):
    asker = make_user(display_name="Asha Asker")
    thread = urgent_thread(author=asker, category=make_category("Payments desk"))
    escalation = the_escalation(thread)
    services.escalate(thread, "needs_staff", note="An account lookup")
    holder = auth.as_role("staff")
    row = client.get("/staff/queues/urgent").text.split('class="queue-row', 1)[1]
    assert "Payments desk" in row and "asked by Asha Asker" in row
    assert row.index(">Urgent<") < row.index(">Needs staff<"), "reasons in the order they came"
    assert "<em>Unassigned</em>" in row
    services.claim(holder, escalation)
    row = client.get("/staff/queues/urgent").text.split('class="queue-row', 1)[1]
    assert f"Assigned to {holder.display_name}" in row and "Unassigned" not in row


def test_a_queue_lists_only_its_own_escalations(app, client, auth):
    urgent_thread(title="Payments fail at checkout")
    escalated(title="Where do I change my VAT number?")
    auth.as_role("staff")
    urgent = client.get("/staff/queues/urgent").text
    assert "Payments fail at checkout" in urgent and "Where do I change my VAT number?" not in urgent
    general = client.get("/staff/queues/general").text
    assert "Where do I change my VAT number?" in general and "Payments fail at checkout" not in general
    everything = client.get("/staff/queues/all").text
    assert "Payments fail at checkout" in everything and "Where do I change my VAT number?" in everything


def test_members_are_refused_the_desk_and_anonymous_visitors_are_sent_to_sign_in(app, client, auth):
    escalation = the_escalation(urgent_thread())
    pages = ["/staff/queues", "/staff/queues/urgent", f"/staff/escalations/{escalation.id}",
             "/staff/canned-replies"]
    actions = [f"/staff/escalations/{escalation.id}/{action}" for action in ("claim", "release", "resolve")]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 302 and "/signin" in response.headers["Location"], url
    for url in actions:
        response = client.post(url)
        assert response.status_code == 302 and "/signin" in response.headers["Location"], url
    for role in ("member", "advocate"):
        auth.as_role(role)
        for url in pages:
            assert client.get(url).status_code == 403, (role, url)
        for url in actions:
            assert client.post(url).status_code == 403, (role, url)
        auth.sign_out()
    escalation = db.session.get(Escalation, escalation.id)
    assert escalation.assignee_id is None and escalation.is_open


def test_claiming_through_the_page(app, client, auth):
    escalation = the_escalation(urgent_thread())
    holder = make_user("staff", display_name="Dana Desk")
    me = auth.as_role("staff")
    response = client.post(f"/staff/escalations/{escalation.id}/claim")
    assert response.status_code == 302
    assert db.session.get(Escalation, escalation.id).assignee_id == me.id

    other = the_escalation(urgent_thread(title="Refunds bounce"))
    services.claim(holder, other)
    response = client.post(f"/staff/escalations/{other.id}/claim")
    assert response.status_code == 409
    assert "Dana Desk has claimed this escalation already." in response.text
    db.session.expire_all()
    assert db.session.get(Escalation, other.id).assignee_id == holder.id


def test_unknown_queues_and_escalations_are_not_found(app, client, auth):
    auth.as_role("staff")
    assert client.get("/staff/queues/nope").status_code == 404
    assert client.get("/staff/escalations/999999").status_code == 404
    assert client.post("/staff/escalations/999999/claim").status_code == 404


# --- advocates send threads up ----------------------------------------------------------------------------


def test_an_advocate_sending_a_thread_without_a_reason_is_told_why_and_nothing_escalates(app, client, auth):
    thread = make_thread(title="My bank feed stopped")
    auth.as_role("advocate")
    response = client.post(f"/t/{thread.id}/send-to-staff", data={"reason": "needs_staff", "note": "  "})
    assert response.status_code == 400
    assert "Say in a few words why staff are needed" in response.text
    assert open_escalations() == []

    response = client.post(f"/t/{thread.id}/send-to-staff",
                           data={"reason": "needs_staff", "note": "Needs an account lookup"})
    assert response.status_code == 302
    [escalation] = open_escalations()
    assert escalation.thread_id == thread.id and escalation.reason_codes == ["needs_staff"]


def test_members_cannot_send_threads_to_staff(app, client, auth):
    thread = make_thread()
    auth.as_role("member")
    response = client.post(f"/t/{thread.id}/send-to-staff", data={"reason": URGENT, "note": "Please hurry"})
    assert response.status_code == 403
    assert open_escalations() == []
    assert client.post("/t/999999/send-to-staff", data={"note": "x"}).status_code == 404


# --- a fixed number of queries --------------------------------------------------------------------------


def queries_of(client, url: str, *expected: str) -> list[str]:
    """The statements one GET of `url` ran, checking the page shows what was counted."""
    db.session.commit()
    with counting_queries() as statements:
        response = client.get(url)
    assert response.status_code == 200, response.text
    for text in expected:
        assert text in response.text, text
    assert statements, "the listener counted nothing"
    return statements


def add_urgent(category, staff, start: int, count: int) -> None:
    """Urgent threads by different askers; every other one assigned, every third with two reasons."""
    advocate = make_user("advocate")
    for i in range(start, start + count):
        thread = urgent_thread(title=f"Outage report number {i}", category=category)
        escalation = the_escalation(thread)
        if i % 2:
            services.assign(staff[0], escalation, staff[i % len(staff)].id)
        if i % 3 == 0:
            services.send_up(advocate, thread, "needs_staff", f"Account lookup {i}")


def test_the_queue_page_runs_as_many_queries_for_30_escalations_as_for_3(app, client, auth):
    category = make_category("Payments")
    staff = [make_user("staff") for _ in range(4)]
    auth.as_role("staff")
    add_urgent(category, staff, 0, 3)
    few = queries_of(client, "/staff/queues/urgent", *(f"Outage report number {i}<" for i in range(3)))
    add_urgent(category, staff, 3, 27)
    many = queries_of(client, "/staff/queues/urgent", *(f"Outage report number {i}<" for i in range(30)))
    backend = app.config["PEERLINE_TEST_BACKEND"]
    print(f"\nqueue page ({backend}): {len(few)} queries with 3, {len(many)} with 30")
    assert len(many) == len(few), f"3:\n{describe(few)}\n30:\n{describe(many)}"


def desk_queries(statements: list[str]) -> list[str]:
    """The thread page's own query for its escalation (the thread's query only asks whether it has one)."""
    return [s for s in statements if s.lstrip().startswith("SELECT escalations.")]


def test_a_thread_page_asks_about_its_escalation_only_when_it_has_one(app, client, auth):
    auth.as_role("staff")
    thread = make_thread(title="Invoices stopped arriving")
    client.get(f"/t/{thread.id}")  # the memoised picker choices
    quiet = queries_of(client, f"/t/{thread.id}", "Invoices stopped arriving")
    assert not desk_queries(quiet), describe(quiet)
    escalation = escalated(thread)
    busy = queries_of(client, f"/t/{thread.id}", "Escalated to the", f"/staff/escalations/{escalation.id}")
    assert len(desk_queries(busy)) == 1 and len(busy) == len(quiet) + 1, describe(busy)
    services.resolve(make_user("staff"), escalation)
    after = queries_of(client, f"/t/{thread.id}", "Invoices stopped arriving")
    assert "Escalated to the" not in client.get(f"/t/{thread.id}").text
    assert not desk_queries(after), describe(after)


def partial_index_columns() -> list[tuple[str, str]]:
    """(table, column) of every partial index's `column = 'value'` condition in the schema."""
    found = []
    for table in db.metadata.tables.values():
        for index in table.indexes:
            where = index.dialect_options["sqlite"].get("where")
            for column in re.findall(r"(\w+)\s*=\s*'", str(where) if where is not None else ""):
                found.append((table.name, column))
    return found


def test_desk_pages_write_partial_index_states_into_their_sql(app, client, auth):
    """A value bound where a partial index's condition is compared makes SQLite prepare the statement
    again on every run (more than the query costs): the thread page's and the queue page's statements
    write those states in ('open', 'pending') rather than bind them."""
    columns = partial_index_columns()
    assert ("escalations", "state") in columns and ("review_items", "status") in columns
    bound = [re.compile(rf"\b{table}\.{column}\s*(=|!=|<>|IN)\s*\(?\s*(\?|%\(|\$\d)", re.IGNORECASE)
             for table, column in columns]
    auth.as_role("staff")
    thread = make_thread(title="Invoices stopped arriving")
    escalated(thread)
    statements = [*queries_of(client, f"/t/{thread.id}", "Escalated to the"),
                  *queries_of(client, "/staff/queues/all", "Invoices stopped arriving"),
                  *queries_of(client, "/staff/queues/all?state=resolved")]
    assert any("escalations.state" in s for s in statements), describe(statements)
    offending = [s for s in statements if any(pattern.search(s) for pattern in bound)]
    assert not offending, describe(offending)


def test_new_canned_replies_and_teams_show_at_once(app, client, auth):
    """The picker's replies and the queue page's teams are memoised, and saving either shows at once."""
    auth.as_role("admin")
    thread = make_thread(title="Refund for a double charge")
    assert 'class="canned-picker"' not in client.get(f"/t/{thread.id}").text
    assert client.get("/staff/queues/urgent").status_code == 200
    saved = client.post("/staff/canned-replies", data={"title": "Refund steps", "body": "Hello {asker}, ..."})
    assert saved.status_code == 302, saved.text
    page = client.get(f"/t/{thread.id}").text
    assert 'class="canned-picker"' in page and "Refund steps" in page
    saved = client.post("/admin/escalation/teams", data={"form": "team-new", "name": "Refunds crew"})
    assert saved.status_code == 302, saved.text
    assert "Refunds crew" in client.get("/staff/queues/urgent").text
    saved = client.post("/admin/escalation/teams", data={"delete_team": db.session.scalar(
        sa.select(sa.text("id")).select_from(sa.text("escalation_teams")))})
    assert saved.status_code == 302, saved.text
    assert "Refunds crew" not in client.get("/staff/queues/urgent").text


def worked_escalation(replies: int):
    """An escalation with `replies` answers by as many people (staff among them), as many notes by
    as many staff, claims and hand-ons, and an asker with other threads and earlier escalations."""
    asker = make_user()
    earlier = escalated(make_thread(asker, title="An earlier question"))
    services.resolve(make_user("staff"), earlier)
    make_thread(asker, title="Another question of theirs")
    thread = make_thread(asker, title=f"Sync fails with {replies} replies")
    escalation = escalated(thread)
    for i in range(replies):
        author = make_user("staff" if i % 2 else "member")
        make_answer(thread, author, f"Reply number {i}: try signing out and in.")
        services.add_note(make_user("staff"), thread, f"Internal note number {i}.")
    first, second = make_user("staff"), make_user("staff")
    services.claim(first, escalation)
    services.assign(first, escalation, second.id, "Over to you")
    return escalation


def test_the_escalation_page_runs_as_many_queries_for_10_replies_and_notes_as_for_1(app, client, auth):
    auth.as_role("staff")
    small, large = worked_escalation(1), worked_escalation(10)
    one = queries_of(client, f"/staff/escalations/{small.id}", "Reply number 0:", "Internal note number 0.")
    shown = [f"Reply number {i}:" for i in range(10)] + [f"Internal note number {i}." for i in range(10)]
    ten = queries_of(client, f"/staff/escalations/{large.id}", *shown)
    backend = app.config["PEERLINE_TEST_BACKEND"]
    print(f"\nescalation page ({backend}): {len(one)} queries with 1, {len(ten)} with 10")
    assert len(ten) == len(one), f"1:\n{describe(one)}\n10:\n{describe(ten)}"


def test_an_acknowledgement_without_a_canned_reply_is_refused_with_a_message(app, client, auth):
    from tests.escalation.desk import escalated

    escalation = escalated()
    auth.as_role("staff")
    response = client.post(f"/staff/escalations/{escalation.id}/acknowledge", data={"canned_id": ""})
    assert response.status_code == 400
    assert "Choose one of the canned acknowledgements." in response.text


def test_canned_replies_are_saved_and_edited_from_their_pages_and_bad_ones_keep_the_text(app, client, auth):
    auth.as_role("staff")
    refused = client.post("/staff/canned-replies", data={"title": "Hi", "body": "Hello {nope}"})
    assert refused.status_code == 400
    assert "Unknown placeholder" in refused.text and "Hello {nope}" in refused.text
    saved = client.post("/staff/canned-replies", data={"title": "Hi", "body": "Hello {asker}"})
    assert saved.status_code == 302
    from escalation import canned

    reply = canned.all_replies()[0]
    edited = client.post(f"/staff/canned-replies/{reply.id}", data={"title": "Hello", "body": "Hi {asker}"})
    assert edited.status_code == 302
    assert [(r.title, r.body) for r in canned.all_replies()] == [("Hello", "Hi {asker}")]

"""The ask flow: suggestions from the search index, opened suggestions recorded, deflection counted."""

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from core import clock, jobs
from core.errors import Invalid
from core.extensions import db
from forum import askflows, services
from forum.models import AskFlow
from tests.factories import PASSWORD, make_answer, make_category, make_thread, make_user


def _solved(title: str):
    asker, helper = make_user(), make_user()
    thread = make_thread(asker, title=title)
    services.accept_answer(asker, make_answer(thread, helper))
    return thread


def test_suggestions_come_from_the_index_and_only_offer_what_answers(client, app):
    solved = _solved("Bank feed duplicates every transaction")
    make_thread(title="Bank feed stopped after the update")  # unsolved: not offered
    jobs.wait_idle()
    results = client.get("/ask/suggestions?title=bank feed dupl").json["results"]
    assert [r["doc_id"] for r in results] == [f"thread:{solved.id}"]
    assert results[0]["url"].endswith(f"/t/{solved.id}") and results[0]["solved"] is True
    assert client.get("/ask/suggestions?title=").json["results"] == []
    assert client.get("/ask/suggestions?title=" + "x" * 10_000).status_code == 200


def test_opening_a_suggestion_then_not_posting_is_a_deflection(app):
    asker = make_user()
    thread = _solved("Export to CSV drops accents")
    deflected, posted = askflows.new_ask_flow(asker), askflows.new_ask_flow(asker)
    askflows.record_suggestion_opened(asker, deflected, f"thread:{thread.id}")
    flow = askflows.record_suggestion_opened(asker, deflected, "article:7")
    assert (flow.opened_count, flow.last_opened_doc, flow.thread_id) == (2, "article:7", None)
    askflows.record_suggestion_opened(asker, posted, f"thread:{thread.id}")
    category_id = thread.category_id
    mine = services.create_thread(asker, category_id, "CSV export still drops accents",
                                  "Tried the answer, no luck.", ask_flow=posted)
    services.create_thread(asker, category_id, "Unrelated question", "Body",
                           ask_flow=askflows.new_ask_flow(asker))
    rows = {f.token: f for f in db.session.scalars(sa.select(AskFlow))}
    assert rows[posted].thread_id == mine.id and rows[posted].posted_at is not None
    assert len(rows) == 3  # the one that never opened anything is kept as posted, not as opened
    now = clock.now()
    window = (now - timedelta(hours=1), now + timedelta(minutes=1))
    # The deflected flow may still end in a question: for an hour it counts neither way.
    assert askflows.deflection(*window) == {"opened": 1, "deflected": 0, "rate": 0.0, "in_progress": 1}
    clock.advance(hours=1, minutes=1)
    assert askflows.deflection(*window) == {"opened": 2, "deflected": 1, "rate": 0.5, "in_progress": 0}
    assert askflows.deflection(now - timedelta(days=2), now - timedelta(days=1))["rate"] is None


def test_bad_flow_tokens_and_documents_are_refused_and_record_nothing(app):
    asker, other = make_user(), make_user()
    token = askflows.new_ask_flow(asker)
    askflows.record_suggestion_opened(asker, token, "thread:1")
    made_up = token[:16] + ("0" * 16 if token[16:] != "0" * 16 else "1" * 16)
    for bad_token in ("", "x" * 32, "A" * 32, token + "0", "<script>", None, made_up, "f" * 10_000):
        with pytest.raises(Invalid):
            askflows.record_suggestion_opened(asker, bad_token, "thread:1")
    with pytest.raises(Invalid):  # someone else's flow
        askflows.record_suggestion_opened(other, token, "thread:1")
    for bad_doc in ("", "thread:", "thread:abc", "x" * 100, "<img src=x>", None):
        with pytest.raises(Invalid):
            askflows.record_suggestion_opened(asker, token, bad_doc)
    # Someone else's token on a question is ignored rather than refused: the question is what matters.
    category_id = make_category(slug="other").id
    thread = services.create_thread(other, category_id, "A question", "Body", ask_flow=token)
    assert thread.id is not None
    flow = db.session.scalar(sa.select(AskFlow).where(AskFlow.token == token))
    assert (flow.user_id, flow.opened_count, flow.thread_id) == (asker.id, 1, None)


def test_the_ask_page_carries_a_flow_and_the_beacon_endpoint_answers(client, auth, app):
    user = make_user()
    auth.sign_in(user.username)
    page = client.get("/ask").text
    token = re.search(r'name="flow" type="hidden" value="([0-9a-f]{32})"', page).group(1)
    assert client.post("/ask/opened", data={"flow": token, "doc": "thread:5"}).status_code == 204
    # A tampered flow on the form is replaced, never an error the asker cannot get past.
    assert client.post("/ask", data={"flow": "x" * 500, "title": ""}).status_code == 400
    replaced = client.post("/ask", data={"flow": "x" * 500}).text
    assert "x" * 500 not in replaced
    assert re.search(r'name="flow" type="hidden" value="[0-9a-f]{32}"', replaced)
    response = client.post("/ask/opened", data={"flow": "nope", "doc": "thread:5"})
    assert response.status_code == 400 and "reload the page" in response.json["error"]
    client.post("/signout")
    # Signed out, the person's own token is someone else's: refused, and recorded nowhere.
    response = client.post("/ask/opened", data={"flow": token, "doc": "thread:5"})
    assert response.status_code == 400 and "reload the page" in response.json["error"]


# --- visitors who are not signed in, categories, flows in progress -------------------------------------


FLOW_RE = re.compile(r'name="flow" type="hidden" value="([0-9a-f]{32})"')


def _flow(token) -> AskFlow:
    return db.session.scalar(sa.select(AskFlow).where(AskFlow.token == token).execution_options(
        populate_existing=True))


def test_a_visitor_not_signed_in_is_recorded_then_signs_in_and_posts_from_the_same_flow(client, app):

    category = make_category("Payroll", slug="payroll")
    asker = make_user()
    page = client.get("/ask")
    assert page.status_code == 200
    assert "Set-Cookie" not in page.headers  # no session, no cookie: the flow's token is all there is
    assert "Sign in to post your question" in page.text and 'name="body"' not in page.text
    token = FLOW_RE.search(page.text).group(1)

    opened = client.post("/ask/opened", data={"flow": token, "doc": "article:3",
                                              "category": str(category.id)})
    assert opened.status_code == 204
    flow = _flow(token)
    assert (flow.user_id, flow.category_id, flow.opened_count, flow.thread_id) == (None, category.id, 1, None)

    # "Sign in to post" takes the title, the category and the flow through the sign-in page.
    title = "Overtime missing from the payroll export — 残業"
    step = client.get("/ask/continue", query_string={"title": title, "category_id": category.id,
                                                    "flow": token, "to": "signin"})
    assert step.status_code == 302
    target = urlsplit(step.headers["Location"])
    assert target.path == "/signin"
    back = parse_qs(target.query)["next"][0]
    signed_in = client.post(f"/signin?{target.query}", data={"login": asker.username, "password": PASSWORD})
    assert signed_in.status_code == 302 and signed_in.headers["Location"] == back
    form = client.get(back).text
    assert FLOW_RE.search(form).group(1) == token and title in form
    assert f'<option selected value="{category.id}">' in form

    posted = client.post("/ask", data={"flow": token, "title": title,
                                       "body": "It drops the overtime hours from the export.",
                                       "category_id": str(category.id)})
    assert posted.status_code == 302
    flow = _flow(token)
    assert flow.user_id == asker.id and flow.thread_id is not None and flow.category_id == category.id
    assert flow.posted_at is not None and flow.last_event_at == flow.posted_at
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AskFlow)) == 1
    assert askflows.deflection(clock.now() - timedelta(hours=1), clock.now())["opened"] == 1


def test_the_create_account_button_leads_to_sign_up_and_bad_values_are_left_behind(client):
    token = FLOW_RE.search(client.get("/ask").text).group(1)
    step = client.get("/ask/continue", query_string={"title": "x", "flow": token, "to": "signup"})
    assert step.status_code == 302 and step.headers["Location"].startswith("/signup?next=")
    # A title of 10,000 emoji is cut to what sign-in's `next` holds; the flow always goes along; a
    # category that is no id and a made-up flow do not.
    def carried(**values) -> dict:
        response = client.get("/ask/continue", query_string=values)
        assert response.status_code == 302
        back = parse_qs(urlsplit(response.headers["Location"]).query)["next"][0]
        assert len(back) <= 2000 and back.startswith("/ask")
        return {name: found[0] for name, found in parse_qs(urlsplit(back).query).items()}

    assert carried(title="🦜" * 10_000, category_id="9" * 40, flow=token) == {"title": "🦜" * 100,
                                                                               "flow": token}
    assert carried(title="é" * 300, category_id="7", flow="f" * 32) == {"title": "é" * 200, "category": "7"}
    assert carried(title="  ", flow=token + "0") == {}
    assert client.get("/ask", query_string={"title": "x" * 100_000}).status_code == 200


def test_flow_tokens_are_not_anyone_elses(app):
    from flask_login import AnonymousUserMixin

    anonymous = AnonymousUserMixin()
    first, second = make_user(), make_user()
    token = askflows.new_ask_flow(anonymous)
    askflows.record_suggestion_opened(anonymous, token, "thread:1")
    assert askflows.may_carry_on(first, token) and askflows.may_carry_on(second, token)
    askflows.record_suggestion_opened(first, token, "thread:2")  # first signed in and carried it on
    assert _flow(token).user_id == first.id
    assert not askflows.may_carry_on(second, token)
    for someone_else in (second, anonymous):
        with pytest.raises(Invalid, match="reload the page"):
            askflows.record_suggestion_opened(someone_else, token, "thread:3")
    # Their question goes through; the flow stays first's, unposted.
    thread = services.create_thread(second, make_category().id, "Another question", "Body", ask_flow=token)
    assert thread.id is not None and _flow(token).thread_id is None
    # A person's own token is nobody else's, signed in or not; made-up ones are nobody's.
    mine = askflows.new_ask_flow(first)
    made_up = token[:16] + ("0" * 16 if token[16:] != "0" * 16 else "1" * 16)
    for who, bad in ((anonymous, mine), (second, mine), (anonymous, made_up), (anonymous, "é" * 32)):
        with pytest.raises(Invalid):
            askflows.record_suggestion_opened(who, bad, "thread:1")
    assert _flow(mine) is None


def test_the_ask_page_replaces_an_anonymous_flow_someone_else_carried_on(client, auth, app):
    from flask_login import AnonymousUserMixin

    token = askflows.new_ask_flow(AnonymousUserMixin())
    askflows.record_suggestion_opened(make_user(), token, "thread:1")
    auth.as_role("member")
    page = client.get("/ask", query_string={"flow": token}).text
    assert FLOW_RE.search(page).group(1) != token


@pytest.mark.parametrize("category", ["abc", "0", "-3", "99999999999999999999", "4242", "٣", "1.5"])
def test_opened_suggestions_with_a_category_that_is_not_one_are_refused(client, category):
    token = FLOW_RE.search(client.get("/ask").text).group(1)
    response = client.post("/ask/opened", data={"flow": token, "doc": "thread:1", "category": category})
    assert response.status_code == 400
    assert response.json == {"error": "That is not one of the categories."}
    assert _flow(token) is None


def test_a_flow_in_progress_is_not_deflected_until_an_hour_after_its_last_event(app):
    from flask_login import AnonymousUserMixin

    anonymous = AnonymousUserMixin()
    start = clock.now()
    window = (start - timedelta(minutes=1), start + timedelta(days=1))
    token = askflows.new_ask_flow(anonymous)
    askflows.record_suggestion_opened(anonymous, token, "thread:1")
    assert askflows.deflection(*window) == {"opened": 0, "deflected": 0, "rate": None, "in_progress": 1}
    clock.advance(minutes=50)
    askflows.record_suggestion_opened(anonymous, token, "article:2")  # still reading: a new event
    clock.advance(minutes=50)
    assert askflows.deflection(*window)["in_progress"] == 1  # 100 minutes after it began
    clock.advance(minutes=11)
    assert askflows.deflection(*window) == {"opened": 1, "deflected": 1, "rate": 1.0, "in_progress": 0}
    flow = _flow(token)
    assert flow.opened_count == 2 and flow.first_opened_at < flow.last_event_at


def test_visitors_opening_suggestions_are_limited_per_address(make_app):
    app = make_app("sqlite", PEERLINE_ASK_OPENED_LIMIT="2 per minute")
    client = app.test_client()
    with app.app_context():
        token = FLOW_RE.search(client.get("/ask").text).group(1)
    statuses = [client.post("/ask/opened", data={"flow": token, "doc": f"thread:{n}"}).status_code
                for n in (1, 2, 3)]
    assert statuses == [204, 204, 429]

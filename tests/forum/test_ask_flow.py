"""The ask flow: suggestions from the search index, opened suggestions recorded, deflection counted."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from core import clock, jobs
from core.errors import Invalid
from core.extensions import db
from forum import askflows, queries, services
from forum.models import AskFlow
from tests.factories import make_answer, make_category, make_thread, make_user


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
    figures = queries.deflection(now - timedelta(hours=1), now + timedelta(minutes=1))
    assert figures == {"opened": 2, "deflected": 1, "rate": 0.5}
    assert queries.deflection(now - timedelta(days=2), now - timedelta(days=1))["rate"] is None


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
    assert client.post("/ask/opened", data={"flow": token, "doc": "thread:5"}).status_code in (302, 401)

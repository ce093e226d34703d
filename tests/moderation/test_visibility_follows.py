"""What moderation changes reaches every reader: the anonymous page cache and the search index
follow a flag hold and a queue decision; a flagged question holds its thread; the profile shows
trust; a restriction reaches the knowledge base, the staff desk and the profile too."""

import pytest
import sqlalchemy as sa

import search
from core import jobs
from core.errors import Forbidden
from core.extensions import db
from forum import services as forum_services
from forum.models import HELD, Thread
from kb import services as kb_services
from moderation import services
from moderation.models import SILENCE, SUSPENSION, ReviewItem
from tests.factories import make_answer, make_category, make_thread, make_user

pytestmark = pytest.mark.live_jobs


def test_a_flag_hold_and_a_decision_refresh_the_cached_page_and_the_index(make_app):
    app = make_app("sqlite", PEERLINE_PAGE_CACHE_SECONDS=30)
    client = app.test_client()
    with app.app_context():
        thread = make_thread(title="Quarterly VAT return rejected")
        answer = make_answer(thread, body="Buy Quuxcoin now, it will fix your VAT")
        jobs.wait_idle()
        assert "Quuxcoin" in client.get(f"/t/{thread.id}").text  # cached now
        assert [h.doc_id for h in search.search("quuxcoin").hits] == [f"thread:{thread.id}"]
        for _ in range(3):
            services.flag_post(make_user(), answer, "spam")
        jobs.wait_idle()
        assert "Quuxcoin" not in client.get(f"/t/{thread.id}").text
        assert not search.search("quuxcoin").hits
        item = db.session.scalar(sa.select(ReviewItem))
        services.approve(make_user("staff"), item)
        jobs.wait_idle()
        assert "Quuxcoin" in client.get(f"/t/{thread.id}").text
        assert [h.doc_id for h in search.search("quuxcoin").hits] == [f"thread:{thread.id}"]


def test_flagging_a_question_holds_its_whole_thread(app, client):
    thread = make_thread(title="Click here for free invoices")
    question = forum_services.question_of(thread)
    for _ in range(3):
        services.flag_post(make_user(), question, "spam")
    assert db.session.get(Thread, thread.id).state == HELD
    assert client.get(f"/t/{thread.id}").status_code == 404


def test_the_profile_shows_trust_and_what_earns_it(app, client, auth):
    newcomer = make_user(trust_level=0, username="newbie")
    make_user(username="oldhand")
    assert "New member" in client.get("/u/newbie").text
    assert "Basic trust" in client.get("/u/oldhand").text
    auth.sign_in(newcomer.username)
    own = client.get("/u/newbie").text
    assert "You earn basic trust" in own and "posts read" in own


def test_restricted_people_write_nowhere(app):
    staff = make_user("staff")
    advocate = make_user("advocate")
    services.restrict_member(staff, advocate, SILENCE, 1, "days", "Heated week")
    with pytest.raises(Forbidden, match="silenced"):
        kb_services.create_article(advocate, make_category().id, "How to export", "Open the menu.")
    from escalation import services as escalation_services

    with pytest.raises(Forbidden, match="silenced"):
        escalation_services.send_up(advocate, make_thread(), "needs_staff", "Needs a look")
    from accounts import services as account_services

    member = make_user()
    account_services.update_profile(member, member, "Still fine", "bio")
    services.restrict_member(staff, member, SUSPENSION, 1, "days", "Spam in bio")
    with pytest.raises(Forbidden, match="suspended"):
        account_services.update_profile(member, member, "Buy now", "spam bio")

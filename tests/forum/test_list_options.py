"""Lists sorted and narrowed from the query string, and following categories and tags ("my topics")."""

import re

import pytest

from core import clock
from core.extensions import db
from forum import follows, services, states
from forum.models import TopicFollow
from tests.factories import make_answer, make_category, make_thread, make_user
from tests.forum.test_query_counts import LISTING_MAX_QUERIES, page_and_queries


def titles(page: str) -> list[str]:
    """The thread titles a list shows, in order."""
    return re.findall(r'<h3 class="thread-title">.*?<a href="/t/\d+">([^<]+)</a>', page, re.S)


@pytest.fixture
def threads(app):
    """Four threads asked an hour apart, with answers, votes and activity in another order."""
    category = make_category("Billing", slug="billing")
    asked = {}
    for name in ("first", "second", "third", "fourth"):
        asked[name] = make_thread(category=category, title=f"Thread {name}", body="Question.",
                                  urgent=name in ("second", "fourth"),
                                  urgent_reason="Outage" if name in ("second", "fourth") else "")
        clock.advance(hours=1)
    best = make_answer(asked["first"], body="Great answer.")  # "first" is now the most recently active
    for _ in range(2):
        services.vote(make_user(), best, 1)
    clock.advance(minutes=5)
    weak = make_answer(asked["third"], body="Weak answer.")
    services.vote(make_user(), weak, -1)
    clock.advance(minutes=5)
    db.session.commit()
    return asked


def test_each_sort_orders_the_list_on_real_data(client, threads):
    assert titles(client.get("/").text) == ["Thread third", "Thread first", "Thread fourth", "Thread second"]
    assert titles(client.get("/?sort=newest").text) == [
        "Thread fourth", "Thread third", "Thread second", "Thread first"]
    assert titles(client.get("/?sort=oldest").text) == [
        "Thread first", "Thread second", "Thread third", "Thread fourth"]
    # Most votes: the top answer's score (+2, then none at 0 by activity, then -1).
    assert titles(client.get("/?sort=votes").text) == [
        "Thread first", "Thread fourth", "Thread second", "Thread third"]
    # The unanswered list keeps its own default (newest) and takes the others.
    assert titles(client.get("/threads/unanswered").text) == ["Thread fourth", "Thread second"]
    assert titles(client.get("/threads/unanswered?sort=oldest").text) == ["Thread second", "Thread fourth"]


def test_the_votes_a_row_shows_are_the_top_answers_score(client, threads):
    page = client.get("/?sort=votes").text
    assert "2 votes</span>" in page and "-1 vote</span>" in page


def test_urgent_only_narrows_every_list_and_its_counts(client, threads):
    page = client.get("/?urgent=1").text
    assert titles(page) == ["Thread fourth", "Thread second"]
    assert re.search(r'Unanswered <span class="count">2</span>', page)
    assert re.search(r'Solved <span class="count">0</span>', page)
    assert titles(client.get("/threads/unanswered?urgent=1&sort=oldest").text) == [
        "Thread second", "Thread fourth"]


def test_pinned_threads_come_first_only_in_the_default_order(client, threads):
    states.pin_thread(make_user("staff"), threads["second"])
    db.session.commit()
    assert titles(client.get("/").text)[0] == "Thread second"
    assert titles(client.get("/?sort=activity").text)[0] == "Thread second"  # the default, said out loud
    assert titles(client.get("/?sort=oldest").text) == [
        "Thread first", "Thread second", "Thread third", "Thread fourth"]


@pytest.mark.parametrize("query", ["sort=best", "sort=<script>", "urgent=yes", "mine=true"])
def test_values_no_control_sends_are_refused_with_a_message(client, threads, query):
    response = client.get(f"/?{query}")
    assert response.status_code == 400
    assert "activity, newest, oldest, votes" in response.text or "is 1 (on) or left out" in response.text


def test_the_options_survive_tabs_and_pagination(client, app):
    category = make_category("Many", slug="many")
    for number in range(35):
        make_thread(category=category, title=f"Urgent {number}", urgent=True, urgent_reason="Down")
        clock.advance(minutes=1)
    page = client.get("/c/many?sort=oldest&urgent=1").text
    assert titles(page)[0] == "Urgent 0"
    next_link = re.search(r'<a rel="next" href="([^"]+)"', page).group(1).replace("&amp;", "&")
    assert "sort=oldest" in next_link and "urgent=1" in next_link
    second = client.get(next_link).text
    assert titles(second) == [f"Urgent {number}" for number in range(30, 35)]
    unanswered_tab = re.search(r'<a href="(/c/many/unanswered[^"]*)"', page).group(1).replace("&amp;", "&")
    assert "sort=oldest" in unanswered_tab and "urgent=1" in unanswered_tab


def test_my_topics_shows_exactly_the_followed_categories_and_tags(client, auth, app):
    me = auth.as_role("advocate")
    other = make_user("advocate")
    devices = make_category("Devices", slug="devices")
    phones = make_category("Phones", slug="phones")
    phones.parent_id = devices.id
    billing, shipping = make_category("Billing", slug="billing"), make_category("Shipping", slug="shipping")
    services.resolve_tags(make_user("admin"), ["sync"])
    db.session.commit()
    make_thread(category=devices, title="In devices")
    make_thread(category=phones, title="In phones, a sub-category")
    make_thread(category=billing, title="Tagged sync in billing", tags=["sync"])
    make_thread(category=billing, title="Billing, untagged")
    make_thread(category=shipping, title="Followed by someone else")
    follows.follow_topic(other, category=shipping)

    assert client.post("/c/devices/follow", data={"follow": "1"}).status_code == 302
    assert client.post("/tags/sync/follow", data={"follow": "1"}).status_code == 302
    assert client.post("/tags/sync/follow", data={"follow": "1"}).status_code == 302  # twice is once
    assert db.session.query(TopicFollow).filter_by(user_id=me.id).count() == 2

    shown = set(titles(client.get("/?mine=1").text))
    assert shown == {"In devices", "In phones, a sub-category", "Tagged sync in billing"}
    topics = client.get("/my/topics").text
    assert "Devices" in topics and ">sync<" in topics and "Shipping" not in topics

    client.post("/c/devices/follow", data={"follow": "0"})
    assert set(titles(client.get("/?mine=1").text)) == {"Tagged sync in billing"}


def test_following_something_that_does_not_exist_is_404(client, auth, app):
    auth.as_role("member")
    assert client.post("/c/no-such-category/follow", data={"follow": "1"}).status_code == 404
    assert client.post("/tags/no-such-tag/follow", data={"follow": "1"}).status_code == 404


def test_following_needs_a_signed_in_person(client, app):
    make_category("Devices", slug="devices")
    response = client.post("/c/devices/follow", data={"follow": "1"})
    assert response.status_code in (302, 401) and db.session.query(TopicFollow).count() == 0
    response = client.get("/threads/unanswered?mine=1&sort=oldest")
    assert response.status_code == 302 and "/signin" in response.headers["Location"]


def test_the_follow_button_and_the_preset_are_on_the_list(client, auth, app):
    auth.as_role("advocate")
    make_category("Devices", slug="devices")
    services.resolve_tags(make_user("admin"), ["sync"])
    db.session.commit()
    page = client.get("/c/devices").text
    assert "Follow this category" in page
    preset = re.search(r'<a href="([^"]+)">Unanswered in my topics, oldest first</a>', page).group(1)
    assert preset.startswith("/threads/unanswered?") and "sort=oldest" in preset and "mine=1" in preset
    client.post("/c/devices/follow", data={"follow": "1"})
    assert "You are following this category" in client.get("/c/devices").text
    assert "Follow this tag" in client.get("/tags/sync").text


def test_the_anonymous_cache_keeps_each_order_apart(app, threads):
    anonymous = app.test_client()
    newest = titles(anonymous.get("/?sort=newest").text)
    oldest = titles(anonymous.get("/?sort=oldest").text)
    assert newest == list(reversed(oldest))
    assert titles(anonymous.get("/?sort=newest").text) == newest  # from the cache, still its own order


@pytest.mark.parametrize("query", ["sort=votes", "sort=oldest&urgent=1", "mine=1", "mine=1&sort=votes"])
def test_new_options_keep_a_list_to_a_fixed_number_of_queries(client, auth, app, query):
    me = auth.as_role("advocate")
    category = make_category("Counted", slug="counted")
    follows.follow_topic(me, category=category)
    services.resolve_tags(make_user("admin"), ["sync"])
    db.session.commit()

    def add(count, start):
        for number in range(start, start + count):
            thread = make_thread(category=category, title=f"Counted {number}", tags=["sync"], urgent=True,
                                 urgent_reason="Down")
            services.vote(make_user(), make_answer(thread), 1)

    add(3, 0)
    few_page, few = page_and_queries(client, f"/?{query}")
    add(27, 3)
    many_page, many = page_and_queries(client, f"/?{query}")
    assert len(titles(few_page)) == 3 and len(titles(many_page)) == 30
    assert len(few) == len(many) <= LISTING_MAX_QUERIES, many

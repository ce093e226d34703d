"""The advocate leaderboard: staff-only until an admin opens it to everyone, ranked by accepted
answers, with the acceptance rate and the median time to a first answer; staff are never ranked."""

import re
from datetime import UTC, date, datetime

import pytest
from bs4 import BeautifulSoup

from core import clock, jobs
from forum import services as forum_services
from insights import leaderboard
from tests import factories
from tests.conftest import BACKENDS

# "Now": Wednesday 12 March 2025, noon UTC; the last 7 days are 5 to 11 March.
NOW = datetime(2025, 3, 12, 12, tzinfo=UTC)
TOKEN_INPUT = re.compile(r'<input[^>]*\bname="csrf_token"[^>]*\bvalue="([^"]+)"')


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 3, day, hour, minute, tzinfo=UTC)


def board(response) -> list[list[str]]:
    """The leaderboard's rows as the page shows them: rank, name, accepted, answers, rate, median."""
    soup = BeautifulSoup(response.text, "html.parser")
    table = soup.select_one("table.breakdown")
    if table is None:
        return []
    return [[cell.get_text(" ", strip=True).removesuffix(" Advocate") for cell in row.find_all(["td", "th"])]
            for row in table.select("tbody tr")]


@pytest.fixture
def answers(app):
    """On 6-7 March, chronologically: Ada (an advocate) answers three questions, after 1 h, 3 h and
    2 h; two of hers are accepted. Max (a member) answers one, after 30 min, and it is accepted
    over Ada's. Sam (staff) answers a fourth, accepted. The askers' own follow-ups count nowhere."""
    ada = factories.make_user("advocate", username="ada", display_name="Ada Lovelace")
    max_ = factories.make_user(username="max", display_name="Max Member")
    sam = factories.make_user("staff", username="sam", display_name="Sam Staff")
    asker, other = factories.make_user(username="asker"), factories.make_user(username="other")
    category = factories.make_category("Billing")

    def step(day, hour, minute=0):
        clock.set(at(day, hour, minute))

    step(6, 9)
    first = factories.make_thread(asker, category=category, title="First question")
    second = factories.make_thread(other, category=category, title="Second question")
    step(6, 10)
    ada_first = factories.make_answer(first, ada)  # 1 h
    step(6, 10, 30)
    forum_services.accept_answer(asker, ada_first)
    step(6, 11)
    factories.make_answer(second, other, "Any news?")  # the asker's own follow-up
    step(6, 12)
    ada_second = factories.make_answer(second, ada)  # 3 h
    forum_services.accept_answer(other, ada_second)
    step(7, 9)
    third = factories.make_thread(asker, category=category, title="Third question")
    fourth = factories.make_thread(other, category=category, title="Fourth question")
    step(7, 9, 10)
    sam_answer = factories.make_answer(fourth, sam)
    forum_services.accept_answer(other, sam_answer)
    step(7, 9, 30)
    max_answer = factories.make_answer(third, max_)  # 30 min
    step(7, 11)
    factories.make_answer(third, ada)  # 2 h, not accepted
    forum_services.accept_answer(asker, max_answer)
    clock.set(NOW)
    jobs.wait_idle()
    return {"ada": ada, "max": max_, "sam": sam}


def test_ranked_by_accepted_answers_with_rate_and_speed(answers, client, auth):
    auth.as_role("staff")
    response = client.get("/leaderboard?period=7d")
    assert response.status_code == 200
    assert board(response) == [
        ["1", "Ada Lovelace", "2", "3", "66.7%", "2h 00m"],
        ["2", "Max Member", "1", "1", "100.0%", "30m 00s"],
    ]
    assert "Advocate" in response.text  # Ada's badge
    assert "Sam Staff" not in BeautifulSoup(response.text, "html.parser").select_one("table").get_text()


def test_the_leaders_service_counts_the_same(answers):
    rows = leaderboard.leaders(date(2025, 3, 5), date(2025, 3, 11))
    assert [(r["user"].username, r["accepted"], r["answers"]) for r in rows] == [("ada", 2, 3), ("max", 1, 1)]
    assert rows[0]["acceptance_rate"] == pytest.approx(2 / 3)
    assert rows[0]["first_answer_median_s"] == 7200
    assert rows[1]["first_answer_median_s"] == 1800
    # A period before any of it: nobody.
    assert leaderboard.leaders(date(2025, 2, 1), date(2025, 2, 28)) == []


def test_a_period_with_nobody_says_so(answers, client, auth):
    auth.as_role("staff")
    response = client.get("/leaderboard?period=last-month")
    assert response.status_code == 200
    assert board(response) == []
    assert "Nobody answered a question in this period." in response.text


def test_a_bad_period_answers_400_with_the_reason(answers, client, auth):
    auth.as_role("staff")
    response = client.get("/leaderboard", query_string={"period": "custom", "from": "2025-03-11",
                                                        "to": "2025-03-05"})
    assert response.status_code == 400
    alert = BeautifulSoup(response.text, "html.parser").select_one('[role="alert"]').get_text(strip=True)
    assert alert == "The range ends (2025-03-05) before it starts (2025-03-11). Showing last 30 days instead."
    assert [row[1] for row in board(response)] == ["Ada Lovelace", "Max Member"]  # the last 30 days


@pytest.mark.parametrize("role", ["staff", "admin"])
def test_staff_always_see_it(app, client, auth, role):
    clock.set(NOW)
    auth.as_role(role)
    assert client.get("/leaderboard").status_code == 200


@pytest.mark.parametrize("role", [None, "member", "advocate"])
def test_hidden_from_everyone_else_until_opened(app, client, auth, role):
    if role:
        auth.as_role(role)
    assert client.get("/leaderboard").status_code == 404
    admin = factories.make_user("admin")
    leaderboard.set_public(admin, True)
    assert client.get("/leaderboard").status_code == 200
    leaderboard.set_public(admin, False)
    assert client.get("/leaderboard").status_code == 404


def test_an_admin_opens_it_through_the_page_with_its_csrf_token(make_app):
    app = make_app("sqlite", WTF_CSRF_ENABLED=True)
    with app.app_context():
        clock.set(NOW)
        admin = factories.make_user("admin").username
    admin_client, visitor = app.test_client(), app.test_client()
    page = admin_client.get("/signin").text
    token = TOKEN_INPUT.search(page).group(1)
    assert admin_client.post("/signin", data={"login": admin, "password": factories.PASSWORD,
                                              "csrf_token": token}).status_code == 302

    assert visitor.get("/leaderboard").status_code == 404
    page = admin_client.get("/leaderboard").text
    assert "Only staff can see this page." in page
    refused = admin_client.post("/staff/insights/leaderboard-visibility", data={"public": "1"})
    assert refused.status_code == 400  # no token: the form has expired
    assert visitor.get("/leaderboard").status_code == 404

    token = TOKEN_INPUT.search(page).group(1)
    opened = admin_client.post("/staff/insights/leaderboard-visibility",
                               data={"public": "1", "csrf_token": token}, follow_redirects=True)
    assert opened.status_code == 200
    assert "Everyone can see the leaderboard now." in opened.text
    assert "Everyone can see this page." in opened.text
    assert visitor.get("/leaderboard").status_code == 200

    token = TOKEN_INPUT.search(opened.text).group(1)
    closed = admin_client.post("/staff/insights/leaderboard-visibility",
                               data={"public": "0", "csrf_token": token}, follow_redirects=True)
    assert "Only staff can see the leaderboard now." in closed.text
    assert visitor.get("/leaderboard").status_code == 404


@pytest.mark.parametrize("role", ["staff", "advocate", "member"])
def test_only_admins_choose(app, client, auth, role):
    auth.as_role(role)
    response = client.post("/staff/insights/leaderboard-visibility", data={"public": "1"})
    assert response.status_code == 403
    assert not leaderboard.is_public()


def test_anonymous_posts_are_sent_to_sign_in(app, client):
    response = client.post("/staff/insights/leaderboard-visibility", data={"public": "1"})
    assert response.status_code == 302 and response.headers["Location"].startswith("/signin")
    assert not leaderboard.is_public()


def test_once_open_members_see_the_same_ranking_without_the_switch(answers, client, auth):
    leaderboard.set_public(factories.make_user("admin"), True)
    auth.as_role("member")
    response = client.get("/leaderboard?period=7d")
    assert response.status_code == 200
    assert [row[1] for row in board(response)] == ["Ada Lovelace", "Max Member"]
    assert "leaderboard-visibility" not in response.text
    assert "Insights dashboard" not in response.text


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_lists_link_to_it_only_while_it_is_open(make_app, backend):
    """With the page cache on, as in production: anonymous lists are cached, and the switch
    refreshes them."""
    app = make_app(backend, PEERLINE_PAGE_CACHE_SECONDS=300)
    link = '<a href="/leaderboard">Community leaderboard</a>'
    visitor = app.test_client()
    with app.app_context():
        admin = factories.make_user("admin")
        assert link not in visitor.get("/").text  # the home page is now in the page cache
        leaderboard.set_public(admin, True)
        assert link in visitor.get("/").text
        assert link in visitor.get("/threads/unanswered").text
        leaderboard.set_public(admin, False)
        assert link not in visitor.get("/").text

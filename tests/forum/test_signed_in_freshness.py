"""Signed-in pages are drawn partly from kept fragments (the header, the answer box, staff tools) and
read the person's unread count with the person: nothing of that may be stale or shared. Someone
signed in sees their own vote, answer, notices and name at once, and every form carries their own
anti-forgery token, which works."""

import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from core import jobs
from core.extensions import db
from forum import notices, services
from tests.factories import PASSWORD, make_thread, make_user

TOKEN = re.compile(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"')


@pytest.fixture
def site(make_app):
    """An app with anti-forgery checks on and the fragment cache as configured."""
    app = make_app("sqlite", WTF_CSRF_ENABLED=True)
    assert app.config["PEERLINE_FRAGMENT_CACHE_SIZE"] > 0
    return app


def signed_in(app, username: str):
    client = app.test_client()
    token = TOKEN.search(client.get("/signin").text).group(1)
    response = client.post("/signin", data={"login": username, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302, response.text
    return client


def tokens(page: str) -> set[str]:
    return set(TOKEN.findall(page))


def unread_in_header(page: str) -> int:
    found = re.search(r"Notifications, (\d+) unread", page)
    return int(found.group(1)) if found else 0


def test_each_person_gets_their_own_token_in_shared_fragments_and_it_works(site):
    with site.app_context():
        thread = make_thread()
        thread_id, answerer = thread.id, make_thread().author  # someone else, who may answer
        ana, ben = make_user(display_name="Ana").username, answerer.username
    pages = {}
    for name in (ana, ben):
        client = signed_in(site, name)
        page = client.get(f"/t/{thread_id}").text
        assert "Answer this question" in page and "slot-" not in page
        own = tokens(page)
        assert len(own) == 1, "every form on the page carries the same, own token"
        pages[name] = (client, own.pop())
    assert pages[ana][1] != pages[ben][1], "the kept answer box carries each viewer's own token"
    client, token = pages[ben]
    posted = client.post(f"/t/{thread_id}/reply", data={"body": "Turn sync off and on.", "csrf_token": token})
    assert posted.status_code == 302
    # The other person's token is refused: the fragment did not leak it.
    refused = client.post(f"/t/{thread_id}/reply", data={"body": "Again.", "csrf_token": pages[ana][1]})
    assert refused.status_code == 400


def test_a_refused_answer_comes_back_with_what_was_typed_and_why(site):
    with site.app_context():
        thread_id, username = make_thread().id, make_user().username
    client = signed_in(site, username)
    token = tokens(client.get(f"/t/{thread_id}").text).pop()
    typed = "x" * 50_001  # over the limit
    refused = client.post(f"/t/{thread_id}/reply", data={"body": typed, "csrf_token": token})
    assert refused.status_code == 400
    assert 'aria-invalid="true"' in refused.text and typed + "</textarea>" in refused.text
    # The kept empty box is not the refused one, and vice versa.
    again = client.get(f"/t/{thread_id}").text
    assert 'aria-invalid="true"' not in again
    assert re.search(r'<textarea[^>]*name="body"[^>]*>\s*</textarea>', again), "the box is empty again"


def test_notices_votes_answers_and_names_show_at_once(site):
    with site.app_context():
        member = make_user(display_name="Mo Member")
        thread = make_thread()
        notices.set_following(member, thread, True)
        db.session.commit()
        thread_id, username, member_id = thread.id, member.username, member.id
    client = signed_in(site, username)
    first = client.get("/").text
    assert unread_in_header(first) == 0 and "Mo Member" in first

    with site.app_context():  # someone answers the thread Mo follows
        answer = services.create_post(make_user(), db.session.get(type(thread), thread_id), "Reinstall it.")
        answer_id = answer.id
        jobs.wait_idle()
    assert unread_in_header(client.get("/").text) == 1, "the new notice shows on the very next page"
    assert unread_in_header(client.get("/threads/unanswered").text) == 1

    page = client.get(f"/t/{thread_id}").text  # reading the thread reads its notice
    assert unread_in_header(page) == 0
    assert unread_in_header(client.get("/").text) == 0

    token = tokens(page).pop()
    voted = client.post(f"/posts/{answer_id}/vote", data={"value": "up", "csrf_token": token})
    assert voted.status_code == 302
    page = client.get(f"/t/{thread_id}").text
    assert re.search(r'class="vote voted"[^>]*value="clear"[^>]*aria-pressed="true"', page), "own vote shows"

    assert client.post(f"/t/{thread_id}/reply", data={"body": "That worked for me too, thanks.",
                                                      "csrf_token": token}).status_code == 302
    page = client.get(f"/t/{thread_id}").text
    assert "That worked for me too, thanks." in page
    assert "You are following this thread." in page
    stopped = client.post(f"/t/{thread_id}/follow", data={"follow": "0", "csrf_token": token})
    assert stopped.status_code == 302
    assert "You are following this thread." not in client.get(f"/t/{thread_id}").text

    with site.app_context():  # a new display name shows in the (kept) header at once
        person = db.session.get(type(member), member_id)
        person.display_name = "Mo Renamed"
        db.session.commit()
    header = client.get("/").text
    assert "Mo Renamed" in header and "Mo Member" not in header.split("</header>")[0]


def test_staff_tools_follow_the_thread_at_once(site):
    with site.app_context():
        thread_id, username = make_thread().id, make_user("staff").username
    client = signed_in(site, username)
    page = client.get(f"/t/{thread_id}").text
    assert ">Lock…<" in page and "Unlock" not in page
    token = tokens(page).pop()
    assert client.post(f"/t/{thread_id}/lock", data={"locked": "1", "csrf_token": token}).status_code == 302
    page = client.get(f"/t/{thread_id}").text
    assert "Unlock" in page and ">Lock…<" not in page


def test_my_topics_knows_a_new_follow_at_once(site):
    with site.app_context():
        thread = make_thread()
        category_slug, title, username = thread.category.slug, thread.title, make_user().username
    client = signed_in(site, username)
    nothing_yet = "You follow no categories or tags yet"
    assert nothing_yet in client.get("/?mine=1").text
    page = client.get(f"/c/{category_slug}").text
    token = tokens(page).pop()
    followed = client.post(f"/c/{category_slug}/follow", data={"follow": "1", "csrf_token": token})
    assert followed.status_code == 302
    mine = client.get("/?mine=1").text
    assert nothing_yet not in mine and title in mine


def test_a_visitors_kept_header_signs_them_in_back_to_their_own_page(site):
    with site.app_context():
        first, second = make_thread().id, make_thread().id
    client = site.test_client()
    for path in (f"/t/{first}", f"/t/{second}", "/threads/unanswered?sort=oldest", "/tags"):
        page = client.get(path).text
        link = html.unescape(re.search(r'<a class="sign-in" href="([^"]+)"', page).group(1))
        target = urlsplit(link)
        assert target.path == "/signin" and parse_qs(target.query) == {"next": [path]}, (path, link)
    home = client.get("/").text
    assert '<a class="sign-in" href="/signin">' in home  # the home page's leads home

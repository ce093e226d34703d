"""Sign-in under attack: limits that concurrent guesses cannot slip past, that hold with Redis down,
that do not lock an owner out, and sessions that really end."""

import threading

import pytest
import sqlalchemy as sa
from redis import Redis

from accounts import services
from accounts.models import User
from core.extensions import db
from tests.factories import PASSWORD, make_user
from tests.services import REDIS_URL, redis_available, require

# About passwords and signing in: every password is hashed at its real cost.
pytestmark = pytest.mark.password_hashing

WRONG = "not the password at all"


def post_together(app, count: int, path: str, data: dict) -> list[int]:
    """`count` requests released at the same moment, each from its own browser; their statuses."""
    barrier, statuses, lock = threading.Barrier(count), [], threading.Lock()

    def one():
        client = app.test_client()
        barrier.wait()
        status = client.post(path, data=data).status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return sorted(statuses)


@pytest.mark.parametrize("with_redis", [False, True], ids=["memory", "redis"])
def test_simultaneous_wrong_passwords_for_one_account_are_tried_only_up_to_the_limit(make_app, backend,
                                                                                     with_redis):
    extra = {}
    if with_redis:
        require(redis_available(), f"Redis is not reachable at {REDIS_URL}")
        Redis.from_url(REDIS_URL).flushdb()
        extra["REDIS_URL"] = REDIS_URL
    app = make_app(backend, PEERLINE_SIGNIN_LIMIT="1000 per minute", **extra)
    with app.app_context():
        make_user(username="ada")
    try:
        statuses = post_together(app, 40, "/signin", {"login": "ada", "password": WRONG})
    finally:
        if with_redis:
            Redis.from_url(REDIS_URL).flushdb()
    assert statuses.count(401) == 5  # PEERLINE_SIGNIN_ACCOUNT_LIMIT: 5 per 5 minutes
    assert statuses.count(429) == 35


def test_the_limits_hold_while_redis_is_down(make_app):
    app = make_app("sqlite", REDIS_URL="redis://127.0.0.1:9/0")  # nothing listens on port 9
    with app.app_context():
        make_user(username="ada")
    client = app.test_client()
    statuses = [client.post("/signin", data={"login": "ada", "password": WRONG}).status_code
                for _ in range(7)]
    assert statuses == [401] * 5 + [429] * 2


def _app_with_ada(make_app, **config):
    """An app on SQLite where ada has an account."""
    app = make_app("sqlite", **config)
    with app.app_context():
        make_user(username="ada")
    return app


def _signed_in(app, password=PASSWORD):
    """A browser in which ada signed in."""
    browser = app.test_client()
    assert browser.post("/signin", data={"login": "ada", "password": password}).status_code == 302
    return browser


def _locked_out(app, login="ada"):
    """Five wrong passwords for `login` from a stranger's browser."""
    stranger = app.test_client()
    for _ in range(5):
        assert stranger.post("/signin", data={"login": login, "password": WRONG}).status_code == 401
    assert stranger.post("/signin", data={"login": login, "password": PASSWORD}).status_code == 429


def test_strangers_cannot_lock_the_owner_out_of_a_device_they_signed_in_on(make_app):
    app = make_app("sqlite")
    with app.app_context():
        make_user("admin", username="ada")
    owner = _signed_in(app)
    assert owner.get_cookie("peerline_device") is not None
    owner.post("/signout")
    _locked_out(app)
    assert owner.post("/signin", data={"login": "ada", "password": PASSWORD}).status_code == 302
    # ...and that sign-in lifted the lock for everyone.
    assert app.test_client().post("/signin", data={"login": "ada", "password": PASSWORD}).status_code == 302


def test_failures_from_the_same_network_do_not_lock_the_owner_out_either(make_app):
    app = _app_with_ada(make_app, PEERLINE_SIGNIN_LIMIT="3 per minute")
    owner = _signed_in(app)
    owner.post("/signout")
    neighbour = app.test_client()  # the same office, the same address
    statuses = [neighbour.post("/signin", data={"login": "ada", "password": WRONG}).status_code
                for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    assert owner.post("/signin", data={"login": "ada", "password": PASSWORD}).status_code == 302


def test_a_known_device_of_another_account_does_not_help(make_app):
    app = _app_with_ada(make_app)
    with app.app_context():
        make_user(username="bob")
    bob = app.test_client()
    assert bob.post("/signin", data={"login": "bob", "password": PASSWORD}).status_code == 302
    bob.post("/signout")
    _locked_out(app, "ada")
    assert bob.post("/signin", data={"login": "ada", "password": PASSWORD}).status_code == 429


def test_a_password_reset_lifts_the_lock(make_app):
    from tests.conftest import outbox_links

    app = _app_with_ada(make_app)
    _locked_out(app)
    client = app.test_client()
    client.post("/password/reset", data={"email": "ada@example.com"})
    with app.app_context():
        from core import jobs

        jobs.wait_idle()
        [link] = outbox_links(app)
    path = link.removeprefix("http://peerline.test")
    new = "a completely new passphrase"
    assert client.post(path, data={"password": new, "confirm": new}).status_code == 302
    assert client.post("/signin", data={"login": "ada", "password": new}).status_code == 302


def test_a_nul_byte_in_the_sign_in_name_is_a_plain_failure(client):
    make_user(username="ada")
    response = client.post("/signin", data={"login": "ad\x00a", "password": PASSWORD})
    assert response.status_code == 401
    assert "do not match an account" in response.text


def _copy_cookies(source, target, names=("session", "remember_token")):
    for name in names:
        cookie = source.get_cookie(name)
        if cookie is not None:
            target.set_cookie(name, cookie.value)


def _signed_in_as(client) -> bool:
    return client.get("/settings/profile").status_code == 200


def test_signing_out_ends_the_session_and_the_remember_cookie_on_the_server(app):
    make_user(username="ada")
    browser = app.test_client()
    signed_in = browser.post("/signin", data={"login": "ada", "password": PASSWORD, "remember": "y"})
    assert signed_in.status_code == 302
    session_copy, remember_copy = app.test_client(), app.test_client()
    _copy_cookies(browser, session_copy, ("session",))
    _copy_cookies(browser, remember_copy, ("remember_token",))
    assert _signed_in_as(session_copy) and _signed_in_as(remember_copy)
    browser.post("/signout")
    assert not _signed_in_as(browser)
    assert not _signed_in_as(session_copy), "a copy of the session cookie still worked"
    assert not _signed_in_as(remember_copy), "a copy of the remember cookie still worked"


def test_changing_the_password_ends_every_other_session(app):
    make_user(username="ada")
    here, elsewhere = app.test_client(), app.test_client()
    for browser in (here, elsewhere):
        assert browser.post("/signin", data={"login": "ada", "password": PASSWORD}).status_code == 302
    new = "a completely new passphrase"
    wrong = here.post("/settings/password", data={"current_password": WRONG, "password": new, "confirm": new})
    assert wrong.status_code == 400 and "not your current password" in wrong.text
    assert _signed_in_as(elsewhere)
    changed = here.post("/settings/password",
                        data={"current_password": PASSWORD, "password": new, "confirm": new})
    assert changed.status_code == 302
    assert _signed_in_as(here)
    assert not _signed_in_as(elsewhere)
    assert app.test_client().post("/signin", data={"login": "ada", "password": new}).status_code == 302


def test_a_password_reset_ends_every_session(app):
    user = make_user(username="ada")
    browser = _signed_in(app)
    services.request_password_reset(user.email)
    from core import jobs

    jobs.wait_idle()
    from tests.conftest import outbox_links

    [link] = outbox_links(app)
    new = "a completely new passphrase"
    reset = app.test_client().post(link.removeprefix("http://peerline.test"),
                                   data={"password": new, "confirm": new})
    assert reset.status_code == 302
    assert not _signed_in_as(browser)


def test_sessions_store_only_a_hash_of_their_token(app):
    from accounts.models import UserSession

    make_user(username="ada")
    browser = app.test_client()
    browser.post("/signin", data={"login": "ada", "password": PASSWORD})
    [row] = db.session.scalars(sa.select(UserSession))
    assert len(row.token_hash) == 64 and row.ended_at is None
    user = db.session.scalar(sa.select(User).where(User.username == "ada"))
    assert user.last_sign_in_at is not None


def test_signing_up_and_in_say_so_on_the_next_page(client):
    page = client.post("/signup", data={"email": "ada@example.com", "username": "ada", "password": PASSWORD,
                                        "confirm": PASSWORD}, follow_redirects=True).text
    assert "Welcome to Peerline, ada!" in page
    client.post("/signout")
    page = client.post("/signin", data={"login": "ada", "password": PASSWORD}, follow_redirects=True).text
    assert "Signed in as ada." in page


def _change_password(client, old, new):
    return client.post("/settings/password", data={"current_password": old, "password": new, "confirm": new})


def test_browsers_known_before_a_password_change_are_strangers_after_it(make_app):
    """Whoever knew the old password may have signed in on many browsers: after a change, those
    cookies must not let them keep guessing past the account's limit."""
    app = _app_with_ada(make_app)
    old_browser, owner = app.test_client(), app.test_client()
    for browser in (old_browser, owner):
        assert browser.post("/signin", data={"login": "ada", "password": PASSWORD}).status_code == 302
    new = "a completely new passphrase"
    assert _change_password(owner, PASSWORD, new).status_code == 302
    _locked_out(app)
    assert old_browser.post("/signin", data={"login": "ada", "password": new}).status_code == 429
    assert owner.post("/signout").status_code == 302
    assert owner.post("/signin", data={"login": "ada", "password": new}).status_code == 302


def test_guessing_the_current_password_on_the_change_form_is_limited(make_app):
    app = _app_with_ada(make_app, PEERLINE_SIGNIN_ACCOUNT_LIMIT="3 per 5 minutes")
    thief = _signed_in(app)
    new = "a completely new passphrase"
    statuses = [_change_password(thief, f"guess number {n}", new).status_code for n in range(4)]
    assert statuses == [400, 400, 400, 429]
    assert _change_password(thief, PASSWORD, new).status_code == 429


def test_a_weak_new_password_does_not_count_as_a_wrong_one(make_app):
    app = _app_with_ada(make_app, PEERLINE_SIGNIN_ACCOUNT_LIMIT="1 per 5 minutes")
    owner = _signed_in(app)
    assert _change_password(owner, PASSWORD, "short").status_code == 400
    assert _change_password(owner, PASSWORD, "a completely new passphrase").status_code == 302


def test_failures_at_a_username_do_not_say_which_email_is_its(make_app):
    app = _app_with_ada(make_app, PEERLINE_SIGNIN_LIMIT="1000 per minute")
    _locked_out(app)  # at the username
    stranger = app.test_client()
    hers = stranger.post("/signin", data={"login": "ada@example.com", "password": WRONG}).status_code
    someone_elses = stranger.post("/signin", data={"login": "bob@example.com", "password": WRONG}).status_code
    assert hers == someone_elses == 401


def test_signing_out_deletes_the_remember_cookie_so_pages_stay_cacheable(make_app):
    app = _app_with_ada(make_app, PEERLINE_PAGE_CACHE_SECONDS=30)
    browser = app.test_client()
    browser.post("/signin", data={"login": "ada", "password": PASSWORD, "remember": "y"})
    signed_out = browser.post("/signout")
    assert any(c.startswith("remember_token=;") for c in signed_out.headers.getlist("Set-Cookie"))
    assert browser.get_cookie("remember_token") is None
    browser.get("/")
    assert "Set-Cookie" not in browser.get("/").headers


def test_ipv6_neighbours_in_one_64_share_an_address_limit(make_app):
    app = make_app("sqlite", PEERLINE_SIGNIN_LIMIT="2 per minute")
    client = app.test_client()
    statuses = [client.post("/signin", data={"login": f"user{n}", "password": WRONG},
                            environ_base={"REMOTE_ADDR": f"2001:db8:1:2::{n + 1:x}"}).status_code
                for n in range(3)]
    assert statuses == [401, 401, 429]
    other = client.post("/signin", data={"login": "user9", "password": WRONG},
                        environ_base={"REMOTE_ADDR": "2001:db8:1:3::1"})
    assert other.status_code == 401

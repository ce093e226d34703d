"""Sign-up and password-reset limits: one address cannot open dozens of accounts or mail one
mailbox dozens of reset links, and the refusal says when to try again."""

import sqlalchemy as sa

from accounts.models import User
from core import jobs
from core.extensions import db
from tests.conftest import outbox_messages
from tests.factories import PASSWORD, make_user


def test_sign_ups_per_address_are_limited(make_app):
    app = make_app("sqlite", PEERLINE_SIGNUP_LIMIT="2 per hour")
    statuses = []
    for n in range(3):
        client = app.test_client()
        statuses.append(client.post("/signup", data={
            "email": f"person{n}@example.com", "username": f"person{n}", "password": PASSWORD,
            "confirm": PASSWORD}).status_code)
    assert statuses == [302, 302, 429]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 2


def test_a_refused_sign_up_does_not_count(make_app):
    app = make_app("sqlite", PEERLINE_SIGNUP_LIMIT="1 per hour")
    client = app.test_client()
    weak = client.post("/signup", data={"email": "a@example.com", "username": "abc", "password": "short",
                                        "confirm": "short"})
    assert weak.status_code == 400
    good = client.post("/signup", data={"email": "a@example.com", "username": "abc", "password": PASSWORD,
                                        "confirm": PASSWORD})
    assert good.status_code == 302


def test_reset_mail_to_one_mailbox_is_limited(make_app):
    app = make_app("sqlite", PEERLINE_RESET_EMAIL_LIMIT="2 per hour", PEERLINE_RESET_LIMIT="100 per hour")
    with app.app_context():
        make_user(username="ada")
    client = app.test_client()
    statuses = [client.post("/password/reset", data={"email": "ADA@example.com"}).status_code
                for _ in range(4)]
    assert statuses == [302, 302, 429, 429]
    refused = client.post("/password/reset", data={"email": "ada@example.com"})
    assert "Several reset links went to that address already. Try again in" in refused.text
    # The same limit for an address no account has: refusals say nothing about who is registered.
    assert [client.post("/password/reset", data={"email": "nobody@example.com"}).status_code
            for _ in range(3)] == [302, 302, 429]
    with app.app_context():
        jobs.wait_idle()
        assert len(outbox_messages(app)) == 2


def test_reset_requests_per_address_are_limited(make_app):
    app = make_app("sqlite", PEERLINE_RESET_LIMIT="3 per hour")
    client = app.test_client()
    statuses = [client.post("/password/reset", data={"email": f"p{n}@example.com"}).status_code
                for n in range(4)]
    assert statuses == [302, 302, 302, 429]


def test_taken_emails_count_so_nobody_can_probe_which_have_accounts(make_app):
    app = make_app("sqlite", PEERLINE_SIGNUP_LIMIT="2 per hour")
    with app.app_context():
        make_user(username="ada")
    client = app.test_client()
    statuses = [client.post("/signup", data={"email": "ada@example.com", "username": f"probe{n}",
                                             "password": PASSWORD, "confirm": PASSWORD}).status_code
                for n in range(3)]
    assert statuses == [409, 409, 429]


def test_a_mailbox_spelt_another_way_is_the_same_mailbox(make_app):
    app = make_app("sqlite", PEERLINE_RESET_EMAIL_LIMIT="2 per hour", PEERLINE_RESET_LIMIT="100 per hour")
    with app.app_context():
        make_user(username="ada")
    client = app.test_client()
    spellings = ["ada@example.com", "ADA@EXAMPLE.COM", "ada@examplｅ.com", " ada@example.com "]
    statuses = [client.post("/password/reset", data={"email": e}).status_code for e in spellings]
    assert statuses == [302, 302, 429, 429]

"""The settings area (Profile, Account, Notifications) and the e-mail change: asked with the current
password, confirmed by a signed, expiring link mailed to the new address, the old address told."""

import re

import pytest
import sqlalchemy as sa

from accounts.models import AuditEntry, PasswordResetToken, User
from core import clock, jobs
from core.extensions import db
from tests.conftest import outbox_messages
from tests.factories import make_user


def _user(user_id) -> User:
    return db.session.scalars(sa.select(User).where(User.id == user_id)
                              .execution_options(populate_existing=True)).one()


def _ask(client, new_email, password="correct horse battery staple"):
    return client.post("/settings/email", data={"email-new_email": new_email,
                                                "email-current_password": password})


LINK = r"http://peerline.test(/settings/email/confirm/\S+)"


def _confirm_link(app) -> str:
    jobs.wait_idle()
    bodies = [m.get_body(preferencelist=("plain",)).get_content() for m in outbox_messages(app)]
    [link] = [found for body in bodies for found in re.findall(LINK, body)]
    return link


@pytest.fixture
def password():
    from tests import factories
    return factories.PASSWORD


def test_the_settings_nav_leads_to_profile_account_and_notifications(app, client, auth):
    auth.as_role("member")
    assert client.get("/settings").location == "/settings/profile"
    for path in ("/settings/profile", "/settings/account", "/settings/notifications", "/settings/password"):
        page = client.get(path)
        assert page.status_code == 200, path
        nav = re.search(r'<nav class="tabs settings-nav" aria-label="Settings">(.*?)</nav>', page.text, re.S)
        assert nav, path
        assert re.findall(r'href="([^"]+)"', nav.group(1)) == [
            "/settings/profile", "/settings/account", "/settings/notifications"]
        assert 'aria-current="page"' in nav.group(1), path
    account = client.get("/settings/account").text
    assert 'action="/settings/email"' in account and 'action="/settings/password"' in account


def test_an_email_change_happens_when_the_link_is_opened(app, client, auth, password):
    person = auth.as_role("member")
    old = person.email
    response = _ask(client, "  New.Address@Example.COM ", password)
    assert response.status_code == 302 and response.location == "/settings/account"
    assert "We mailed a link to new.address@example.com" in client.get("/settings/account").text
    link = _confirm_link(app)
    [confirm] = outbox_messages(app)
    assert str(confirm["To"]) == "new.address@example.com"
    assert _user(person.id).email == old  # nothing changes until the link is opened

    # Opening the link asks first (a mail scanner that fetches it changes nothing); the button changes.
    page = client.get(link)
    assert page.status_code == 200 and "Use new.address@example.com" in page.text
    assert _user(person.id).email == old
    response = client.post(link)
    assert response.status_code == 302 and response.location == "/settings/account"
    assert _user(person.id).email == "new.address@example.com"
    assert "Your email address is now new.address@example.com." in client.get("/settings/account").text
    jobs.wait_idle()
    told = outbox_messages(app)[-1]
    assert str(told["To"]) == old and "new.address@example.com" in told.get_content()
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "email-change"))
    assert (entry.before, entry.after) == ({"email": old}, {"email": "new.address@example.com"})
    # Signing in with the new address works; the link works once.
    auth.sign_out()
    assert auth.sign_in("new.address@example.com").status_code == 302
    for again in (client.get(link), client.post(link)):
        assert again.status_code == 400 and "has expired, has been used" in again.text
    assert len(outbox_messages(app)) == 2


def test_a_wrong_password_a_bad_or_taken_address_are_refused_and_mail_nothing(app, client, auth):
    person = auth.as_role("member")
    other = make_user(email="taken@example.com")
    for address, password, message in (
        ("fresh@example.com", "not my password", "That is not your current password."),
        ("taken@example.com", None, "Another account uses that email address"),
        ("TAKEN@example.com", None, "Another account uses that email address"),
        (person.email, None, "That is your email address already."),
        ("not an address", None, "That email address is not valid"),
        ("<script>x</script>@example.com", None, "That email address is not valid"),
        ("", None, "Enter the new email address."),
    ):
        response = _ask(client, address, *(() if password is None else (password,)))
        assert response.status_code in (400, 409), address
        assert message in response.text, (address, response.text[-3000:])
        assert "<script>x" not in response.text
    jobs.wait_idle()
    assert outbox_messages(app) == []
    assert _user(person.id).email != "fresh@example.com" and _user(other.id).email == "taken@example.com"


def test_expired_tampered_and_overtaken_links_change_nothing(app, client, auth, password):
    person = auth.as_role("member")
    old = person.email
    _ask(client, "first@example.com", password)
    link = _confirm_link(app)
    for bad in (link[:-3] + "xyz", "/settings/email/confirm/garbage", link.replace("confirm/", "confirm/a")):
        response = client.get(bad)
        assert response.status_code == 400 and "not valid" in response.text
    with clock.moved(days=2):
        response = client.get(link)
        assert response.status_code == 400 and "has expired" in response.text
    assert _user(person.id).email == old
    # Someone else took the address meanwhile: refused with a clear message.
    make_user(email="first@example.com")
    response = client.post(link)
    assert response.status_code == 409 and "Another account uses that email address" in response.text
    assert _user(person.id).email == old
    jobs.wait_idle()
    assert len(outbox_messages(app)) == 1  # the confirmation only; the old address heard nothing


def test_the_link_works_without_being_signed_in(app, client, auth, password):
    person = auth.as_role("member")
    _ask(client, "elsewhere@example.com", password)
    link = _confirm_link(app)
    auth.sign_out()
    response = client.post(link)
    assert response.status_code == 302 and response.location.startswith("/signin")
    assert _user(person.id).email == "elsewhere@example.com"


def test_the_email_change_needs_sign_in(app, client):
    response = client.post("/settings/email", data={"email-new_email": "x@example.com",
                                                    "email-current_password": "whatever"})
    assert response.status_code == 302 and "/signin" in response.location
    assert client.get("/settings/account").status_code == 302


def test_an_old_link_is_dead_once_the_address_changed_again_even_back(app, client, auth, password):
    """A to B, then back to A: the A-to-B link, still in B's mailbox and not yet expired, must not
    move the account to B again."""
    person = auth.as_role("member")
    first = person.email
    _ask(client, "b@example.com", password)
    to_b = _confirm_link(app)
    assert client.post(to_b).status_code == 302
    _ask(client, first, password)
    jobs.wait_idle()
    bodies = [m.get_body(preferencelist=("plain",)).get_content() for m in outbox_messages(app)]
    links = [found for body in bodies for found in re.findall(LINK, body)]
    [back] = [link for link in links if link != to_b]
    with clock.moved(seconds=2):
        assert client.post(back).status_code == 302
        assert _user(person.id).email == first
        for replay in (client.get(to_b), client.post(to_b)):
            assert replay.status_code == 400 and "has expired, has been used" in replay.text
    assert _user(person.id).email == first


def test_a_wrong_password_does_not_tell_whether_an_address_is_taken(app, client, auth):
    auth.as_role("member")
    make_user(email="taken@example.com")
    response = _ask(client, "taken@example.com", "not my password")
    assert response.status_code == 400 and "That is not your current password." in response.text
    assert "Another account uses" not in response.text


def test_changing_the_address_ends_reset_links_sent_to_the_old_one(app, client, auth, password):
    person = auth.as_role("member")
    db.session.add(PasswordResetToken(user_id=person.id, nonce="n" * 32))
    db.session.commit()
    _ask(client, "moved@example.com", password)
    assert client.post(_confirm_link(app)).status_code == 302
    assert db.session.scalar(sa.select(PasswordResetToken.used_at).where(
        PasswordResetToken.user_id == person.id)) is not None

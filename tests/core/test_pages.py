"""The base layout and error pages: landmarks, labels, navigation per role, friendly errors."""

import html5lib
import pytest

from accounts.permissions import public


def parse(page: str):
    return html5lib.parse(page, namespaceHTMLElements=False)


@pytest.mark.parametrize("path", ["/", "/signup", "/signin", "/password/reset"])
def test_pages_have_landmarks_and_every_field_has_a_label(client, path):
    tree = parse(client.get(path).text)
    assert tree.find(".//main[@id='main']") is not None
    assert tree.find(".//header") is not None and tree.find(".//footer") is not None
    assert tree.find(".//a[@class='skip-link']").get("href") == "#main"
    labels = {label.get("for") for label in tree.iter("label")}
    for field in (el for el in tree.iter() if el.tag in {"input", "select", "textarea"}):
        if field.get("type") in {"hidden", "submit"}:
            continue
        assert field.get("id") in labels, f"{path}: field {field.get('name')} has no label"
    assert tree.get("lang") == "en"  # the root element is <html>


def nav_links(client) -> set[str]:
    """The links of the header's navigations: the main one, and the staff and account menus."""
    tree = parse(client.get("/").text)
    return {a.text.strip() for a in tree.findall(".//header//nav//a")}


@pytest.mark.parametrize(
    ("role", "expected", "absent"),
    [
        (None, {"Questions"}, {"Users", "Mail outbox", "Your profile"}),
        ("member", {"Questions", "Your profile", "Settings"}, {"Users", "Mail outbox", "Review"}),
        ("staff", {"Questions", "Mail outbox", "Review", "Queues"}, {"Users", "Moderation settings"}),
        ("admin", {"Questions", "Mail outbox", "Users", "Moderation settings"}, set()),
    ],
)
def test_navigation_matches_the_kind_of_user(client, auth, role, expected, absent):
    if role:
        auth.as_role(role)
    links = nav_links(client)
    assert expected <= links
    assert not (absent & links)


def test_forbidden_page_is_friendly(client, auth):
    auth.as_role("member")
    response = client.get("/admin/users")
    assert response.status_code == 403
    assert "You do not have permission" in response.text


def test_wrong_method_is_405_with_a_page(client):
    response = client.get("/signout")
    assert response.status_code == 405
    assert "does not accept this kind of request" in response.text


def test_a_crash_shows_a_friendly_500_without_details(make_app):
    app = make_app("sqlite")
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.route("/boom")
    @public
    def boom():
        raise RuntimeError("secret internals")

    response = app.test_client().get("/boom")
    assert response.status_code == 500
    assert "Something went wrong" in response.text
    assert "secret internals" not in response.text and "Traceback" not in response.text


def test_flash_messages_are_announced(client, auth):
    auth.as_role("member")
    response = client.post("/signout", follow_redirects=True)
    tree = parse(response.text)
    flashes = tree.find(".//div[@class='flashes']")
    assert flashes.get("role") == "status"
    assert "You are signed out." in "".join(flashes.itertext())


@pytest.mark.parametrize("backend_name", ["sqlite", "postgresql"])
def test_a_failure_inside_a_commit_still_gets_the_friendly_error_page(make_app, backend_name):
    """A failure in the middle of a commit leaves the session 'committed', where every query raises:
    the error page must not need it (it once failed too, with Flask's bare 500 instead)."""
    import sqlalchemy as sa
    from flask_login import current_user

    from core.extensions import db
    from tests.factories import PASSWORD, make_user

    app = make_app(backend_name, PROPAGATE_EXCEPTIONS=False)

    @app.route("/test/fails-while-committing", methods=["POST"])
    @public
    def fails_while_committing():
        def fail(_session):
            raise RuntimeError("a follow-up of the commit failed")

        sa.event.listen(db.session(), "after_commit", fail, once=True)
        current_user.bio = "Saved before the failure"
        db.session.commit()
        return "unreachable"

    with app.app_context():
        name = make_user(display_name="Ada Lovelace").username
    client = app.test_client()
    assert client.post("/signin", data={"login": name, "password": PASSWORD}).status_code == 302
    response = client.post("/test/fails-while-committing")
    assert response.status_code == 500
    assert "Something went wrong" in response.text
    assert "Ada Lovelace" in response.text  # the header still knows who is signed in
    with app.app_context():
        from accounts.models import User

        saved = db.session.scalar(sa.select(User.bio).where(User.username == name))
        assert saved == "Saved before the failure"

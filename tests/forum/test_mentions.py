"""@mentions: "@name" links to the person's profile and tells them once per post, by their choice of
delivery; never for someone who does not exist, the author, a name in code, a post others cannot
see, or a mass ping."""

import pytest
import sqlalchemy as sa

from core import jobs
from core.errors import Invalid
from core.extensions import db
from forum import services, states
from forum.models import Notification, NotificationPreference, Post
from tests.conftest import outbox_messages
from tests.factories import make_thread, make_user


def _mentions(user) -> list[Notification]:
    return list(db.session.scalars(sa.select(Notification).where(
        Notification.user_id == user.id, Notification.kind == "mention")
        .order_by(Notification.id).execution_options(populate_existing=True)))


def test_a_mention_links_the_profile_and_tells_the_person_once(app, client):
    alice = make_user(username="alice", display_name="Alice")
    bob = make_user(username="bob_writer", display_name="Bob")
    thread = make_thread()
    post = services.create_post(bob, thread, "Thanks @Alice, and @nobody_here; `@alice` in code. @bob_writer")
    jobs.wait_idle()
    assert '<a class="mention" href="/u/alice" rel="nofollow ugc noopener">@alice</a>' in post.body_html
    assert "@nobody_here" in post.body_html and 'href="/u/nobody_here"' not in post.body_html
    [notice] = _mentions(alice)
    assert (notice.thread_id, notice.post_id) == (thread.id, post.id)
    assert _mentions(bob) == []  # not the author
    mails = [m for m in outbox_messages(app) if "alice@" in str(m["To"])]
    assert len(mails) == 1 and "Bob mentioned you" in str(mails[0]["Subject"])
    page = client.get(f"/t/{thread.id}").text
    assert 'href="/u/alice"' in page

    # An edit that adds a name tells only the new one; alice hears nothing twice.
    carol = make_user(username="carol")
    services.edit_post(bob, post, post.body + " Also @carol.")
    jobs.wait_idle()
    assert len(_mentions(alice)) == 1 and len(_mentions(carol)) == 1


def test_more_than_ten_people_is_refused_and_nothing_is_stored(app):
    people = [make_user(username=f"person{n}") for n in range(11)]
    thread = make_thread()
    before = db.session.scalar(sa.select(sa.func.count()).select_from(Post))
    with pytest.raises(Invalid, match="Mention at most 10 people in one post"):
        services.create_post(make_user(), thread, " ".join(f"@{p.username}" for p in people))
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Post)) == before
    jobs.wait_idle()
    assert all(_mentions(p) == [] for p in people)


def test_the_ask_route_refuses_a_mass_ping_with_400(app, client, auth):
    for n in range(11):
        make_user(username=f"fan{n}")
    auth.as_role("member")
    from tests.factories import make_category
    category = make_category()
    response = client.post("/ask", data={
        "title": "Who else sees the export failing today?", "category_id": str(category.id),
        "body": "Pinging everyone: " + " ".join(f"@fan{n}" for n in range(11))})
    assert response.status_code == 400 and "Mention at most 10 people" in response.text


def test_nobody_hears_of_a_post_others_cannot_see_until_it_is_shown(app):
    staff = make_user("staff")
    alice = make_user(username="alice")
    answer = services.create_post(make_user(), make_thread(), "@alice look at this one")
    states.hide_post(staff, answer, "Off topic")  # before the notice job runs
    jobs.wait_idle()
    assert _mentions(alice) == []
    states.unhide_post(staff, answer)
    jobs.wait_idle()
    assert len(_mentions(alice)) == 1


def test_a_person_who_turned_mentions_off_is_not_told(app):
    alice = make_user(username="alice")
    db.session.add(NotificationPreference(user_id=alice.id, kind="mention", delivery="none"))
    db.session.commit()
    services.create_post(make_user(), make_thread(), "@alice what do you think?")
    jobs.wait_idle()
    assert _mentions(alice) == []


def _people(client, q):
    response = client.get("/people/suggest", query_string={"q": q})
    assert response.status_code == 200 and response.headers["Cache-Control"].startswith("private")
    return [p["username"] for p in response.get_json()["people"]]


def test_the_picker_offers_people_whose_names_start_so(app, client, auth):
    for name in ("alice", "alicia_k", "ali", "bob", "xalice"):
        make_user(username=name)
    gone = make_user(username="alina")
    gone.is_active_account = False
    db.session.commit()
    assert client.get("/people/suggest?q=al").status_code == 302  # signed-in people only
    auth.as_role("member")
    assert _people(client, "al") == ["ali", "alice", "alicia_k"]
    assert _people(client, "ALIC") == ["alice", "alicia_k"]
    for ugly in ("", "%", "_", "a%", "<script>", "x" * 10_000, "al ice", "@al"):
        assert _people(client, ugly) == [], ugly


def test_the_demo_community_has_a_thread_with_a_mention(app, runner):
    assert runner.invoke(args=["demo", "load"]).exit_code == 0
    linked = db.session.scalar(sa.select(sa.func.count()).select_from(Post).where(
        Post.body_html.contains('class="mention" href="/u/ledgerlou"')))
    assert linked == 1


def test_the_writer_is_told_when_a_mentioned_name_matches_nobody(app, client, auth):
    make_user(username="alice")
    writer = make_user(username="wren")
    thread = make_thread()
    auth.sign_in(writer.username)
    response = client.post(f"/t/{thread.id}/reply", data={
        "body": "Ask @alice or @alise, not `@decorator` in code, nor me at wren@example.com."},
        follow_redirects=True)
    assert response.status_code == 200
    assert "Nobody here is called @alise, so nobody was notified for that name." in response.text
    assert "@decorator" not in response.text.split("Nobody here")[1].split("</p>")[0]
    assert "@alice," not in response.text  # she exists: no warning about her
    quiet = client.post(f"/t/{thread.id}/reply", data={"body": "Thanks @alice, that worked for me too."},
                        follow_redirects=True)
    assert "Nobody here is called" not in quiet.text
    assert services.unknown_mentions("@ghost1 @ghost2 @alice") == ["ghost1", "ghost2"]

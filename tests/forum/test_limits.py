"""Posting and voting limits per account: a flood is refused with "try again in N minutes", the text
already typed stays on the form, refused attempts save nothing, and staff are not limited."""

import sqlalchemy as sa

from core.extensions import db
from forum.models import Post, Thread
from tests.factories import PASSWORD, make_answer, make_category, make_thread, make_user


def _signed_in(app, role="member"):
    with app.app_context():
        user = make_user(role)
        name = user.username
    client = app.test_client()
    assert client.post("/signin", data={"login": name, "password": PASSWORD}).status_code == 302
    return client


def _count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_questions_per_account_are_limited(make_app):
    app = make_app("sqlite", PEERLINE_QUESTION_LIMIT="2 per hour")
    with app.app_context():
        category_id = make_category().id
    client = _signed_in(app)

    def ask(n):
        return client.post("/ask", data={"category_id": category_id, "title": f"Export number {n} fails",
                                         "body": f"The export {n} stops at 99% every time."})

    assert [ask(1).status_code, ask(2).status_code] == [302, 302]
    refused = ask(3)
    assert refused.status_code == 429
    assert "Try again in 60 minutes" in refused.text or "Try again in 59 minutes" in refused.text
    assert "The export 3 stops at 99% every time." in refused.text  # nothing typed is lost
    assert int(refused.headers["Retry-After"]) > 3000
    assert _count(app, Thread) == 2


def test_an_invalid_question_does_not_count_against_the_limit(make_app):
    app = make_app("sqlite", PEERLINE_QUESTION_LIMIT="1 per hour")
    with app.app_context():
        category_id = make_category().id
    client = _signed_in(app)
    empty = client.post("/ask", data={"category_id": category_id, "title": "A title only", "body": "  "})
    assert empty.status_code == 400
    good = client.post("/ask", data={"category_id": category_id, "title": "Export fails at 99%",
                                     "body": "It stops at 99% every time I try it."})
    assert good.status_code == 302


def test_replies_per_account_are_limited_but_not_for_staff(make_app):
    app = make_app("sqlite", PEERLINE_REPLY_LIMIT="3 per minute")
    with app.app_context():
        thread_id = make_thread(title="Many answers").id
    member, staff = _signed_in(app), _signed_in(app, "staff")
    statuses = [member.post(f"/t/{thread_id}/reply", data={"body": f"Answer {n}"}).status_code
                for n in range(5)]
    assert statuses == [302, 302, 302, 429, 429]
    refused = member.post(f"/t/{thread_id}/reply", data={"body": "My fourth answer, kept"})
    assert "Try again in 1 minute" in refused.text and "My fourth answer, kept" in refused.text
    assert all(staff.post(f"/t/{thread_id}/reply", data={"body": f"Staff {n}"}).status_code == 302
               for n in range(5))
    assert _count(app, Post) == 1 + 3 + 5


def test_votes_per_account_are_limited(make_app):
    app = make_app("sqlite", PEERLINE_VOTE_LIMIT="2 per minute")
    with app.app_context():
        thread = make_thread(title="Votes")
        ids = [make_answer(thread, body=f"Answer {n}").id for n in range(3)]
    client = _signed_in(app)
    statuses = [client.post(f"/posts/{post_id}/vote", data={"value": "up"}).status_code for post_id in ids]
    assert statuses == [302, 302, 429]
    with app.app_context():
        assert sorted(db.session.scalars(sa.select(Post.score).where(Post.id.in_(ids)))) == [0, 1, 1]

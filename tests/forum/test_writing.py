"""Writing: the Markdown preview, edit summaries in the history, and staff accepting for the asker."""

import re

import pytest
import sqlalchemy as sa

from core.errors import Invalid
from core.extensions import db
from forum import services
from forum.models import Post, PostRevision, Thread
from tests.factories import PASSWORD, make_answer, make_article, make_thread, make_user

RISKY = ("**Bold** words\n\n```\nprint('hi')\n```\n\n<script>alert('x')</script>\n\n"
         "[click me](javascript:alert(1)) <a href=\"javascript:alert(2)\" onclick=\"steal()\">link</a>\n\n"
         "<img src=x onerror=alert(3)>")


def preview(client, body):
    return client.post("/preview", data={"body": body})


def test_the_preview_is_the_saved_post_exactly(client, auth):
    thread = make_thread()
    auth.as_role("member")
    shown = preview(client, RISKY)
    assert shown.status_code == 200
    html = shown.json["html"]
    assert "<strong>Bold</strong>" in html and "<pre>" in html and "print" in html
    assert "<script" not in html and "javascript:" not in html
    assert "onerror" not in html and "onclick" not in html and "alert('x')" not in html
    assert client.post(f"/t/{thread.id}/reply", data={"body": RISKY}).status_code == 302
    saved = db.session.scalar(sa.select(Post).where(Post.thread_id == thread.id, Post.kind == "answer"))
    assert saved.body_html == html, "the preview is rendered and sanitised as the saved post is"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Post)) == 2  # previews save nothing


def test_bad_previews_say_what_is_wrong(client, auth):
    auth.as_role("member")
    for blank in ("", "   ", "\u200b\ufeff\n"):
        empty = preview(client, blank)
        assert empty.status_code == 400 and "Nothing to preview yet" in empty.json["error"]
    long = preview(client, "a" * 60_000)
    assert long.status_code == 413
    assert long.json["error"] == ("This text is too long to preview or post: at most 50,000 characters "
                                  "(it has 60,000).")
    zalgo = preview(client, "Z" + "\u0301" * 40)
    assert zalgo.status_code == 400 and "more than 6 accents" in zalgo.json["error"]


def test_previews_need_a_signed_in_person(client):
    response = preview(client, "**hello**")
    assert response.status_code == 302 and "/signin" in response.headers["Location"]
    assert client.get("/preview").status_code == 405


def test_previews_need_the_csrf_token(make_app):
    app = make_app("sqlite", WTF_CSRF_ENABLED=True)
    with app.app_context():
        thread_id, username = make_thread().id, make_user().username
    client = app.test_client()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', client.get("/signin").text).group(1)
    client.post("/signin", data={"login": username, "password": PASSWORD, "csrf_token": token})
    page = client.get(f"/t/{thread_id}").text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    assert preview(client, "**hi**").status_code == 400
    ok = client.post("/preview", data={"body": "**hi**", "csrf_token": token})
    assert ok.status_code == 200 and ok.json["html"] == "<p><strong>hi</strong></p>"


def test_previews_are_rate_limited(make_app):
    app = make_app("sqlite", PEERLINE_PREVIEW_LIMIT="2 per minute")
    with app.app_context():
        username = make_user().username
    client = app.test_client()
    client.post("/signin", data={"login": username, "password": PASSWORD})
    assert preview(client, "").status_code == 400  # a refused preview is not counted
    assert [preview(client, f"Text {n}").status_code for n in range(3)] == [200, 200, 429]
    refused = preview(client, "Text again")
    assert "Try again in 1 minute" in refused.json["error"] and refused.headers["Retry-After"]


def test_every_markdown_box_has_the_preview_tabs(client, auth):
    thread = make_thread()
    staff = auth.as_role("staff")
    mine = make_answer(thread, staff, "My answer")
    article = make_article(staff)
    for url in ("/ask", f"/t/{thread.id}", f"/posts/{mine.id}/edit", f"/kb/{article.slug}/edit", "/kb/new"):
        page = client.get(url)
        assert page.status_code == 200, url
        assert 'data-preview-for="body"' in page.text and 'data-preview-url="/preview"' in page.text, url
        assert "js/preview.js" in page.text, url


def test_an_edit_keeps_its_summary_in_the_history(client, auth):
    author = auth.as_role("member")
    thread = make_thread(author)
    answer = make_answer(thread, author, "Use the [guide](http://example.com/old).")
    response = client.post(f"/posts/{answer.id}/edit", data={
        "body": "Use the [guide](https://example.com/new).",
        "summary": "  Fixed the <b>link</b> to the guide  "})
    assert response.status_code == 302
    revisions = db.session.scalars(sa.select(PostRevision).where(PostRevision.post_id == answer.id)
                                   .order_by(PostRevision.number)).all()
    assert [(r.number, r.summary) for r in revisions] == [(1, ""), (2, "Fixed the <b>link</b> to the guide")]
    history = client.get(f"/posts/{answer.id}/revisions").text
    assert "What changed:</strong> Fixed the &lt;b&gt;link&lt;/b&gt; to the guide" in history
    assert "<b>link</b>" not in history
    assert history.count("What changed:") == 1  # the first version has none


def test_a_question_edit_without_a_summary_is_fine(client, auth):
    author = auth.as_role("member")
    thread = make_thread(author, title="Exports fail at midnight")
    question = db.session.scalar(sa.select(Post).where(Post.thread_id == thread.id))
    response = client.post(f"/posts/{question.id}/edit", data={
        "title": "Exports fail at midnight UTC", "body": "Every night.", "tags": ""})
    assert response.status_code == 302
    assert db.session.scalar(sa.select(PostRevision.summary).where(
        PostRevision.post_id == question.id, PostRevision.number == 2)) == ""


def test_bad_summaries_and_other_peoples_posts_change_nothing(client, auth):
    author = make_user()
    answer = make_answer(make_thread(), author, "The original text.")
    auth.as_role("member")
    other = client.post(f"/posts/{answer.id}/edit", data={"body": "Vandalised.", "summary": "mine now"})
    assert other.status_code == 403
    auth.sign_out()
    auth.sign_in(author.username)
    page = client.get(f"/posts/{answer.id}/edit").text
    assert "What did you change? (optional)" in page and "Up to 200 characters" in page
    too_long = client.post(f"/posts/{answer.id}/edit", data={"body": "The new text.", "summary": "s" * 201})
    assert too_long.status_code == 400
    assert "Say what you changed in at most 200 characters (this has 201)." in too_long.text
    assert "The new text." in too_long.text, "what was typed is still in the form"
    db.session.expire_all()
    assert db.session.get(Post, answer.id).body == "The original text."
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PostRevision).where(
        PostRevision.post_id == answer.id)) == 1
    exactly = client.post(f"/posts/{answer.id}/edit", data={"body": "The new text.", "summary": "s" * 200})
    assert exactly.status_code == 302


def test_summaries_are_checked_by_the_service(app):
    author = make_user()
    answer = make_answer(make_thread(), author, "Text.")
    with pytest.raises(Invalid) as refused:
        services.edit_post(author, answer, "Other text.", summary="x" * 201)
    assert refused.value.field == "summary"


def test_staff_accept_for_the_asker_and_the_thread_says_who(client, auth):
    asker = make_user(display_name="Ada Asker")
    thread = make_thread(asker)
    answer = make_answer(thread, body="Reinstall the driver.")
    auth.sign_in(asker.username)
    own = client.get(f"/t/{thread.id}").text  # the asker's page first: the post's fragment is cached
    assert "Accept this answer" in own and "Accept for the asker" not in own
    auth.sign_out()
    staff = make_user("staff", display_name="Dana Staff")
    auth.sign_in(staff.username)
    page = client.get(f"/t/{thread.id}").text
    assert "Accept this answer<" not in page
    assert 'aria-label="Accept for the asker, Ada Asker"' in page and ">Accept for the asker</button>" in page
    assert 'title="Accept this answer on behalf of Ada Asker, who asked the question"' in page
    accepted = client.post(f"/posts/{answer.id}/accept", follow_redirects=True)
    assert "Accepted for the asker." in accepted.text
    assert "Accepted by Dana Staff (staff) for the asker." in accepted.text
    assert db.session.get(Thread, thread.id).accepted_by_id == staff.id
    anonymous = client.application.test_client()
    assert "Accepted by Dana Staff (staff) for the asker." in anonymous.get(f"/t/{thread.id}").text


def test_an_askers_own_acceptance_says_nothing_more(client, auth):
    asker = make_user()
    thread = make_thread(asker)
    answer = make_answer(thread)
    auth.sign_in(asker.username)
    page = client.post(f"/posts/{answer.id}/accept", follow_redirects=True).text
    assert "Accepted. The thread is marked solved." in page and "Accepted by" not in page

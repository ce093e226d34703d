"""Profiles list a person's questions and answers, newest first, paged, of what the viewer may see,
each page in one query whatever it holds."""

import re

import sqlalchemy as sa

from accounts.models import STAFF
from core import clock
from core.extensions import db
from forum import queries, states
from tests.factories import make_answer, make_thread, make_user


def _titles(page: str) -> list[str]:
    listing = re.search(r'<ol class="profile-post-list">(.*?)</ol>', page, re.S).group(1)
    return re.findall(r'<a href="/t/\d+(?:#post-\d+)?">([^<]+)</a>', listing)


def test_questions_and_answers_newest_first_with_links(app, client):
    person = make_user(username="pat")
    asked = []
    for n in range(3):
        asked.append(make_thread(person, title=f"Question number {n}"))
        clock.advance(minutes=1)
    elsewhere = make_thread(title="Someone else's <b>question</b>")
    answer = make_answer(elsewhere, person)
    page = client.get("/u/pat").text
    assert _titles(page) == ["Question number 2", "Question number 1", "Question number 0"]
    assert f'href="/t/{asked[2].id}">Question number 2</a>' in page
    answers = client.get("/u/pat?tab=answers").text
    assert _titles(answers) == ["Someone else&#39;s &lt;b&gt;question&lt;/b&gt;"]
    assert f'href="/t/{elsewhere.id}#post-{answer.id}"' in answers
    assert 'href="/u/pat?tab=answers#posts" aria-current="page"' in answers
    assert _titles(client.get("/u/pat?tab=nonsense&page=-4").text)[0] == "Question number 2"


def test_only_what_the_viewer_may_see(app, client, auth):
    person = make_user(username="pat")
    shown = make_thread(person, title="Shown question")
    hidden = make_thread(person, title="Hidden question")
    staff = make_user(STAFF)
    states.hide_post(staff, _question(hidden), "spam")
    assert _titles(client.get("/u/pat").text) == ["Shown question"]
    auth.sign_in(staff.username)
    page = client.get("/u/pat").text
    assert _titles(page) == ["Hidden question", "Shown question"] and "Hidden</span>" in page
    assert shown.id


def _question(thread):
    from forum.models import QUESTION, Post
    return db.session.scalar(sa.select(Post).where(Post.thread_id == thread.id, Post.kind == QUESTION))


def test_pages_of_twenty_in_one_query_each(app, client):
    person = make_user(username="pat")
    for n in range(25):
        make_thread(person, title=f"Paged question {n:02d}")
        clock.advance(seconds=1)
    db.session.commit()
    statements = []

    def record(_conn, _cursor, statement, *_args):
        statements.append(statement)

    for page_number, expected in ((1, 20), (2, 5)):
        sa.event.listen(db.engine, "before_cursor_execute", record)
        try:
            page = queries.profile_posts(person, None, "questions", page=page_number)
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", record)
        assert (len(page.items), page.total, page.pages) == (expected, 25, 2)
        assert len([s for s in statements if "FROM threads" in s]) == 1, statements
        assert not [s for s in statements if "FROM posts" in s or "FROM notifications" in s]
        statements.clear()
    second = client.get("/u/pat?tab=questions&page=2").text
    assert _titles(second)[0] == "Paged question 04" and "Page 2 of 2" in second

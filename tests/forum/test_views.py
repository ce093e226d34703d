"""Forum pages as people meet them: status codes and messages for good and bad input."""

import re

import pytest
import sqlalchemy as sa

from core.extensions import db
from forum import categories, services, states
from forum.models import Category, Post, Tag, Thread
from tests.factories import make_answer, make_category, make_thread, make_user

ZALGO = "Z" + "\u0301\u0302\u0303\u0308" * 48  # one letter under 192 combining marks


def ask(client, **fields):
    data = {"title": "Invoice PDF shows the wrong logo", "body": "Since yesterday the PDF shows an old logo.",
            "category_id": str(make_category("Billing").id), "tags": ""}
    data.update(fields)
    return client.post("/ask", data=data)


def test_asking_needs_an_account(client):
    """Visitors see the title box and its suggestions, and sign in to write and post."""
    page = client.get("/ask")
    assert page.status_code == 200
    assert "Sign in to post your question" in page.text and 'name="body"' not in page.text
    response = ask(client)
    assert response.status_code == 302 and "/signin" in response.headers["Location"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Thread)) == 0


def test_asking_shows_the_new_thread(client, auth):
    auth.as_role("member")
    response = ask(client)
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).text
    assert "Invoice PDF shows the wrong logo" in page and "Since yesterday" in page


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"title": ""}, "Write a title"),
        ({"title": "t" * 201}, "A title has at most 200 characters"),
        ({"body": "   "}, "the text is empty"),
        ({"body": "b" * 50_001}, "A post has at most 50,000 characters"),
        ({"title": "\u200b\u200c\u200d\u2060\ufeff"}, "Write a title"),
        ({"title": ZALGO}, "A title has a letter with more than 6 accents"),
        ({"category_id": "424242"}, "Choose one of the categories"),
        ({"category_id": "not-a-number"}, "Choose one of the categories"),
        ({"tags": "no-such-tag"}, "Unknown tag: “no-such-tag”"),
        ({"urgent": "y", "urgent_reason": ""}, "why this is urgent"),
    ],
)
def test_bad_questions_answer_400_and_keep_what_was_typed(client, auth, fields, message):
    auth.as_role("member")
    response = ask(client, **fields)
    assert response.status_code == 400
    assert message in response.text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Thread)) == 0
    if fields.get("body", "x").strip():
        assert "Since yesterday" in response.text or "b" * 100 in response.text


def test_huge_form_bodies_are_refused_cheaply(client, auth):
    auth.as_role("member")
    response = ask(client, body="x" * 3_000_000)
    assert response.status_code == 413


def test_answering_and_its_errors(client, auth):
    thread = make_thread()
    auth.as_role("member")
    for blank in ("  ", "\u200b\u2062\ufeff", "\u200b\n\u3164"):
        empty = client.post(f"/t/{thread.id}/reply", data={"body": blank})
        assert empty.status_code == 400 and "the text is empty" in empty.text
    zalgo = client.post(f"/t/{thread.id}/reply", data={"body": f"Try {ZALGO}"})
    assert zalgo.status_code == 400 and "A post has a letter with more than 6 accents" in zalgo.text
    posted = client.post(f"/t/{thread.id}/reply", data={"body": "Check **Settings › Branding**."})
    assert posted.status_code == 302
    assert "<strong>Settings › Branding</strong>" in client.get(f"/t/{thread.id}").text
    assert client.post("/t/999999/reply", data={"body": "Hello"}).status_code == 404


def test_posting_into_a_locked_thread_is_403(client, auth):
    thread = make_thread()
    states.set_locked(make_user("staff"), thread, True)
    auth.as_role("member")
    response = client.post(f"/t/{thread.id}/reply", data={"body": "Let me in"})
    assert response.status_code == 403
    assert "locked" in response.text
    assert "takes no new answers" in client.get(f"/t/{thread.id}").text


def test_deleted_threads_are_gone_for_members_but_kept_for_staff(client, auth):
    thread = make_thread(title="A deleted question")
    states.delete_thread(make_user("staff"), thread)
    auth.as_role("member")
    assert client.get(f"/t/{thread.id}").status_code == 404
    assert client.post(f"/t/{thread.id}/reply", data={"body": "Hi"}).status_code == 404
    assert "A deleted question" not in client.get("/").text
    auth.sign_out()
    auth.as_role("staff")
    page = client.get(f"/t/{thread.id}")
    assert page.status_code == 200 and "only staff see it" in page.text


def test_accepting_in_someone_elses_thread_is_403(client, auth):
    thread = make_thread()
    answer = make_answer(thread)
    auth.as_role("member")
    response = client.post(f"/posts/{answer.id}/accept")
    assert response.status_code == 403
    assert "Only the person who asked" in response.text
    db.session.refresh(thread)
    assert not thread.is_solved


def test_the_asker_accepts_and_the_thread_shows_solved_everywhere(client, auth):
    asker = auth.as_role("member")
    thread = make_thread(asker, title="Bank feed shows duplicates")
    answer = make_answer(thread)
    assert client.post(f"/posts/{answer.id}/accept").status_code == 302
    page = client.get(f"/t/{thread.id}").text
    assert "Accepted answer" in page and "badge-solved" in page
    assert "Bank feed shows duplicates" in client.get("/threads/solved").text
    assert "Bank feed shows duplicates" not in client.get("/threads/unsolved").text
    assert client.post(f"/t/{thread.id}/unaccept").status_code == 302
    assert "Bank feed shows duplicates" in client.get("/threads/unsolved").text


def test_voting_twice_is_409_and_on_your_own_post_403(client, auth):
    voter = auth.as_role("member")
    answer = make_answer(make_thread())
    assert client.post(f"/posts/{answer.id}/vote", data={"value": "up"}).status_code == 302
    again = client.post(f"/posts/{answer.id}/vote", data={"value": "up"})
    assert again.status_code == 409 and "already up-voted" in again.text
    own = make_answer(make_thread(), voter)
    assert client.post(f"/posts/{own.id}/vote", data={"value": "up"}).status_code == 403
    assert client.post(f"/posts/{answer.id}/vote", data={"value": "sideways"}).status_code == 400
    db.session.refresh(answer)
    assert answer.score == 1


def test_editing_someone_elses_post_is_403_and_keeps_it(client, auth):
    answer = make_answer(make_thread(), body="Original text")
    auth.as_role("member")
    assert client.get(f"/posts/{answer.id}/edit").status_code == 403
    assert client.post(f"/posts/{answer.id}/edit", data={"body": "Vandalised"}).status_code == 403
    db.session.refresh(answer)
    assert answer.body == "Original text"


def test_a_locked_thread_offers_authors_no_edit_and_refuses_it_with_a_message(client, auth):
    author = auth.as_role("member")
    thread = make_thread(author, title="Frozen question")
    question = db.session.scalar(sa.select(Post).where(Post.thread_id == thread.id))
    edit_link = f'href="/posts/{question.id}/edit"'
    assert edit_link in client.get(f"/t/{thread.id}").text
    states.set_locked(make_user("staff"), thread, True)
    assert edit_link not in client.get(f"/t/{thread.id}").text
    for response in (client.get(f"/posts/{question.id}/edit"),
                     client.post(f"/posts/{question.id}/edit",
                                 data={"title": "Rewritten", "body": "Rewritten", "tags": ""})):
        assert response.status_code == 403
        assert "This thread is locked: its posts can no longer be edited." in response.text
    db.session.refresh(thread)
    assert thread.title == "Frozen question"
    auth.sign_out()
    auth.as_role("staff")
    assert edit_link in client.get(f"/t/{thread.id}").text
    assert client.get(f"/posts/{question.id}/edit").status_code == 200


def test_editing_your_question_and_reading_its_history(client, auth):
    asker = auth.as_role("member")
    thread = make_thread(asker, title="Old title", body="Old body")
    question = db.session.scalar(sa.select(Post).where(Post.thread_id == thread.id))
    response = client.post(f"/posts/{question.id}/edit",
                           data={"title": "New title", "body": "New body", "tags": ""})
    assert response.status_code == 302
    history = client.get(f"/posts/{question.id}/revisions").text
    assert "Version 2" in history and "Old body" in history and "New body" in history
    bad = client.post(f"/posts/{question.id}/edit", data={"title": "", "body": "x", "tags": ""})
    assert bad.status_code == 400 and "Write a title" in bad.text


def test_wrong_ids_are_404(client, auth):
    auth.as_role("member")
    for path in ["/t/999999", "/posts/999999/edit", "/posts/999999/revisions", "/c/no-such-category",
                 "/tags/no-such-tag"]:
        assert client.get(path).status_code == 404, path
    for path in ["/posts/999999/accept", "/posts/999999/vote", "/posts/999999/delete"]:
        assert client.post(path, data={"value": "up"}).status_code == 404, path


def test_lists_show_counts_and_paginate(client):
    category = make_category("Apps")
    asker = make_user()
    for n in range(32):
        make_thread(asker, category=category, title=f"Question number {n:02d}")
    first = client.get("/c/apps").text
    assert "Question number 31" in first and "Question number 01" not in first
    assert "Page 1 of 2" in first
    second = client.get("/c/apps?page=2").text
    assert "Question number 01" in second
    assert client.get("/c/apps?page=99999999999999999999").status_code == 200


def test_tag_and_my_questions_lists(client, auth):
    asker = auth.as_role("member")
    db.session.add(Tag(name="vat"))
    db.session.commit()
    make_thread(asker, title="VAT rounding is off", tags=["vat"])
    make_thread(title="Someone else's question")
    assert "VAT rounding is off" in client.get("/tags/vat").text
    mine = client.get("/my/questions").text
    assert "VAT rounding is off" in mine and "Someone else" not in mine


def test_ask_suggestions_are_json(client):
    asker = make_user()
    thread = make_thread(asker, title="Recurring invoice skipped a month")
    services.accept_answer(asker, make_answer(thread))
    data = client.get("/ask/suggestions?title=recurring%20invoice%20missing").get_json()
    assert data["results"][0]["title"] == "Recurring invoice skipped a month"
    assert data["results"][0]["url"] == f"/t/{thread.id}"
    assert client.get("/ask/suggestions?title=" + "x" * 10_000).get_json() == {"results": []}


def test_long_threads_paginate_their_answers(client):
    thread = make_thread()
    for n in range(25):
        make_answer(thread, body=f"Answer body {n:02d}")
    first = client.get(f"/t/{thread.id}").text
    assert "Answer body 00" in first and "Answer body 20" not in first
    assert "Answer body 24" in client.get(f"/t/{thread.id}?page=2").text


HUGE_PAGE = "99999999999999999999"


@pytest.mark.parametrize("page", [HUGE_PAGE, "-" + HUGE_PAGE, str(2**63), "9" * 5000, "1e9", "x"])
def test_a_thread_page_number_past_any_page_shows_the_last_page(client, page):
    thread = make_thread()
    for n in range(25):
        make_answer(thread, body=f"Answer body {n:02d}")
    response = client.get(f"/t/{thread.id}?page={page}")
    assert response.status_code == 200
    last = "Answer body 24" in response.text
    assert last if page in (HUGE_PAGE, str(2**63)) else "Answer body 00" in response.text


@pytest.mark.parametrize("path", ["/", "/threads/unanswered", "/threads/solved", "/c/apps",
                                  "/c/apps/unsolved", "/tags/vat", "/my/questions"])
def test_list_page_numbers_past_any_page_show_the_last_page(client, auth, path):
    asker = auth.as_role("member")
    db.session.add(Tag(name="vat"))
    db.session.commit()
    make_thread(asker, category=make_category("Apps"), title="VAT rounding is off", tags=["vat"])
    for page in (HUGE_PAGE, "-" + HUGE_PAGE, str(2**63)):
        response = client.get(f"{path}?page={page}")
        assert response.status_code == 200, (path, page)
        assert ("VAT rounding is off" in response.text) == (path != "/threads/solved"), (path, page)


def test_notifications_page_and_mark_read(client, auth):
    asker = auth.as_role("member")
    make_answer(make_thread(asker, title="Where is the export button?"))
    from core import jobs

    jobs.wait_idle()
    page = client.get("/notifications").text
    assert "New answer in" in page and "Where is the export button?" in page
    assert "Notifications, 1 unread" in client.get("/").text
    client.post("/notifications")
    assert not re.search(r"Notifications, \d+ unread", client.get("/").text)


def test_profile_shows_reputation_and_answers_by_tag(client):
    asker, helper = make_user(), make_user(username="helpful")
    db.session.add(Tag(name="bank-feeds"))
    db.session.commit()
    thread = make_thread(asker, tags=["bank-feeds"])
    services.accept_answer(asker, make_answer(thread, helper))
    page = client.get("/u/helpful").text
    assert "Reputation" in page and "Accepted answers" in page
    assert "bank-feeds" in page and "100%" in page


def test_admins_manage_categories_through_the_page(client, auth):
    auth.as_role("admin")
    response = client.post("/admin/categories", data={"name": "Mobile apps", "slug": "", "description": "",
                                                      "position": "1", "parent_id": ""})
    assert response.status_code == 302
    assert "Mobile apps" in client.get("/admin/categories").text
    clash = client.post("/admin/categories", data={"name": "Other", "slug": "mobile-apps",
                                                   "description": "", "position": "2", "parent_id": ""})
    assert clash.status_code == 409 and "Another category has that slug" in clash.text


def test_admins_edit_a_category(client, auth):
    auth.as_role("admin")
    category = make_category("Payments")
    page = client.get(f"/admin/categories/{category.id}/edit")
    assert page.status_code == 200 and 'value="Payments"' in page.text
    response = client.post(f"/admin/categories/{category.id}/edit", data={
        "name": "Payments & payouts", "slug": "payments", "description": "Money in", "position": "3",
        "parent_id": ""})
    assert response.status_code == 302
    db.session.refresh(category)
    assert (category.name, category.description, category.position) == ("Payments & payouts", "Money in", 3)
    bad = client.post(f"/admin/categories/{category.id}/edit", data={"name": "", "slug": "payments"})
    assert bad.status_code == 400


def test_a_category_position_out_of_range_is_400_beside_the_field(client, auth):
    auth.as_role("admin")
    category = make_category("Payments")
    for path in ("/admin/categories", f"/admin/categories/{category.id}/edit"):
        response = client.post(path, data={"name": "Payouts", "slug": "payouts", "description": "",
                                           "position": "99999999999", "parent_id": ""})
        assert response.status_code == 400, path
        assert "The order is a whole number from -10,000 to 10,000." in response.text
        assert 'value="Payouts"' in response.text  # what was typed is kept
    db.session.refresh(category)
    assert (category.name, category.position) == ("Payments", 0)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Category)) == 1


@pytest.mark.parametrize("big", [2**31, 2**63, 10**30])
def test_ids_no_row_can_have_are_404s_and_form_errors_not_500s(client, auth, big):
    auth.as_role("admin")
    for path in (f"/t/{big}", f"/posts/{big}/revisions", f"/admin/categories/{big}/edit", f"/u/{big}"):
        assert client.get(path).status_code == 404, path
    assert client.post(f"/posts/{big}/vote", data={"value": "up"}).status_code == 404
    response = client.post("/ask", data={"title": "A fine title", "body": "Body", "category_id": str(big)})
    assert response.status_code == 400 and "Choose one of the categories" in response.text


def test_a_nul_in_any_url_part_is_a_404(client):
    for path in ("/c/%00", "/tags/a%00b", "/u/%00", "/kb/%00", "/kb/c/%00", "/t/1/%00"):
        assert client.get(path).status_code == 404, path
    assert client.post("/kb/%00/feedback", data={"helpful": "yes"}).status_code == 404


def test_the_sidebar_nests_sub_categories_and_follows_a_rename(client):
    admin = make_user("admin")
    parent = make_category("Apps")
    categories.save_category(admin, None, name="iOS", slug="ios", parent_id=parent.id)
    sidebar = client.get("/").text.split('class="category-list"')[1]
    assert '<a href="/c/apps">Apps</a>' in sidebar
    assert '<ul><li><a href="/c/ios">iOS</a></li></ul>' in sidebar
    categories.save_category(admin, parent, name="Mobile apps", slug="apps")
    assert '<a href="/c/apps">Mobile apps</a>' in client.get("/").text  # not the remembered "Apps"
    on_ios = client.get("/c/ios").text.split('class="sidebar"')[1]
    assert '<a href="/c/ios" aria-current="page">iOS</a>' in on_ios and "Your topics" not in on_ios
    assert '<a href="/c/apps" aria-current="page">' in client.get("/c/apps").text


def test_a_signed_in_sidebar_has_their_topics_and_a_visitors_does_not(client, auth):
    make_category("Apps")
    assert "Your topics" not in client.get("/").text.split('class="sidebar"')[1]
    auth.as_role("member")
    sidebar = client.get("/").text.split('class="sidebar"')[1]
    assert "Your topics" in sidebar and '<a href="/c/apps">Apps</a>' in sidebar
    assert 'name="mine"' in client.get("/").text

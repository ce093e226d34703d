"""KB pages as people meet them: what each role sees, status codes and messages for bad input."""

import html5lib
import pytest
import sqlalchemy as sa

from core.extensions import db
from forum.models import Tag
from kb import services
from kb.models import Article, ArticleFeedback, ArticleRevision
from tests.factories import make_article, make_category, make_solved_thread

ZALGO = "Z" + "\u0301\u0302\u0303\u0308" * 48  # one letter under 192 combining marks


def parse(page: str):
    return html5lib.parse(page, namespaceHTMLElements=False)


def count(model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def write(client, **fields):
    data = {"title": "Reconnect a bank feed", "body": "Open **Bank** and click *Renew connection*.",
            "category_id": str(make_category("Bank feeds").id), "tags": "", "slug": ""}
    data.update(fields)
    return client.post("/kb/new", data=data)


# --- reading ---------------------------------------------------------------------------------------------


def test_the_header_links_to_the_knowledge_base(client):
    links = {a.text.strip(): a.get("href") for a in parse(client.get("/").text).findall(
        ".//nav[@aria-label='Main']//a")}
    assert links["Knowledge base"] == "/kb"
    assert 'aria-current="page">Knowledge base' in client.get("/kb").text


def test_the_home_page_answers_with_a_trailing_slash_too(client):
    response = client.get("/kb/")
    assert response.status_code == 301 and response.headers["Location"] == "/kb"
    assert client.get("/kb/", follow_redirects=True).status_code == 200
    assert client.get("/kb").status_code == 200


def test_the_home_page_lists_categories_most_viewed_and_recent(client):
    billing, banking = make_category("Billing"), make_category("Banking")
    popular = make_article(category=billing, title="Popular guide")
    make_article(category=billing, title="Quiet guide")
    make_article(category=banking, title="Hidden draft", status="draft")
    db.session.execute(sa.update(Article).where(Article.id == popular.id).values(view_count=99))
    db.session.commit()
    page = client.get("/kb")
    assert page.status_code == 200
    tree = parse(page.text)
    rows = tree.findall(".//ul[@class='kb-categories']/li")
    categories = {li.find("a").text: li.find("span").text for li in rows}
    assert categories == {"Billing": "2"}  # Banking has only a draft
    most_viewed = [a.text for a in tree.findall(".//section[@aria-labelledby='most-viewed-title']//li/a")]
    assert most_viewed[0] == "Popular guide" and "Hidden draft" not in page.text
    recent = [a.text for a in tree.findall(".//section[@aria-labelledby='recent-title']//li/a")]
    assert set(recent) == {"Popular guide", "Quiet guide"}
    assert "New article" not in page.text  # readers get no writer tools


def test_a_category_page_lists_its_published_articles(client):
    category = make_category("Billing")
    make_article(category=category, title="Credit notes")
    make_article(category=category, title="A draft", status="draft")
    page = client.get(f"/kb/c/{category.slug}")
    assert page.status_code == 200 and "Credit notes" in page.text and "A draft" not in page.text
    assert client.get("/kb/c/no-such-category").status_code == 404


@pytest.mark.parametrize("page", ["99999999999999999999", "-99999999999999999999", "x"])
def test_a_category_page_number_past_any_page_shows_the_last_page(client, page):
    category = make_category("Billing")
    make_article(category=category, title="Credit notes")
    response = client.get(f"/kb/c/{category.slug}?page={page}")
    assert response.status_code == 200 and "Credit notes" in response.text


def test_an_article_page_shows_the_rendered_body_and_related_content(client):
    category = make_category("Billing")
    db.session.add(Tag(name="vat"))
    db.session.commit()
    article = make_article(category=category, title="VAT rounding", body="Use **one** method.", tags=["vat"])
    sibling = make_article(category=category, title="VAT returns", tags=["vat"])
    thread = make_solved_thread(category=category, title="VAT is off by a penny", tags=["vat"])
    page = client.get(f"/kb/{article.slug}")
    assert page.status_code == 200
    assert "<strong>one</strong>" in page.text
    sidebar = parse(page.text).find(".//aside[@aria-label='Related']")
    links = {a.get("href") for a in sidebar.iter("a")}
    assert {f"/kb/{sibling.slug}", f"/t/{thread.id}"} <= links
    assert client.get("/kb/no-such-article").status_code == 404


@pytest.mark.parametrize("who", [None, "member", "advocate"])
def test_drafts_and_archived_articles_are_404_for_readers(client, auth, who):
    draft = make_article(title="Draft plan", status="draft")
    archived = make_article(title="Old plan", status="archived")
    if who:
        auth.as_role(who)
    for article in (draft, archived):
        response = client.get(f"/kb/{article.slug}")
        assert response.status_code == 404 and article.title not in response.text
        assert client.get(f"/kb/{article.slug}/edit").status_code in (302, 404)


def test_writers_see_drafts_and_their_tools(client, auth):
    auth.as_role("staff")
    draft = make_article(title="Draft plan", status="draft")
    page = client.get(f"/kb/{draft.slug}")
    assert page.status_code == 200 and "only its writers see it" in page.text
    assert "Draft plan" in client.get("/kb/drafts").text
    assert "Publish" in page.text and "Delete for good" in page.text


# --- writing ---------------------------------------------------------------------------------------------


def test_staff_write_a_draft_then_publish_it(client, auth):
    auth.as_role("staff")
    assert client.get("/kb/new").status_code == 200
    response = write(client)
    assert response.status_code == 302 and response.headers["Location"] == "/kb/reconnect-a-bank-feed"
    article = db.session.scalar(sa.select(Article))
    assert article.status == "draft"
    assert client.post(f"/kb/{article.slug}/status", data={"status": "published"}).status_code == 302
    db.session.refresh(article)
    assert article.status == "published"
    assert client.post(f"/kb/{article.slug}/status", data={"status": "gone"}).status_code == 400


@pytest.mark.parametrize(
    ("fields", "status", "message"),
    [
        ({"title": ""}, 400, "Give the article a title"),
        ({"title": "t" * 201}, 400, "A title has at most 200 characters"),
        ({"body": "   "}, 400, "the text is empty"),
        ({"body": "b" * 50_001}, 400, "An article has at most 50,000 characters"),
        ({"title": "\u200b\u2060\ufeff"}, 400, "Give the article a title"),
        ({"body": "Open **Bank** and click " + ZALGO}, 400, "An article has a letter with more than 6"),
        ({"category_id": "424242"}, 400, "Choose one of the categories"),
        ({"category_id": "nope"}, 400, "Choose one of the categories"),
        ({"category_id": "9" * 25}, 400, "Choose one of the categories"),
        ({"slug": "Not A Slug"}, 400, "lowercase letters, digits and single dashes"),
        ({"tags": "<script>"}, 400, "not a valid tag"),
    ],
)
def test_bad_articles_answer_with_the_message_and_keep_what_was_typed(client, auth, fields, status, message):
    auth.as_role("staff")
    response = write(client, **fields)
    assert response.status_code == status
    assert message in response.text
    assert count(Article) == 0
    if fields.get("body", "x").strip():
        assert "Open **Bank** and click" in response.text or "b" * 100 in response.text


def test_a_taken_slug_answers_409(client, auth):
    auth.as_role("staff")
    make_article(slug="reconnect")
    response = write(client, slug="reconnect")
    assert response.status_code == 409 and "already has the address /kb/reconnect" in response.text
    assert count(Article) == 1


def test_editing_keeps_history_and_refuses_bad_input(client, auth):
    staff = auth.as_role("staff")
    article = make_article(staff, title="Old title", body="Old body")
    form = client.get(f"/kb/{article.slug}/edit")
    assert form.status_code == 200 and "Old body" in form.text
    data = {"title": "New title", "body": "New body", "category_id": str(article.category_id), "tags": "",
            "slug": article.slug}
    assert client.post(f"/kb/{article.slug}/edit", data={**data, "body": ""}).status_code == 400
    assert client.post(f"/kb/{article.slug}/edit", data=data).status_code == 302
    db.session.refresh(article)
    assert (article.title, article.body) == ("New title", "New body")
    assert count(ArticleRevision, ArticleRevision.article_id == article.id) == 2


def test_members_may_not_write(client, auth):
    auth.as_role("member")
    article = make_article()
    assert client.get("/kb/new").status_code == 403
    assert write(client).status_code == 403
    assert client.get(f"/kb/{article.slug}/edit").status_code == 403
    assert client.post(f"/kb/{article.slug}/status", data={"status": "archived"}).status_code == 403
    assert client.get(f"/kb/{article.slug}/revisions").status_code == 403
    assert client.get("/kb/drafts").status_code == 403
    db.session.refresh(article)
    assert article.status == "published"


def test_advocates_write_in_the_categories_an_admin_opened(client, auth):
    admin_client = client.application.test_client()
    from tests.conftest import AuthActions

    opened, closed = make_category("Bank feeds"), make_category("Billing")
    AuthActions(admin_client).as_role("admin")
    settings = admin_client.get("/kb/admin/categories")
    assert settings.status_code == 200 and "Bank feeds" in settings.text
    assert admin_client.post("/kb/admin/categories", data={"advocates": [str(opened.id)]}).status_code == 302
    assert services.advocate_categories() == {opened.id}
    assert admin_client.post("/kb/admin/categories", data={"advocates": ["424242"]}).status_code == 400

    auth.as_role("advocate")
    page = client.get("/kb/new")
    assert page.status_code == 200
    options = {o.text for o in parse(page.text).iter("option")}
    assert "Bank feeds" in options and "Billing" not in options
    refused = client.post("/kb/new", data={"title": "T", "body": "B", "category_id": str(closed.id)})
    assert refused.status_code == 403 and "not one of them" in refused.text
    allowed = client.post("/kb/new", data={"title": "T", "body": "B", "category_id": str(opened.id)})
    assert allowed.status_code == 302
    assert client.get("/kb/admin/categories").status_code == 403


def test_only_staff_delete(client, auth):
    url = f"/kb/{make_article().slug}/delete"
    auth.as_role("advocate")
    assert client.post(url).status_code == 403
    auth.sign_out()
    assert client.post(url).headers["Location"].startswith("/signin")
    auth.as_role("staff")
    assert client.post(url).status_code == 302
    assert count(Article) == 0
    assert client.post(url).status_code == 404


# --- history ---------------------------------------------------------------------------------------------


def test_history_compare_and_restore(client, auth):
    staff = auth.as_role("staff")
    article = make_article(staff, title="Guide", body="Line one\nClick the red button")
    services.edit_article(staff, article, title="Guide", body="Line one\nClick the green button")
    first, second = sorted(services.revisions(staff, article), key=lambda r: r.number)
    history = client.get(f"/kb/{article.slug}/revisions")
    assert history.status_code == 200 and "Restore version 1" in history.text
    compare = client.get(f"/kb/{article.slug}/compare", query_string={"from": first.id, "to": second.id})
    assert compare.status_code == 200
    tree = parse(compare.text)
    assert [d.text for d in tree.iter("del")] == ["red"] and [i.text for i in tree.iter("ins")] == ["green"]
    assert tree.find(".//tr[@class='diff-delete']") is not None
    restored = client.post(f"/kb/{article.slug}/revisions/{first.id}/restore")
    assert restored.status_code == 302
    db.session.refresh(article)
    assert article.body == "Line one\nClick the red button"
    assert count(ArticleRevision, ArticleRevision.article_id == article.id) == 3
    again = client.post(f"/kb/{article.slug}/revisions/{first.id}/restore")
    assert again.status_code == 409 and "current text already" in again.text


def test_history_refuses_versions_of_other_articles_and_wrong_ids(client, auth):
    staff = auth.as_role("staff")
    article, other = make_article(staff), make_article(staff)
    [mine], [theirs] = services.revisions(staff, article), services.revisions(staff, other)
    url = f"/kb/{article.slug}/compare"
    mixed = client.get(url, query_string={"from": mine.id, "to": theirs.id})
    assert mixed.status_code == 400 and "belongs to another article" in mixed.text
    assert client.get(url, query_string={"from": mine.id, "to": 999_999}).status_code == 404
    assert client.get(url, query_string={"from": "x"}).status_code == 400
    assert client.get(url).status_code == 400
    restore = client.post(f"/kb/{article.slug}/revisions/{theirs.id}/restore")
    assert restore.status_code == 400 and "belongs to another article" in restore.text
    assert client.post(f"/kb/{article.slug}/revisions/999999/restore").status_code == 404
    huge = "9" * 25  # more than an id column holds: still "not found", not a database error
    assert client.get(url, query_string={"from": mine.id, "to": huge}).status_code == 404
    assert client.post(f"/kb/{article.slug}/revisions/{huge}/restore").status_code == 404
    assert client.post(f"/kb/promote/{huge}").status_code == 404
    assert count(ArticleRevision) == 2


# --- feedback --------------------------------------------------------------------------------------------


def test_readers_answer_was_this_helpful_and_staff_see_the_counts(client, auth):
    article = make_article()
    anonymous = client.post(f"/kb/{article.slug}/feedback", data={"helpful": "yes"})
    assert anonymous.status_code == 302
    reader = auth.as_role("member")
    client.post(f"/kb/{article.slug}/feedback", data={"helpful": "yes", "comment": "Clear"})
    client.post(f"/kb/{article.slug}/feedback", data={"helpful": "no", "comment": "Step 3 is missing"})
    page = client.get(f"/kb/{article.slug}").text
    assert "You answered “no”" in page and "kb-helpful-count" not in page  # members see no counts
    bad = client.post(f"/kb/{article.slug}/feedback", data={"helpful": "perhaps", "comment": "Keep this"})
    assert bad.status_code == 400 and "Answer yes or no" in bad.text and "Keep this" in bad.text
    assert client.post(f"/kb/{article.slug}/feedback",
                       data={"helpful": "yes", "comment": "c" * 1001}).status_code == 400
    assert count(ArticleFeedback, ArticleFeedback.user_id == reader.id) == 1
    auth.sign_out()
    auth.as_role("staff")
    tree = parse(client.get(f"/kb/{article.slug}").text)
    assert tree.find(".//dd[@id='kb-helpful-count']").text == "1"
    assert tree.find(".//dd[@id='kb-not-helpful-count']").text == "1"
    assert "Step 3 is missing" in html5lib.serialize(tree)
    draft = make_article(status="draft")
    assert client.post(f"/kb/{draft.slug}/feedback", data={"helpful": "yes"}).status_code == 400


# --- promotion from a solved thread ----------------------------------------------------------------------


def test_promoting_a_thread_links_it_both_ways(client, auth):
    category = make_category("Invoicing")
    thread = make_solved_thread(category=category, title="VAT is a penny off", question="Why **1p**?",
                                answer="Rounding per line.")
    auth.as_role("member")
    assert "Promote" not in client.get(f"/t/{thread.id}").text
    assert client.get(f"/kb/promote/{thread.id}").status_code == 403
    auth.sign_out()

    staff = auth.as_role("staff")
    thread_page = client.get(f"/t/{thread.id}").text
    assert f'href="/kb/promote/{thread.id}"' in thread_page
    preview = client.get(f"/kb/promote/{thread.id}")
    assert preview.status_code == 200 and "Rounding per line." in preview.text
    created = client.post(f"/kb/promote/{thread.id}")
    assert created.status_code == 302
    article = db.session.scalar(sa.select(Article))
    assert created.headers["Location"] == f"/kb/{article.slug}/edit"
    assert article.source_thread_id == thread.id and article.status == "draft"
    assert "Why **1p**?" in article.body and "Rounding per line." in article.body
    assert "not published (draft)" in client.get(f"/t/{thread.id}").text  # writers see the draft
    assert client.post(f"/kb/promote/{thread.id}").status_code == 409
    article_page = client.get(f"/kb/{article.slug}").text
    assert f'href="/t/{thread.id}"' in article_page  # the article links back to its thread
    auth.sign_out()

    assert "KB article" not in client.get(f"/t/{thread.id}").text  # a draft: no notice for readers
    services.set_status(staff, article, "published")
    page = client.get(f"/t/{thread.id}").text
    assert f'This answer is now a KB article: <a href="/kb/{article.slug}">VAT is a penny off</a>' in page
    assert client.get("/kb/promote/999999").status_code in (302, 404)


def test_unsolved_threads_cannot_be_promoted(client, auth):
    from tests.factories import make_thread

    thread = make_thread()
    auth.as_role("staff")
    assert f"/kb/promote/{thread.id}" not in client.get(f"/t/{thread.id}").text
    response = client.post(f"/kb/promote/{thread.id}")
    assert response.status_code == 400 and "Only a solved thread" in response.text


# --- the staff picker ----------------------------------------------------------------------------------


def test_the_picker_is_staff_only_and_finds_published_titles(client, auth):
    make_article(title="Reconnect a [bank] feed", slug="reconnect")
    make_article(title="Bank rules", status="draft")
    make_article(title="Credit notes")
    assert client.get("/kb/picker.json?q=bank").headers["Location"].startswith("/signin")
    auth.as_role("member")
    assert client.get("/kb/picker.json?q=bank").status_code == 403
    auth.sign_out()
    auth.as_role("advocate")
    assert client.get("/kb/picker.json?q=bank").status_code == 403
    auth.sign_out()
    auth.as_role("staff")
    results = client.get("/kb/picker.json?q=BANK feed").get_json()["results"]
    assert results == [{"title": "Reconnect a [bank] feed", "url": "/kb/reconnect",
                        "markdown": r"[Reconnect a \[bank\] feed](/kb/reconnect)"}]
    assert len(client.get("/kb/picker.json").get_json()["results"]) == 2
    assert client.get("/kb/picker.json?q=payroll").get_json()["results"] == []


def test_the_reply_form_holds_the_picker_for_staff_only(client, auth):
    from tests.factories import make_thread

    thread = make_thread()
    auth.as_role("member")
    assert "kb-picker" not in client.get(f"/t/{thread.id}").text
    auth.sign_out()
    auth.as_role("staff")
    tree = parse(client.get(f"/t/{thread.id}").text)
    picker = tree.find(".//form//div[@class='kb-picker']")
    assert picker is not None and picker.get("data-target") == "body"
    combobox = picker.find(".//input[@role='combobox']")
    listbox = picker.find(".//ul[@role='listbox']")
    assert combobox.get("aria-controls") == listbox.get("id")
    assert picker.find(f".//label[@for='{combobox.get('id')}']") is not None


def test_anonymous_feedback_per_address_is_limited(make_app):
    app = make_app("sqlite", PEERLINE_FEEDBACK_LIMIT="3 per hour")
    with app.app_context():
        slug = make_article(title="Reconcile a payout").slug
    client = app.test_client()
    statuses = [client.post(f"/kb/{slug}/feedback", data={"helpful": "no"}).status_code for _ in range(5)]
    assert statuses == [302, 302, 302, 429, 429]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ArticleFeedback)) == 3


def test_an_article_promoted_straight_to_published_refreshes_its_threads_cached_page(make_app):
    from accounts.models import User
    from forum.models import Thread

    app = make_app("sqlite", PEERLINE_PAGE_CACHE_SECONDS=60)
    with app.app_context():
        thread = make_solved_thread(title="Why is VAT rounded per line?")
        thread_id = thread.id
        staff_id = make_article().author_id  # any staff writer
    anonymous = app.test_client()
    assert "now a KB article" not in anonymous.get(f"/t/{thread_id}").text  # cached from here on
    with app.app_context():
        services.create_article(db.session.get(User, staff_id), db.session.get(Thread, thread_id).category_id,
                                "VAT is rounded per line", "Open **Settings**.", status="published",
                                source_thread=db.session.get(Thread, thread_id))
    assert "This answer is now a KB article" in anonymous.get(f"/t/{thread_id}").text

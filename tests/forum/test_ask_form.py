"""The ask form as a person meets it: every problem at once in a summary, sensible minimum lengths,
unknown tags that name the nearest existing ones, and the tag suggestions behind the tags field."""

import re

import pytest
import sqlalchemy as sa

from core import jobs
from core.errors import Invalid, Problems
from core.extensions import db
from forum import restructure, services, states
from forum.models import BODY_MIN, TITLE_MIN, Category, Post, Tag, Thread
from tests.factories import make_category, make_thread, make_user
from tests.forum.test_query_counts import counting_queries

GOOD = {"title": "Invoice PDF shows the wrong logo", "body": "Since yesterday the PDF shows our old logo."}


def ask(client, **fields):
    category = db.session.scalar(sa.select(Category)) or make_category()
    data = {**GOOD, "category_id": str(category.id), "tags": ""}
    data.update(fields)
    return client.post("/ask", data=data)


def threads() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Thread))


def summary_links(page: str) -> list[str]:
    summary = re.search(r'<section class="error-summary".*?</section>', page, re.S)
    assert summary is not None, "no error summary on the page"
    return re.findall(r'<a href="#([a-z_]+)"', summary.group(0))


def add_tags(*names):
    db.session.add_all(Tag(name=name) for name in names)
    db.session.commit()


# --------------------------------------------------------------------------- every problem at once


def test_a_half_filled_question_gets_every_problem_in_one_answer_and_keeps_the_input(client, auth):
    auth.as_role("member")
    add_tags("invoices")
    response = client.post("/ask", data={"title": "x", "body": "help", "category_id": "", "tags": "invoce",
                                         "urgent": "y", "urgent_reason": ""})
    assert response.status_code == 400
    page = response.text
    assert "There are 5 problems with your question" in page
    # In the order of the form, each linking to its field.
    assert summary_links(page) == ["title", "category_id", "body", "tags", "urgent_reason"]
    assert f"at least {TITLE_MIN} characters" in page and "this one has 1" in page
    assert "Choose one of the categories" in page
    assert f"at least {BODY_MIN} characters" in page and "you wrote 4" in page
    assert "Unknown tag: “invoce” (did you mean “invoices”?)" in page
    assert "why this is urgent" in page
    assert 'tabindex="-1"' in page and "js/error-summary.js" in page
    # What was typed is still there.
    assert 'value="x"' in page and "help</textarea>" in page and 'value="invoce"' in page
    assert threads() == 0


def test_one_problem_is_one_problem_and_a_good_question_has_no_summary(client, auth):
    auth.as_role("member")
    page = ask(client, title="").text
    assert "There is 1 problem with your question" in page and summary_links(page) == ["title"]
    assert "error-summary" not in client.get("/ask").text
    assert ask(client).status_code == 302 and threads() == 1


def test_the_forms_own_refusals_and_the_rules_come_together(client, auth):
    """A title too long for the form itself is refused there; the rules still speak for the others."""
    auth.as_role("member")
    response = ask(client, title="t" * 1500, body="short", category_id="999999")
    assert response.status_code == 400
    assert summary_links(response.text) == ["title", "category_id", "body"]
    assert "A title has at most" not in response.text  # one problem per field: the form's own


# --------------------------------------------------------------------------- minimum lengths


@pytest.mark.parametrize(
    ("fields", "ok"),
    [
        ({"title": "t" * (TITLE_MIN - 1)}, False),
        ({"title": "t" * TITLE_MIN}, True),
        ({"title": "  Export   fails  "}, False),  # spaces folded: 12 characters
        ({"title": "e\u0301" * (TITLE_MIN - 1)}, False),  # accents are not characters of their own
        ({"title": "导出的发票总额不对"}, True),  # nine wide characters say as much as 18 letters
        ({"body": "b" * (BODY_MIN - 1)}, False),
        ({"body": "b" * BODY_MIN}, True),
        ({"body": "help\u200b\u200b\u200b\u200b\u200b\u200b\u200b\u200b\u200b\u200b\u200b\u200b"}, False),
    ],
)
def test_new_questions_have_minimum_lengths(client, auth, fields, ok):
    auth.as_role("member")
    response = ask(client, **fields)
    assert response.status_code == (302 if ok else 400), response.text
    assert threads() == (1 if ok else 0)


def test_the_service_holds_minimum_lengths_only_when_asked(app):
    """The ask form asks for them; the demo, imports and staff tools may write shorter questions."""
    asker, category = make_user(), make_category()
    with pytest.raises(Problems) as caught:
        services.create_thread(asker, category.id, "Down", "All down", minimum_lengths=True)
    assert [problem.field for problem in caught.value.problems] == ["title", "body"]
    with pytest.raises(Invalid, match="at least") as one:
        services.check_question(asker, category.id, "Down", GOOD["body"], minimum_lengths=True)
    assert one.value.field == "title"
    assert services.create_thread(asker, category.id, "Down", "All down").title == "Down"


def test_editing_a_question_shows_every_problem_at_once(client, auth):
    asker = auth.as_role("member")
    thread = make_thread(asker)
    add_tags("invoices")
    question = db.session.scalar(sa.select(Post).where(Post.thread_id == thread.id))
    response = client.post(f"/posts/{question.id}/edit", data={"title": " ", "body": " ", "tags": "invoicez"})
    assert response.status_code == 400
    assert "There are 3 problems with your edit" in response.text
    assert summary_links(response.text) == ["title", "body", "tags"]
    assert "did you mean “invoices”?" in response.text


# --------------------------------------------------------------------------- unknown tags


def test_an_unknown_tag_names_the_nearest_ones_and_who_creates_tags(app):
    add_tags("invoices", "invoice-pdf", "bank-feeds", "payroll")
    category = make_category()
    with pytest.raises(Invalid) as caught:
        services.create_thread(make_user(), category.id, GOOD["title"], GOOD["body"],
                               "invoice, bankfeeds, zzz")
    message = caught.value.message
    assert message.startswith("Unknown tags: ")
    assert "“invoice” (did you mean “invoices” or “invoice-pdf”?)" in message
    assert "“bankfeeds” (did you mean “bank-feeds”?)" in message
    assert "“zzz”," not in message and "“zzz”." in message  # nothing near: just named
    assert "Staff can create new tags" in message
    # Staff make the tag by using it; nothing is made by a refused question.
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Tag)) == 4
    thread = services.create_thread(make_user("staff"), category.id, GOOD["title"], GOOD["body"], "invoice")
    assert [tag.name for tag in thread.tags] == ["invoice"]


def test_a_refused_question_by_staff_makes_no_tag(client, auth):
    auth.as_role("staff")
    assert ask(client, body="", tags="brand-new").status_code == 400
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Tag)) == 0


def test_the_tags_help_says_who_creates_tags(client, auth):
    auth.as_role("member")
    page = client.get("/ask").text
    assert "Staff can create new tags; ask them if one is missing." in page
    assert 'href="/tags"' in page and 'data-tag-suggest-url="/tag-suggestions"' in page
    auth.sign_out()
    auth.as_role("staff")
    assert "A tag that does not exist yet is made when you save." in client.get("/ask").text


# --------------------------------------------------------------------------- suggestions


@pytest.fixture
def tagged(app):
    """Tags with 3, 2, 1 and 0 visible threads (and a hidden one and a merged one that do not count:
    neither is listed under its tag)."""
    add_tags("invoices", "recurring-invoices", "invoice-pdf", "bank-feeds", "c++", "unused-inv")
    category = make_category()
    for tags in (["invoices", "bank-feeds"], ["invoices"], ["invoices", "recurring-invoices"],
                 ["recurring-invoices"], ["invoice-pdf"], ["c++"]):
        make_thread(category=category, tags=tags)
    hidden = make_thread(category=category, tags=["invoice-pdf"])
    states.hide_thread(make_user("staff"), hidden, "Off topic")
    duplicate = make_thread(category=category, tags=["c++"])
    target = make_thread(category=category)
    restructure.merge_thread(make_user("staff"), duplicate, str(target.id))
    db.session.commit()
    jobs.wait_idle()


def suggest(client, q):
    response = client.get("/tag-suggestions", query_string={"q": q})
    assert response.status_code == 200 and response.mimetype == "application/json"
    return [(tag["name"], tag["threads"]) for tag in response.get_json()["tags"]]


def test_suggestions_start_with_what_is_typed_then_contain_it(client, tagged):
    assert suggest(client, "inv") == [("invoices", 3), ("invoice-pdf", 1),
                                      ("recurring-invoices", 2), ("unused-inv", 0)]
    assert suggest(client, "  INVOICE-P ") == [("invoice-pdf", 1)]
    assert suggest(client, "c+") == [("c++", 1)]
    assert suggest(client, "")[:2] == [("invoices", 3), ("recurring-invoices", 2)]  # the most used
    assert suggest(client, "\u0000\u200b") == suggest(client, "")  # nothing visible is nothing typed


def test_suggestions_are_one_cacheable_query(client, auth, tagged):
    db.session.commit()
    with counting_queries() as statements:
        response = client.get("/tag-suggestions?q=inv")
    assert [s for s in statements if not s.startswith("BEGIN")] == statements[-1:], statements
    assert response.cache_control.public and response.cache_control.max_age == 60
    auth.as_role("member")  # a signed-in response may carry a cookie: browsers only
    response = client.get("/tag-suggestions?q=inv")
    assert response.cache_control.private and not response.cache_control.public


def test_there_are_at_most_eight_suggestions(client, app):
    add_tags(*(f"tag-{n:02d}" for n in range(20)))
    assert len(suggest(client, "tag")) == 8


@pytest.mark.parametrize(
    "q",
    ["x" * 10_000, "%", "_", "%inv%", "in_", "<script>alert(1)</script>", "ünïcödé", "発票",
     "inv'; drop table tags; --", "\\", "🙂"],
)
def test_ugly_input_gets_no_suggestions_and_no_error(client, tagged, q):
    assert suggest(client, q) == []
    assert suggest(client, "inv")  # the tags are all still there


# --------------------------------------------------------------------------- the summary elsewhere


def test_sign_up_and_article_forms_have_the_summary_too(client, auth):
    page = client.post("/signup", data={"email": "", "username": "", "password": "", "confirm": "x"})
    assert page.status_code == 400
    assert "There are 4 problems with your sign-up" in page.text
    assert summary_links(page.text) == ["email", "username", "password", "confirm"]
    auth.as_role("staff")
    page = client.post("/kb/new", data={"title": "", "body": "", "category_id": str(make_category().id)})
    assert page.status_code == 400 and "There is 1 problem with the article" in page.text

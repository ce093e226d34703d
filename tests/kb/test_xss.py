"""Every XSS payload of tests/core/test_markup.py as an article title and body, a feedback comment,
a line of a diff and a thread notice, seen in the pages that show them."""

import re
from collections import Counter
from dataclasses import dataclass

import html5lib
import pytest
from markupsafe import Markup, escape

from core.extensions import db
from core.text import clean_text
from forum import viewcounts as forum_viewcounts
from kb import services
from kb import viewcounts as kb_viewcounts
from kb.queries import ARTICLES_PER_PAGE
from tests import factories
from tests.core.test_markup import (
    EVENT_HANDLERS,
    FORBIDDEN_ELEMENTS,
    SCRIPT_TAGS,
    _local,
    _values,
    assert_safe,
    parse,
)
from tests.forum.test_xss import PAYLOADS, check, main_html, parse_page, report, text

# Where these pages show user text; each must be safe on its own (assert_safe refuses every form,
# and the pages around them hold the site's own forms: feedback, status buttons, restore buttons).
USER_TEXT = [
    ".//h1[@id='article-title']", ".//div[@class='prose kb-body']", ".//ul[@class='notices kb-comments']",
    ".//aside[@aria-label='Related']", ".//table[@class='diff']", ".//ol[@class='thread-list']",
    ".//ol[@class='kb-links']", ".//ul[@class='kb-categories']", ".//td[@class='kb-revision-title']",
]


def own_controls(html: str) -> Counter:
    """The forbidden-if-injected elements (forms, inputs, buttons...) in some HTML, by name."""
    return Counter(_local(el.tag) for el in parse(html).iter()
                   if isinstance(el.tag, str) and _local(el.tag) in FORBIDDEN_ELEMENTS)


def assert_inert(page: str, baseline: Counter) -> None:
    """Each region of user text is safe, and nothing escaped from one: the page holds exactly the
    controls the same page holds for plain text."""
    main = main_html(page)
    tree = parse_page(str(main))
    for path in USER_TEXT:
        for region in tree.iterfind(path):
            assert_safe(Markup(html5lib.serialize(region, tree="etree", quote_attr_values="always")))
    assert own_controls(main) == baseline, f"controls {own_controls(main)} instead of {baseline}"


@dataclass
class Case:
    payload_id: str
    payload: str
    slug: str
    title: str  # as stored: white space folded, control characters dropped
    old_revision: int
    new_revision: int


def _write(staff, reader, category, number: int, payload_id: str, payload: str) -> Case:
    """An article saved first as plain text, then edited to the payload as title and body, with the
    payload as a reader's comment."""
    article = services.create_article(staff, category.id, f"Plain title {number}", "Plain body",
                                      status="published")
    services.edit_article(staff, article, title=payload[:200], body=f"First line\n{payload}")
    services.give_feedback(reader, article, "no", payload[:1000])
    old, new = sorted(r.id for r in services.revisions(staff, article))
    return Case(payload_id, payload, article.slug, article.title, old, new)


@pytest.fixture
def site(make_app):
    """One SQLite app with an article per payload, and one with plain text to compare pages with."""
    app = make_app("sqlite")
    with app.app_context():
        staff, reader = factories.make_user("staff", username="kb_staff"), factories.make_user()
        category = factories.make_category("General")
        plain = _write(staff, reader, category, 0, "plain", "Nothing special here")
        cases = [_write(staff, reader, category, number, payload_id, payload)
                 for number, (payload_id, payload) in enumerate(PAYLOADS, 1)]
        db.session.commit()
    yield app, plain, cases
    with app.app_context():
        kb_viewcounts.flush()


def signed_in_staff(app):
    client = app.test_client()
    response = client.post("/signin", data={"login": "kb_staff", "password": factories.PASSWORD})
    assert response.status_code == 302
    return client


def assert_title_is_text(page: str, title: str) -> None:
    escaped = str(escape(title))
    assert f"<title>{escaped} · " in page, f"<title> does not hold the escaped title {escaped!r}"
    heading = re.search(r'<h1 id="article-title">(.*?)</h1>', page, re.DOTALL)
    assert heading is not None, "no <h1 id=article-title>"
    assert heading.group(1).rstrip().endswith(escaped), f"the <h1> does not end with {escaped!r}"


def test_article_pages_show_payloads_inertly(site):
    app, plain, cases = site
    client = signed_in_staff(app)  # staff also see the readers' comments
    baseline = own_controls(main_html(client.get(f"/kb/{plain.slug}").text))
    assert baseline["form"] >= 3  # feedback, status and delete: the check below has something to compare
    problems: dict[str, list[str]] = {}
    for case in cases:
        response = client.get(f"/kb/{case.slug}")
        if response.status_code != 200:
            problems[case.payload_id] = [f"GET /kb/{case.slug} answered {response.status_code}"]
            continue
        page = response.text

        def comment_is_text(case=case, page=page):
            comments = parse_page(page).findall(".//ul[@class='notices kb-comments']/li/p")
            stored = clean_text(case.payload[:1000])  # as the service keeps it: no control characters
            assert [text(p) for p in comments] == [" ".join(stored.split())], "comment text"

        check(problems, case.payload_id, "<main>", lambda page=page: assert_inert(page, baseline))
        check(problems, case.payload_id, "title",
              lambda case=case, page=page: assert_title_is_text(page, case.title))
        check(problems, case.payload_id, "comment", comment_is_text)
    assert not problems, report(problems)


def test_diffs_and_history_show_payloads_inertly_and_as_text(site):
    app, plain, cases = site
    client = signed_in_staff(app)
    compare = "/kb/{slug}/compare?from={old}&to={new}"
    baseline = own_controls(main_html(client.get(
        compare.format(slug=plain.slug, old=plain.old_revision, new=plain.new_revision)).text))
    history_baseline = own_controls(main_html(client.get(f"/kb/{plain.slug}/revisions").text))
    problems: dict[str, list[str]] = {}
    for case in cases:
        response = client.get(compare.format(slug=case.slug, old=case.old_revision, new=case.new_revision))
        if response.status_code != 200:
            problems[case.payload_id] = [f"compare answered {response.status_code}"]
            continue
        page = response.text

        def payload_lines_are_text(case=case, page=page):
            cells = parse_page(page).findall(".//tr[@class='diff-insert']/td[@class='diff-text']")
            shown = "\n".join("".join(cell.itertext()).removeprefix("Added: ") for cell in cells)
            for line in clean_text(f"First line\n{case.payload}").splitlines()[1:]:
                assert line in shown, f"diff lost the line {line!r}"
            assert case.title in shown, "the title's change is not shown as text"

        history = client.get(f"/kb/{case.slug}/revisions").text
        check(problems, case.payload_id, "<main>", lambda page=page: assert_inert(page, baseline))
        check(problems, case.payload_id, "text", payload_lines_are_text)
        check(problems, case.payload_id, "history",
              lambda history=history: assert_inert(history, history_baseline))
    assert not problems, report(problems)


def test_lists_show_payload_titles_inertly(site):
    app, _plain, cases = site
    client = app.test_client()
    problems: dict[str, list[str]] = {}
    search_form = Counter({"form": 1, "input": 2, "button": 1})  # the KB home's search box
    pages = {"/kb": search_form}
    pages.update({f"/kb/c/general?page={n}": Counter()
                  for n in range(1, -(-(len(cases) + 1) // ARTICLES_PER_PAGE) + 1)})
    shown = set()
    for url, controls in pages.items():
        response = client.get(url)
        assert response.status_code == 200, url
        check(problems, url, "<main>",
              lambda page=response.text, controls=controls: assert_inert(page, controls))
        shown |= {text(a) for a in parse_page(response.text).iterfind(".//h2[@class='thread-title']/a")}
    missing = [case.payload_id for case in cases if case.title not in shown]
    assert not missing, f"titles not shown as text on the category pages: {missing}"
    assert not problems, report(problems)


NOTICE_PAYLOADS = [value for value in _values(SCRIPT_TAGS + EVENT_HANDLERS) if value.strip()]


def test_the_thread_notice_shows_a_payload_title_as_text(make_app):
    app = make_app("sqlite")
    with app.app_context():
        staff = factories.make_user("staff")
        category = factories.make_category("General")
        cases = []
        for payload in NOTICE_PAYLOADS:
            thread = factories.make_solved_thread(category=category, title="A question that was solved")
            article = services.promote_thread(staff, thread)
            services.edit_article(staff, article, title=payload[:200], body=article.body)
            services.set_status(staff, article, "published")
            cases.append((thread.id, article.title, article.slug))
        db.session.commit()
        client = app.test_client()
        problems: dict[str, list[str]] = {}
        for thread_id, title, slug in cases:
            page = client.get(f"/t/{thread_id}").text
            notice = f'This answer is now a KB article: <a href="/kb/{slug}">{escape(title)}</a>'
            check(problems, title, "<main>", lambda page=page: assert_safe(main_html(page)))
            check(problems, title, "notice", lambda page=page, notice=notice: _contains(page, notice))
        forum_viewcounts.flush()
        assert not problems, report(problems)


def _contains(page: str, expected: str) -> None:
    assert expected in page, f"the notice {expected!r} is not in the page"

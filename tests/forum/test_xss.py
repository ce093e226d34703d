"""Every XSS payload of tests/core/test_markup.py as a thread title, question and answer, seen in pages."""

import re
from dataclasses import dataclass
from html.parser import HTMLParser

import html5lib
import pytest
from markupsafe import Markup, escape

from core.extensions import db
from forum import categories, services, viewcounts
from forum.queries import THREADS_PER_PAGE
from tests import factories
from tests.core.test_markup import (
    CODE,
    ENCODED_SCHEMES,
    EVENT_HANDLERS,
    MARKDOWN_LINKS,
    RAW_HTML,
    SCRIPT_TAGS,
    _values,
    assert_safe,
)

PAYLOAD_LISTS = [SCRIPT_TAGS, EVENT_HANDLERS, MARKDOWN_LINKS, ENCODED_SCHEMES, RAW_HTML, CODE]
PAYLOADS = [
    (param.id, value)
    for params in PAYLOAD_LISTS
    for param, value in zip(params, _values(params), strict=True)
    if value.strip()
]


@dataclass
class Case:
    payload_id: str
    payload: str
    thread_id: int
    title: str  # as stored: the app folds white space and drops control characters


# --------------------------------------------------------------------------- reading pages


class _MainFinder(HTMLParser):
    """Where the <main> start tags and </main> end tags are in the page source."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.starts: list[tuple[int, int]] = []
        self.ends: list[tuple[int, int]] = []

    def handle_starttag(self, tag, attrs):
        if tag == "main":
            self.starts.append(self.getpos())

    def handle_endtag(self, tag):
        if tag == "main":
            self.ends.append(self.getpos())


def _offset(html: str, position: tuple[int, int]) -> int:
    line, column = position
    return sum(len(text) + 1 for text in html.split("\n")[: line - 1]) + column


def without_list_controls(page: str) -> str:
    """A list page without its own sort-and-filter form (a form, a select, inputs and a button that
    hold no user text), which comes before the list: only that first form is taken out, so a
    payload in a title cannot hide behind it."""
    start = page.index('<form method="get" class="filters list-controls"')
    end = page.index("</form>", start) + len("</form>")
    assert end < page.index('<ol class="thread-list">'), "the controls come before the threads"
    return page[:start] + page[end:]


def main_html(page: str) -> Markup:
    """The page source from the <main> start tag to the last </main>, byte for byte.

    Taking the last end tag keeps anything a payload might smuggle in after a fake </main>
    inside what is checked; the chrome around <main> holds no user text and may hold scripts.
    """
    finder = _MainFinder()
    finder.feed(page)
    finder.close()
    assert len(finder.starts) == 1, f"expected one <main>, found {len(finder.starts)}"
    assert finder.ends, "no </main> in the page"
    start = _offset(page, finder.starts[0])
    end = page.index(">", _offset(page, finder.ends[-1])) + 1
    return Markup(page[start:end])


def parse_page(page: str):
    return html5lib.parse(page, namespaceHTMLElements=False)


def text(element) -> str:
    return " ".join("".join(element.itertext()).split())


def check(problems: dict[str, list[str]], payload_id: str, what: str, test) -> None:
    """Run one check, recording its failure against the payload instead of stopping."""
    try:
        test()
    except AssertionError as error:
        problems.setdefault(payload_id, []).append(f"{what}: {error}"[:600])


def report(problems: dict[str, list[str]]) -> str:
    return f"{len(problems)} of {len(PAYLOADS)} payloads:\n" + "\n".join(
        f"- {payload_id}: " + "\n    ".join(messages) for payload_id, messages in problems.items())


# --------------------------------------------------------------------------- the data


@pytest.fixture
def site(make_app):
    """One SQLite app holding a thread per payload (title, question and an answer all the payload)."""
    app = make_app("sqlite")
    with app.app_context():
        admin = factories.make_user("admin")
        category = categories.save_category(admin, None, name="General", slug="general")
        asker, answerer = factories.make_user(), factories.make_user()
        cases = []
        for payload_id, payload in PAYLOADS:
            thread = services.create_thread(asker, category.id, payload[:200], payload)
            services.create_post(answerer, thread, payload)
            cases.append(Case(payload_id, payload, thread.id, thread.title))
        db.session.commit()
    yield app, cases
    with app.app_context():  # views wait in a process-wide buffer keyed by thread id: write ours
        viewcounts.flush()


def test_the_corpus_is_large_enough():
    assert len(PAYLOADS) >= 50
    assert len({payload_id for payload_id, _ in PAYLOADS}) == len(PAYLOADS)


# --------------------------------------------------------------------------- thread pages


def assert_title_is_text(page: str, title: str) -> None:
    """The title reaches the reader escaped, in <title> and in the <h1>: `<script>` in it
    shows as `&lt;script&gt;`."""
    escaped = str(escape(title))
    assert f"<title>{escaped} · " in page, f"<title> does not hold the escaped title {escaped!r}"
    heading = re.search(r'<h1 id="thread-title">(.*?)</h1>', page, re.DOTALL)
    assert heading is not None, "no <h1 id=thread-title>"
    assert heading.group(1).rstrip().endswith(escaped), (
        f"the <h1> source {heading.group(1).strip()!r} does not end with {escaped!r}")


def test_thread_pages_show_payloads_inertly_and_titles_as_text(site):
    app, cases = site
    client = app.test_client()
    problems: dict[str, list[str]] = {}
    for case in cases:
        response = client.get(f"/t/{case.thread_id}")
        if response.status_code != 200:
            problems[case.payload_id] = [f"GET /t/{case.thread_id} answered {response.status_code}"]
            continue
        page = response.text
        document = parse_page(page)

        def headings(case=case, document=document):
            heading = document.find(".//h1[@id='thread-title']")
            assert heading is not None and text(heading).endswith(case.title), "<h1> text"
            assert (document.find(".//title").text or "").startswith(case.title), "<title> text"
            bodies = document.findall(".//div[@class='post-body prose']")
            assert len(bodies) == 2, f"{len(bodies)} post bodies instead of the question and answer"

        check(problems, case.payload_id, "<main>", lambda page=page: assert_safe(main_html(page)))
        check(problems, case.payload_id, "title",
              lambda case=case, page=page: assert_title_is_text(page, case.title))
        check(problems, case.payload_id, "structure", headings)
    assert not problems, report(problems)


# --------------------------------------------------------------------------- the latest list


def test_latest_list_shows_payload_titles_inertly_as_text(site):
    app, cases = site
    client = app.test_client()
    problems: dict[str, list[str]] = {}
    links: dict[str, tuple[str, str]] = {}  # href -> (link text, the page it is on)
    pages = -(-len(cases) // THREADS_PER_PAGE)
    for number in range(1, pages + 1):
        response = client.get(f"/?page={number}")
        assert response.status_code == 200
        page = response.text
        check(problems, f"latest page {number}", "<main>",
              lambda page=page: assert_safe(main_html(without_list_controls(page))))
        for link in parse_page(page).iterfind(".//h3[@class='thread-title']/a"):
            links[link.get("href")] = (text(link), page)
    for case in cases:
        if f"/t/{case.thread_id}" not in links:
            problems.setdefault(case.payload_id, []).append("the thread is on no page of the latest list")
            continue
        shown, page = links[f"/t/{case.thread_id}"]

        def title_is_text(case=case, shown=shown, page=page):
            assert shown == case.title, f"link text {shown!r} != title {case.title!r}"
            escaped = str(escape(case.title))
            assert f'<a href="/t/{case.thread_id}">{escaped}</a>' in page, (
                f"the link does not hold the escaped title {escaped!r}")

        check(problems, case.payload_id, "title", title_is_text)
    assert not problems, report(problems)

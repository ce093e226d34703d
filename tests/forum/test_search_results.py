"""What a results page shows of each hit: a snippet of the text a reader sees (no Markdown, no
HTML of the author's), and the facts that help choose a result, read fresh in one query a kind."""

import re

import pytest

from core import jobs
from forum import services
from tests.factories import make_answer, make_article, make_category, make_thread, make_user
from tests.forum.test_query_counts import page_and_queries

pytestmark = pytest.mark.live_jobs

MARKDOWN_BODY = (
    "The **zorblatt** setting breaks `sync --force` on start; see [the guide](https://docs.example/zz) "
    "and <script>alert('zorblatt')</script> then _retry_ please."
)


def _results(page: str) -> list[str]:
    return re.findall(r'<li class="thread-row search-hit">(.*?)</li>\s*(?=<li class="thread-row|</ol>)',
                      page, re.S)


def _snippet(hit_html: str) -> str:
    return re.search(r'<p class="search-snippet">(.*?)</p>', hit_html, re.S).group(1)


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_snippets_show_the_text_a_reader_sees_with_matches_marked(app, client):
    make_thread(title="Start-up problem", body=MARKDOWN_BODY)
    jobs.wait_idle()
    page = client.get("/search?q=zorblatt").text
    [hit] = _results(page)
    snippet = _snippet(hit)
    assert '<b class="match">zorblatt</b>' in snippet
    assert "**" not in snippet and "`" not in snippet and "](" not in snippet and "_retry_" not in snippet
    assert "https://docs.example" not in snippet  # a link reads as its words
    assert "<script" not in snippet and "alert(" not in snippet  # the sanitiser dropped it; nothing is run
    # The only tags are the highlighter's own marks: the author's HTML never reaches the page as HTML.
    assert set(re.findall(r"</?([a-z]+)", snippet)) <= {"b"}
    assert "sync --force on start; see the guide and" in _text(snippet)
    assert "then retry" in _text(snippet)


def test_an_authors_markup_is_escaped_in_the_snippet(app, client):
    make_thread(title="Escaping check", body="Type `<img src=x onerror=alert(1)>` into the qwertyfield box.")
    jobs.wait_idle()
    [hit] = _results(client.get("/search?q=qwertyfield").text)
    snippet = _snippet(hit)
    assert "<img" not in snippet and "&lt;img src=x onerror=alert(1)&gt;" in snippet


def test_a_thread_hit_shows_its_category_answers_top_answer_votes_solved_and_dates(app, client):
    category = make_category("Billing and invoices", slug="billing")
    asker = make_user()
    thread = make_thread(asker, category=category, title="Plumbus invoice rounding", body="Off by a cent.")
    good = make_answer(thread, body="Round the plumbus total, not the lines.")
    make_answer(thread, body="Me too.")
    for _ in range(3):
        services.vote(make_user(), good, 1)
    unsolved = make_thread(title="Plumbus export never finishes", body="Stuck at 99%.")
    jobs.wait_idle()
    page = client.get("/search?q=plumbus").text
    hits = {re.search(r'href="(/t/\d+)"', h).group(1): _text(h) for h in _results(page)}

    solved_text = hits[f"/t/{thread.id}"]
    assert "Billing and invoices" in solved_text
    assert "2 answers" in solved_text and "top answer +3 votes" in solved_text
    assert "not solved yet" in solved_text and re.search(r"\basked \S", solved_text)
    services.accept_answer(asker, good)
    jobs.wait_idle()
    page = client.get("/search?q=plumbus").text
    assert 'href="/c/billing"' in page
    hits = {re.search(r'href="(/t/\d+)"', h).group(1): _text(h) for h in _results(page)}
    assert "Solved" in hits[f"/t/{thread.id}"] and "not solved yet" not in hits[f"/t/{thread.id}"]
    assert "0 answers" in hits[f"/t/{unsolved.id}"] and "top answer" not in hits[f"/t/{unsolved.id}"]
    assert "not solved yet" in hits[f"/t/{unsolved.id}"]


def test_an_article_hit_shows_its_kb_category_and_when_it_was_updated(app, client):
    make_article(category=make_category("Getting started", slug="start"), title="Gizmotron set-up",
                 body="Open **Settings** and pick `Gizmotron`.")
    jobs.wait_idle()
    page = client.get("/search?q=gizmotron").text
    [hit] = _results(page)
    assert 'href="/kb/c/start"' in hit and "KB: Getting started" in _text(hit)
    assert "updated" in _text(hit) and "answers" not in _text(hit)
    assert "**" not in _snippet(hit) and "`" not in _snippet(hit)


def test_facts_cost_one_query_a_kind_whatever_the_number_of_hits(app, client):
    category = make_category("Devices", slug="devices")
    make_article(category=category, title="Wibblewidget basics", body="All about the wibblewidget.")
    make_thread(category=category, title="Wibblewidget one", body="The first wibblewidget question.")
    jobs.wait_idle()
    _page, few = page_and_queries(client, "/search?q=wibblewidget")
    for number in range(8):
        make_answer(make_thread(category=category, title=f"Wibblewidget case {number}", body="wibblewidget"))
    jobs.wait_idle()
    page, many = page_and_queries(client, "/search?q=wibblewidget")
    assert len(_results(page)) == 10
    assert len(many) == len(few) <= 3, many


def test_the_search_box_has_a_plain_label_and_the_syntax_as_its_help(app, client):
    page = client.get("/search").text
    assert '<label for="search-q">Search</label>' in page
    assert 'aria-describedby="search-help"' in page
    help_text = re.search(r'<p id="search-help"[^>]*>(.*?)</p>', page, re.S).group(1)
    assert "title:word" in help_text and "tag:name" in help_text


def test_the_json_results_carry_the_facts(app, client):
    category = make_category("Networking", slug="net")
    make_answer(make_thread(category=category, title="Flibbertigibbet timeouts", body="Slow."))
    jobs.wait_idle()
    [result] = client.get("/search.json?q=flibbertigibbet").get_json()["results"]
    assert result["facts"]["category"] == "Networking" and result["facts"]["answers"] == 1
    assert result["facts"]["date_label"] == "asked" and "T" in result["facts"]["date"]

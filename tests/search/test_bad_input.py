"""Bad input never raises: each gets results or a clear message. How long each takes is measured
by `make bench-search-latency` (bench/search_latency.py), not asserted here."""

import pytest

from search import query
from search.engine import BROAD_WILDCARD_MESSAGE, SearchResults


@pytest.fixture
def small_index(source, indexed):
    return indexed(
        source.put("thread:1", "Password reset email missing", "Where is the password reset email?"),
        source.put("thread:2", "Apple Pay declined", "An apple a day; also abandoned carts and APIs."),
        source.put("article:1", "Account security", "Turn on two-factor authentication (2FA)."),
    )


def checked_search(engine, text, **kwargs) -> SearchResults:
    results = engine.search(text, **kwargs)
    assert isinstance(results, SearchResults)
    return results


@pytest.mark.parametrize("text", ["", "   ", None, "\x00\x01\u202e", "!!! ??? ...", "(((())))", '""'])
def test_empty_queries_ask_for_words(engine, small_index, text):
    results = checked_search(engine, text)
    assert results.hits == () and results.message == query.EMPTY_MESSAGE and not results.unavailable


def test_only_common_words(engine, small_index):
    results = checked_search(engine, "the and of")
    assert results.hits == () and results.message == query.COMMON_WORDS_MESSAGE


@pytest.mark.parametrize("text", ["password " * 2000, "x" * 10_000, "(" * 5000 + "password", '"' * 10_000,
                                  "password OR " * 1000, "pass* " * 2000, "title:" * 2000])
def test_ten_thousand_characters(engine, small_index, text):
    results = checked_search(engine, text)
    assert len(results.query) <= query.MAX_QUERY_CHARS
    assert not results.unavailable


@pytest.mark.parametrize("text", ['"password reset', 'password reset"', '"password" "reset', "(password",
                                  "password)", "((password) reset", ")(password", "password AND (reset OR",
                                  '"(password"', "password NOT", "AND OR NOT", "password^3", "[a TO z]",
                                  "{password}", "title:", ":password", "password~2", "+password -reset"])
def test_unbalanced_quotes_parentheses_and_stray_syntax(engine, small_index, text):
    results = checked_search(engine, text)
    assert not results.unavailable
    if "password" in text:
        assert "thread:1" in [hit.doc_id for hit in results.hits] or results.message


def test_unknown_fields_become_words(engine, small_index):
    results = checked_search(engine, "nosuchfield:password")
    assert [hit.doc_id for hit in results.hits] == ["thread:1"] and not results.error


@pytest.mark.parametrize("text,message", [
    ("*", query.EVERYTHING_MESSAGE), ("?", query.EMPTY_MESSAGE), ("* *", query.EVERYTHING_MESSAGE),
    ("title:*", query.EVERYTHING_MESSAGE), ("password *", query.EVERYTHING_MESSAGE),
    ("a*", query.SHORT_WILDCARD_MESSAGE), ("a?c", query.SHORT_WILDCARD_MESSAGE),
    ("NOT password", query.ONLY_NOT_MESSAGE),
])
def test_wildcards_that_would_match_everything(engine, small_index, text, message):
    results = checked_search(engine, text)
    assert results.hits == () and results.message == message


def test_useful_wildcards_work(engine, small_index):
    assert [hit.doc_id for hit in checked_search(engine, "passw*").hits] == ["thread:1"]
    # A leading * is dropped rather than expanded over the whole index.
    assert [hit.doc_id for hit in checked_search(engine, "*word reset").hits] == ["thread:1"]
    assert checked_search(engine, "what is 2fa?").hits  # a question mark ends a question


def test_wildcards_that_expand_to_too_many_words(engine, source, indexed):
    words = " ".join(f"zq{n:04d}" for n in range(query.MAX_WILDCARD_TERMS + 5))
    indexed(source.put("thread:9", "Many words", words))
    results = checked_search(engine, "zq*")
    assert results.error and results.message == BROAD_WILDCARD_MESSAGE
    assert checked_search(engine, "zq000*").hits


def test_unicode_and_odd_characters(engine, small_index):
    for text in ["日本語のパスワード", "🙂🙃", "ß∂ƒ©˙∆", "pässwörd", "\u200b\u200bpassword",
                 "<script>alert(1)</script>", "%00%27%22", "'; DROP TABLE threads; --", "\\", "password\\",
                 "C:\\Windows\\"]:
        assert not checked_search(engine, text).unavailable


@pytest.mark.parametrize("page,per_page", [(0, 0), (-1, -5), ("x", "y"), (10**12, 10**12), (None, None)])
def test_odd_pages(engine, small_index, page, per_page):
    results = checked_search(engine, "password", page=page, per_page=per_page)
    assert results.page >= 1 and 1 <= results.per_page <= 50


def test_clean_keeps_ordinary_queries_as_typed():
    assert query.clean('title:"reset password" OR tag:sso') == 'title:"reset password" OR tags:sso'
    assert query.clean("Category:Billing") == "category:Billing"
    assert query.clean("https://example.com/a") == "https //example.com/a"

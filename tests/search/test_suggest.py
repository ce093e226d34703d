"""Suggestions as someone types a question title: title prefixes, two shared words once several are typed."""

import pytest


def titles(suggestions):
    return [s["title"] for s in suggestions]


@pytest.fixture
def titles_index(source, indexed):
    return indexed(
        source.put("thread:1", "Reset my password", "body", solved=True),
        source.put("thread:2", "Password expired on mobile", "body"),
        source.put("thread:3", "Resetting two-factor authentication", "body", solved=True),
        source.put("thread:4", "Invoice reset to draft", "body"),
        source.put("article:1", "How to reset your password", "body"),
        source.put("thread:5", "Printer offline", "password reset mentioned only in the body"),
    )


def test_prefixes_of_title_words(engine, titles_index):
    found = titles(engine.suggest("pass"))
    assert set(found) == {"Reset my password", "Password expired on mobile", "How to reset your password"}
    assert found[0] == "How to reset your password"  # articles first, then solved threads
    assert titles(engine.suggest("passwor")) == titles(engine.suggest("Pässwor"))


def test_each_suggestion_has_what_the_page_needs(engine, titles_index):
    first = engine.suggest("printer")[0]
    assert first == {"doc_id": "thread:5", "kind": "thread", "title": "Printer offline", "url": "/thread/5",
                     "solved": False}


def test_once_several_words_are_typed_two_must_match(engine, titles_index):
    found = titles(engine.suggest("how do I reset my passw"))
    assert set(found) == {"How to reset your password", "Reset my password"}
    assert "Invoice reset to draft" not in found and "Printer offline" not in found


def test_stemmed_words_match_too(engine, titles_index):
    assert titles(engine.suggest("printers")) == ["Printer offline"]  # "printers" is no prefix of "printer"
    assert "Reset my password" in titles(engine.suggest("resets"))


def test_solved_only_keeps_articles_and_solved_threads(engine, titles_index):
    assert set(titles(engine.suggest("password", solved_only=True))) == {
        "Reset my password", "How to reset your password"}


@pytest.mark.parametrize("text", ["", None, "   ", "a", "the of and", "*", "x" * 10_000, '"(((', "🙂",
                                  "zzzz"])
def test_nothing_to_suggest(engine, titles_index, text):
    assert engine.suggest(text) == []


def test_limit(engine, source, indexed):
    indexed(*[source.put(f"thread:{n}", f"Backup question {n}", "b") for n in range(1, 30)])
    assert len(engine.suggest("backup")) == 6
    assert len(engine.suggest("backup", limit=3)) == 3
    assert len(engine.suggest("backup", limit=10_000)) == 20


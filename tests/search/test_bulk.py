"""search.bulk scores a segment's matches all at once. It must find exactly the documents Whoosh's
matchers step through, with the very same scores (to the last bit), so that search finds and ranks
as before: checked here on real community text, the coffee.stackexchange.com sample, with many
random queries, typed as people type them and as nested query trees."""

import random
import re
import xml.etree.ElementTree as ET
from collections import Counter

import pytest
from whoosh import formats
from whoosh import query as wq

from core.markup import plain_text
from search import bulk
from search import engine as engine_module
from search.documents import Document
from search.engine import Filters, SearchEngine, _binary_unions, _queries
from search.query import parse
from tests.search.conftest import FakeSource, tick
from tests.services import require_coffee_dump

_WORD = re.compile(r"[a-z]{3,}")


def _coffee_documents() -> list[Document]:
    """One document per question of the sample: its title, question and answers, tags, solved when an
    answer was accepted; every ninth an article, so that all three rank factors occur."""
    rows = ET.parse(require_coffee_dump() / "Posts.xml").getroot()
    questions = [row.attrib for row in rows if row.get("PostTypeId") == "1"]
    answers: dict[str, list[str]] = {}
    for row in rows:
        if row.get("PostTypeId") == "2":
            answers.setdefault(row.get("ParentId"), []).append(plain_text(row.get("Body")))
    docs = []
    for n, question in enumerate(questions, 1):
        tags = re.findall(r"<([^>]+)>", question.get("Tags", ""))
        kind = "article" if n % 9 == 0 else "thread"
        body = "\n\n".join([plain_text(question.get("Body")), *answers.get(question["Id"], [])])
        docs.append(Document(doc_id=f"{kind}:{question['Id']}", kind=kind, title=question["Title"], body=body,
                             tags=tags, category=tags[0] if tags else "", url=f"/q/{question['Id']}",
                             solved=bool(question.get("AcceptedAnswerId")), updated_at=tick()))
    return docs


@pytest.fixture(scope="module", params=["one segment", "segments with deletions"])
def coffee(request, tmp_path_factory):
    """The sample indexed in one commit, or in small commits with documents changed and removed since
    (several segments, deleted documents in them)."""
    docs = _coffee_documents()
    source = FakeSource()
    for doc in docs:
        source.docs[doc.doc_id] = doc
    engine = SearchEngine(tmp_path_factory.mktemp("coffee") / "search-index", source.registry())
    if request.param == "one segment":
        engine.index(docs)
    else:
        rng = random.Random(4)
        for start in range(0, len(docs), 40):
            engine.index(docs[start:start + 40])
        for doc in rng.sample(docs, 20):
            engine.index(Document(**{**doc.__dict__, "body": doc.body + " grinder burr espresso"}))
        engine.remove([doc.doc_id for doc in rng.sample(docs, 8)])
    with engine._readers.searcher() as searcher:
        assert (searcher.reader().is_atomic()) == (request.param == "one segment")
    yield engine, docs
    engine.close()


def _words(docs) -> tuple[list[str], list[str]]:
    """The sample's words, most common first, and runs of two or three words from its text."""
    counts = Counter(word for doc in docs for word in set(_WORD.findall(f"{doc.title} {doc.body}".lower())))
    runs = []
    for doc in docs:
        words = _WORD.findall(f"{doc.title}. {doc.body}".lower())
        for start in range(0, len(words) - 3, 37):
            runs.append(words[start:start + (2 if start % 2 else 3)])
    return [word for word, _count in counts.most_common()], runs


def _typed_queries(docs, count: int, seed: int) -> list[tuple[str, Filters]]:
    """Queries as people type them: common and rare words, phrases, title: and tag:, OR, NOT,
    parentheses, wildcards, typos, long questions; a few narrowed by filters."""
    rng = random.Random(seed)
    words, runs = _words(docs)
    tags = sorted({tag for doc in docs for tag in doc.tags})

    def word():
        return rng.choice(words[:60]) if rng.random() < 0.6 else rng.choice(words)

    def phrase():
        return '"' + " ".join(rng.choice(runs)) + '"'

    shapes = [
        lambda: " ".join(word() for _ in range(rng.randint(1, 3))),
        lambda: " ".join(word() for _ in range(rng.randint(6, 9))),
        phrase,
        lambda: f"{phrase()} {word()}",
        lambda: f"title:{word()} {word()}",
        lambda: f"title:{phrase()}",
        lambda: f"tag:{rng.choice(tags)} {word()}",
        lambda: f"{word()} OR {word()}",
        lambda: f"({word()} OR {word()}) {word()}",
        lambda: f"{word()} NOT {word()}",
        lambda: f"{word()[:4]}* {word()}",
        lambda: f"{word()}x{word()[1:]} {word()}",
        lambda: f"{word()} ANDMAYBE {word()}",
    ]
    queries = []
    for _ in range(count):
        text = rng.choice(shapes)()
        filters = Filters()
        if rng.random() < 0.15:
            filters = rng.choice([Filters(kind="thread"), Filters(solved_only=True),
                                  Filters(category=rng.choice(tags))])
        queries.append((text, filters))
    return queries


def _stepped(matcher) -> list[tuple[int, float]]:
    """What TopCollector reads from Whoosh's matcher: each match and its score, one at a time."""
    found = []
    while matcher.is_active():
        found.append((matcher.id(), matcher.score()))
        matcher.next()
    return found


def _compare(searcher, q) -> tuple[int, int]:
    """Holds bulk.scored_matches to Whoosh's stepping on every segment; (segments taken at once,
    segments left to Whoosh)."""
    q = _binary_unions(q)
    context = searcher.context()  # as search_with_collector makes it
    taken = left = 0
    for sub, _offset in searcher.leaf_searchers():
        expected = _stepped(q.matcher(sub, context))
        found = bulk.scored_matches(q.matcher(sub, context))
        if found is None:
            left += 1
            continue
        taken += 1
        docs, scores = found
        assert list(zip(docs, scores, strict=True)) == expected, q
    return taken, left


def test_typed_queries_find_and_score_as_whoosh(coffee):
    engine, docs = coffee
    plain_taken = plain_left = 0
    with engine._readers.searcher() as searcher:
        for text, filters in _typed_queries(docs, 400, seed=1):
            parsed = parse(text)
            if parsed.query is None:
                continue
            main, fallback = _queries(parsed, searcher.reader(), filters)
            for q in (main, fallback):
                if q is None:
                    continue
                taken, left = _compare(searcher, q)
                if filters == Filters() and not re.search(r"NOT|\*", text):
                    plain_taken, plain_left = plain_taken + taken, plain_left + left
    # Words, phrases, title:, tag:, OR and ANDMAYBE are all taken at once.
    assert plain_taken > 300 and plain_left == 0


def _random_tree(rng, words, runs, tags, depth=0) -> wq.Query:
    """A query tree of the engine's parts (terms and phrases in body and title, tags, NOT, AND, OR,
    AND MAYBE, a constant-score filter) nested at random."""
    if depth >= 3 or rng.random() < 0.35:
        shape = rng.random()
        if shape < 0.45:
            return wq.Term(rng.choice(["body", "body", "title"]), rng.choice(words[:80] + words[::25]))
        if shape < 0.7:
            return wq.Phrase(rng.choice(["body", "title"]), rng.choice(runs))
        if shape < 0.85:
            return wq.Term("tags", rng.choice(tags))
        return wq.Term("body", rng.choice(words[:80]), boost=rng.choice([0.5, 2.0]))
    parts = [_random_tree(rng, words, runs, tags, depth + 1) for _ in range(rng.randint(2, 3))]
    shape = rng.random()
    if shape < 0.3:
        return wq.And(parts)
    if shape < 0.6:
        return wq.Or(parts)
    if shape < 0.8:
        return wq.AndMaybe(parts[0], parts[1])
    if shape < 0.9:
        return wq.And([parts[0], wq.Not(parts[1])])
    return wq.And([parts[0], wq.ConstantScoreQuery(wq.Term("kind", "thread"), 0.0)])


def test_nested_query_trees_find_and_score_as_whoosh(coffee):
    from search.engine import _fast_phrases
    from search.schema import text_analyzer

    engine, docs = coffee
    analyzer = text_analyzer()
    words, runs = _words(docs)
    words = list(dict.fromkeys(token.text for word in words for token in analyzer(word)))
    runs = [[token.text for token in analyzer(" ".join(run))] for run in runs]
    runs = [run for run in runs if len(run) > 1]
    tags = sorted({tag.lower() for doc in docs for tag in doc.tags})
    rng = random.Random(7)
    taken = left = 0
    with engine._readers.searcher() as searcher:
        for _ in range(500):
            q = _fast_phrases(_random_tree(rng, words, runs, tags))
            segments = _compare(searcher, q)
            taken, left = taken + segments[0], left + segments[1]
    assert taken > 2 * left  # most trees are taken at once; the rest Whoosh steps through


def test_pages_are_the_same_with_whoosh_stepping_through_every_match(coffee, monkeypatch):
    """The whole search (the top results kept across segments, totals, highlights, fallbacks) with
    the matches taken at once is the search with Whoosh stepping through each."""
    engine, docs = coffee
    queries = _typed_queries(docs, 120, seed=2)

    def pages():
        found = []
        for text, filters in queries:
            for page in (1, 3):
                result = engine.search(text, filters, page=page)
                found.append((result.total, result.total_exact, result.pages, result.message,
                              result.suggestion, [(hit.doc_id, hit.score, hit.title_html, hit.snippet)
                                                  for hit in result.hits]))
        return found

    monkeypatch.setattr(engine_module, "SEARCH_TIME_LIMIT", 60.0)  # a busy machine must not cut one short
    at_once = pages()
    assert sum(bool(hits) for *_rest, hits in at_once) > 100
    monkeypatch.setattr(engine_module, "scored_matches", lambda matcher: None)
    assert pages() == at_once


def test_phrase_positions_are_decoded_as_whoosh_decodes_them():
    rng = random.Random(3)
    positions = formats.Positions()
    lists = [sorted(rng.sample(range(span), rng.randint(1, min(span, 40))))
             for span in (rng.choice([5, 300, 70000]) for _ in range(300))]
    values = [positions.encode(found) for found in lists]
    stripped = [value[:-1] for value in values]  # without the pickle's last byte, as _positions() allows
    for offset in (0, 1, 2):
        # Only the positions at or after the offset count (the first word's positions, less nothing,
        # are never negative).
        expected = [[p - offset for p in positions.decode_positions(value) if p >= offset]
                    for value in values]
        for given in (values, stripped, values[:1], []):
            got = [[p for p in found if p >= 0] for found in bulk._positions_less(positions, given, offset)]
            assert got == expected[:len(given)]


def test_a_weighting_it_does_not_know_is_left_to_whoosh(coffee):
    from whoosh import index as whoosh_index
    from whoosh import scoring

    engine, _docs = coffee
    ix = whoosh_index.open_dir(str(engine.path), indexname="MAIN")
    with ix.searcher(weighting=scoring.TF_IDF()) as searcher:
        q = wq.Or([wq.Term("body", "coffe"), wq.Term("title", "coffe")])
        for sub, _offset in searcher.leaf_searchers():
            assert bulk.scored_matches(q.matcher(sub, searcher.context())) is None

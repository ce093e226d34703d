"""A timing sanity check on ~2,000 generated documents: prints query, suggestion and commit latency.

It asserts nothing about speed (machines differ); the numbers show up in the test output.
"""

import random
import statistics
import time

import pytest

from search.engine import SearchEngine

WORDS = ("account admin alert api archive backup billing browser cache calendar card certificate "
         "checkout cluster config connector contract csv dashboard database deploy device domain "
         "download email encryption error export feed filter firewall folder gateway import install "
         "integration invoice ldap license limit login mailbox mobile network notification password "
         "payment permission plugin printer proxy quota refund region report restore role router saml "
         "schedule server session setting signature sso storage subscription sync tax template timeout "
         "token update upload user vat vpn webhook widget workspace").split()
FILLER = ("the after when with our every since then still again also only cannot does not keeps shows "
          "returns fails works stops seems because suddenly nightly yesterday customers team").split()


def sentence(rng, length):
    return " ".join(rng.choice(WORDS) if rng.random() < 0.4 else rng.choice(FILLER) for _ in range(length))


def percentile(samples, p):
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


@pytest.fixture(scope="module")
def big_index(tmp_path_factory):
    from tests.search.conftest import FakeSource

    rng = random.Random(20260126)
    source = FakeSource()
    for n in range(1, 2001):
        kind = "article" if n % 10 == 0 else "thread"
        body = ". ".join(sentence(rng, rng.randint(12, 40)) for _ in range(rng.randint(2, 12)))
        source.put(f"{kind}:{n}", sentence(rng, rng.randint(4, 9)).capitalize(), body,
                   tags=rng.sample(WORDS, 2), category=rng.choice(["billing", "accounts", "devices"]),
                   solved=rng.random() < 0.4)
    engine = SearchEngine(tmp_path_factory.mktemp("timing") / "index", source.registry())
    started = time.perf_counter()
    engine.rebuild()
    build_seconds = time.perf_counter() - started
    yield engine, source, rng, build_seconds
    engine.close()


def test_latency_on_two_thousand_documents(big_index, capsys):
    engine, source, rng, build_seconds = big_index
    queries = []
    for _ in range(300):
        shape = rng.random()
        words = rng.sample(WORDS, rng.randint(1, 3))
        if shape < 0.5:
            queries.append(" ".join(words))
        elif shape < 0.6:
            queries.append(f'"{words[0]} {rng.choice(WORDS)}"')
        elif shape < 0.7:
            queries.append(f"title:{words[0]} tag:{rng.choice(WORDS)}")
        elif shape < 0.8:
            queries.append(words[0][:-1] + "x" + " " + rng.choice(WORDS))  # a misspelling: did you mean
        elif shape < 0.9:
            queries.append(words[0][:3] + "*")
        else:
            queries.append(" ".join(rng.sample(WORDS, 6)))  # usually falls back to any word
    engine.search("warm up")
    search_ms = []
    for text in queries:
        started = time.perf_counter()
        results = engine.search(text, page=rng.choice([1, 1, 1, 2]))
        search_ms.append((time.perf_counter() - started) * 1000)
        assert not results.unavailable
    prefixes = [" ".join(rng.sample(WORDS, rng.randint(1, 4)))[: rng.randint(3, 30)] for _ in range(300)]
    suggest_ms = []
    for text in prefixes:
        started = time.perf_counter()
        engine.suggest(text)
        suggest_ms.append((time.perf_counter() - started) * 1000)
    commit_ms = []
    for n in range(1, 21):
        doc = source.put(f"thread:{n}", f"Edited title {n} {rng.choice(WORDS)}", sentence(rng, 60))
        started = time.perf_counter()
        engine.index(doc)
        commit_ms.append((time.perf_counter() - started) * 1000)
    with capsys.disabled():
        print(f"\n[search timing] {engine.status().total} documents, rebuilt in {build_seconds:.2f}s")
        timings = (("query", search_ms), ("suggest", suggest_ms), ("one-document commit", commit_ms))
        for name, samples in timings:
            print(f"[search timing] {name:<20} p50 {statistics.median(samples):6.2f} ms   "
                  f"p99 {percentile(samples, 99):6.2f} ms   max {max(samples):6.2f} ms   n={len(samples)}")

"""Search benchmark: the Whoosh engine (search/) against SQLite FTS5 on the same documents, same run.

    python bench/search.py [--database-url URL] [--queries 300] [--seed 1] [--find 10]
                           [--redis-url redis://127.0.0.1:6379/13] [--keep]
    make bench-search BENCH_ARGS="--queries 500"

Makes sure the generated community exists (bench/generate.py makes or reuses it: 10,000 threads,
100,000 posts) and copies it into a temporary folder; this script never writes to the generated file.
Then, on the copy:

1. Builds the Whoosh index as `flask search rebuild` does (`SearchEngine.rebuild()` with the forum's
   registered loader, forum/search_documents.py): documents, seconds, documents per second, size.
2. Loads the same documents through the same loader and puts them in an FTS5 table (title, body,
   tags, category; porter stemming; bm25 with the title weighted like Whoosh's title boost).
3. Draws a few hundred mixed 1-3 word queries from the documents' own titles and bodies (seeded):
   plain words, "quoted phrases", title: and tag: queries, and misspelt words. Each runs through
   `search.search()` (the app's path: parsing, scoring, "did you mean", first page, highlighting)
   and through FTS5 (MATCH, bm25 ORDER BY, LIMIT 10, highlight() and snippet(), the match count,
   and the any-word fallback when nothing matches all words), interleaved so that noise hits
   both alike. Then `search.suggest()` on real titles as typed (3 to 20 characters), against an
   FTS5 prefix query on titles.
4. Time from posting to findable: starts `flask jobs worker --queue search` on the copy with
   REDIS_URL (a database of its own, flushed first; never 14 or 15, which the tests use), asks questions
   through forum.services.create_thread and polls `search.search()` until each is found. Without
   Redis it falls back to the in-process job runner and says so.

Prints a table against the targets (index build at least 1,000 documents/s, reading included;
query p99 < 150 ms and at most 1.5x FTS5's in the same run; suggestion p99 < 50 ms; findable < 5 s
with a worker running), the build's documents, seconds and rate beside FTS5's, the slowest queries,
and warns when other processes were busy. Exit
status: 0 when every target is met, 1 on an error (a post never found, the index unavailable),
2 when a target was missed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
# This file is bench/search.py: run as a script, its folder comes first on sys.path and
# `import search` would find it instead of the search package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

QUERY_P99_MS, SUGGEST_P99_MS, FINDABLE_S = 150.0, 50.0, 5.0
BUILD_RATE = 1_000.0  # documents/s: 1,000,000 posts (100,000 threads) rebuilt in under 2 minutes
QUERY_P99_RATIO = 1.5  # query p99 at most this many times FTS5's in the same run
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
TESTS_REDIS_DBS = (14, 15)  # the tests' two pytest-xdist workers flush them
SHAPES = (("words", 0.60), ("phrase", 0.12), ("title:", 0.12), ("tag:", 0.08), ("misspelt", 0.08))
SUGGEST_TITLES = 25
SUGGEST_LENGTHS = range(3, 21)
WARMUP_QUERIES = 30
FIND_TIMEOUT = 30.0  # seconds before a post counts as never found
POLL_INTERVAL = 0.01
SLOWEST_SHOWN = 10
BATCH = 500

_TOKEN = re.compile(r"[a-z]+")


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[int(share * (len(ordered) - 1))] if ordered else 0.0


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# --- the documents, two indexes --------------------------------------------------------------------


def copy_database(source: str, target: Path) -> None:
    """A consistent copy through SQLite's backup API (the source opened read-only)."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def make_app(database: Path, index_dir: Path, redis_url: str | None):
    from app import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}", "SEARCH_INDEX_DIR": str(index_dir),
                       "PEERLINE_TICKER": False, "REDIS_URL": redis_url})


@dataclass
class Build:
    documents: int
    seconds: float
    size: int
    note: str = ""

    @property
    def rate(self) -> float:
        return self.documents / self.seconds if self.seconds else 0.0


def build_whoosh(app) -> Build:
    """`flask search rebuild`: every registered document type through its loader into a fresh index."""
    import search

    started = time.perf_counter()
    shown, added = [0], [0.0]

    def progress(done: int, total: int) -> None:
        if total and (done == total or done >= shown[0] + total // 5):
            shown[0], added[0] = done, time.perf_counter() - started
            print(f"    {done:>7,} / {total:,} documents read and added, {added[0]:6.1f} s", flush=True)

    with app.app_context():
        engine = search.current_engine()
        written = engine.rebuild(progress=progress)
        seconds = time.perf_counter() - started
        status = engine.status()
        reader = engine_reader(engine)
        words = sum(1 for _ in reader.lexicon("body"))
        reader.close()
    if not status.available or status.total != written:
        raise RuntimeError(f"the rebuilt index is not usable: {status}")
    note = (f"{seconds - added[0]:.1f} s of it after the last document: writing the segment, swapping it in, "
            f"the catch-up check; {words:,} distinct words in the body field")
    return Build(written, seconds, folder_bytes(engine.path), note)


def engine_reader(engine):
    from search import open_index

    return open_index(engine.path).reader()


def load_documents(app) -> tuple[list, float]:
    """Every searchable document, read in batches through the registry as `rebuild()` reads them."""
    from search import REGISTRY

    started = time.perf_counter()
    docs = []
    with app.app_context():
        for doc_type in REGISTRY:
            ids = [doc_id for doc_id, _version in REGISTRY.versions(doc_type.kind)]
            for start in range(0, len(ids), BATCH):
                found, _unknown = REGISTRY.load(ids[start:start + BATCH])
                docs.extend(found.values())
    return sorted(docs, key=lambda d: d.doc_id), time.perf_counter() - started


FTS_SCHEMA = ("CREATE VIRTUAL TABLE docs USING fts5(title, body, tags, category, doc_id UNINDEXED, "
              "url UNINDEXED, solved UNINDEXED, tokenize = 'porter unicode61')")


def build_fts(docs, path: Path) -> tuple[Build, sqlite3.Connection]:
    """The same documents in an FTS5 table: one row per document, merged into one b-tree at the end."""
    conn = sqlite3.connect(path)
    started = time.perf_counter()
    with conn:
        conn.execute(FTS_SCHEMA)
        conn.executemany(
            "INSERT INTO docs (title, body, tags, category, doc_id, url, solved) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            ((d.title, d.body, " ".join(d.tags), d.category, d.doc_id, d.url, int(d.solved)) for d in docs))
        conn.execute("INSERT INTO docs (docs) VALUES ('optimize')")
    seconds = time.perf_counter() - started
    index_bytes = conn.execute("SELECT sum(length(block)) FROM docs_data").fetchone()[0] or 0
    conn.close()
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    size = path.stat().st_size
    note = (f"{index_bytes / 1e6:.1f} MB of it the inverted index, the rest the full text that "
            "snippet() needs (Whoosh stores a 1,500-character excerpt)")
    return Build(len(docs), seconds, size, note), conn


# --- the queries -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """One part of a query: a word or phrase, anywhere (field None), in the title, or a tag."""

    words: tuple[str, ...]
    field: str | None = None

    def whoosh(self) -> str:
        text = " ".join(self.words)
        if self.field == "tags":
            return f"tag:{text}"
        quoted = f'"{text}"' if len(self.words) > 1 else text
        return f"title:{quoted}" if self.field == "title" else quoted

    def fts(self) -> str:
        if self.field == "tags":  # the tokenizer splits bank-feeds in two: a phrase in the tags column
            return 'tags : "{}"'.format(" ".join(self.words[0].split("-")))
        columns = "title" if self.field == "title" else "{title body}"
        return '{} : "{}"'.format(columns, " ".join(self.words))


@dataclass(frozen=True)
class Query:
    shape: str
    items: tuple[Item, ...]

    @property
    def text(self) -> str:
        return " ".join(item.whoosh() for item in self.items)

    @property
    def fts(self) -> str:
        return " AND ".join(item.fts() for item in self.items)

    @property
    def fts_fallback(self) -> str | None:
        """Whoosh's fallback when nothing has every word: any of the plain words (1-3 words: all)."""
        words = [item.words[0] for item in self.items if item.field is None and len(item.words) == 1]
        if len(words) < 2:
            return None
        return "{title body} : (" + " OR ".join(f'"{w}"' for w in words) + ")"


class QueryMaker:
    """Queries drawn from the documents themselves, so they look like what people would type."""

    def __init__(self, docs, seed: int):
        from search.schema import STOP_WORDS

        self.rng = random.Random(seed)
        self.docs = docs
        self.stop = STOP_WORDS
        self.vocabulary = {w for d in docs[::10] for w in _TOKEN.findall(f"{d.title} {d.body}".lower())}

    def content(self, text: str) -> list[str]:
        return [w for w in _TOKEN.findall(text.lower()) if len(w) >= 3 and w not in self.stop]

    def run_of(self, words: list[str], n: int) -> tuple[str, ...]:
        n = min(n, len(words))
        start = self.rng.randrange(len(words) - n + 1)
        return tuple(words[start:start + n])

    def title_phrase(self, doc) -> tuple[str, ...] | None:
        """2-3 words standing next to each other in the title, none of them a stop word."""
        raw = doc.title.lower().rstrip("?").split()
        n = self.rng.choice((2, 2, 3))
        runs = [tuple(raw[i:i + n]) for i in range(len(raw) - n + 1)
                if all(w.isalpha() and w not in self.stop and len(w) > 1 for w in raw[i:i + n])]
        return self.rng.choice(runs) if runs else None

    def misspell(self, word: str) -> str | None:
        for _ in range(10):
            i = self.rng.randrange(1, len(word) - 1)
            letter = self.rng.choice("abcdefghijklmnopqrstuvwxyz".replace(word[i], ""))
            typo = word[:i] + letter + word[i + 1:]
            if typo not in self.vocabulary:
                return typo
        return None

    def one(self, shape: str) -> Query | None:
        rng, doc = self.rng, self.rng.choice(self.docs)
        title = self.content(doc.title)
        if not title:
            return None
        if shape == "words":
            source = title if rng.random() < 0.6 else self.content(doc.body) or title
            return Query(shape, tuple(Item((w,)) for w in self.run_of(source, rng.choice((1, 2, 3)))))
        if shape == "phrase":
            words = self.title_phrase(doc)
            return Query(shape, (Item(words),)) if words else None
        if shape == "title:":
            items = [Item((rng.choice(title),), "title")]
            if rng.random() < 0.5:
                items.append(Item((rng.choice(title),)))
            return Query(shape, tuple(dict.fromkeys(items)))
        if shape == "tag:":
            if not doc.tags:
                return None
            items = [Item((rng.choice(doc.tags),), "tags")]
            if rng.random() < 0.6:
                items.append(Item((rng.choice(title),)))
            return Query(shape, tuple(items))
        long_words = [w for w in title if len(w) >= 5]
        typo = self.misspell(rng.choice(long_words)) if long_words else None
        if typo is None:
            return None
        items = [Item((typo,))]
        if rng.random() < 0.6:
            other = rng.choice(title)
            items.insert(rng.randrange(2), Item((other,)))
        return Query(shape, tuple(dict.fromkeys(items)))

    def make(self, count: int) -> list[Query]:
        shapes, weights = zip(*SHAPES, strict=True)
        queries: list[Query] = []
        while len(queries) < count:
            query = self.one(self.rng.choices(shapes, weights)[0])
            if query is not None:
                queries.append(query)
        return queries


FTS_PAGE = ("SELECT doc_id, url, highlight(docs, 0, '<b class=\"match\">', '</b>'), "
            "snippet(docs, 1, '<b class=\"match\">', '</b>', '\u2026', 32) FROM docs WHERE docs MATCH ? "
            "ORDER BY bm25(docs, {title}, 1.0, 1.0, 1.0) * (CASE solved WHEN 1 THEN {solved} ELSE 1.0 END) "
            "LIMIT 10")
FTS_COUNT = "SELECT count(*) FROM docs WHERE docs MATCH ?"
FTS_SUGGEST = "SELECT doc_id, title, url FROM docs WHERE docs MATCH ? ORDER BY bm25(docs, 1.0) LIMIT 6"


class Fts:
    """The FTS5 side of each measurement, shaped like one page of the app's results."""

    def __init__(self, conn: sqlite3.Connection):
        from search.schema import RANK_FACTORS, RANK_SOLVED, TITLE_BOOST

        self.conn = conn
        self.page_sql = FTS_PAGE.format(title=TITLE_BOOST, solved=RANK_FACTORS[RANK_SOLVED])

    def search(self, query: Query) -> tuple[int, list]:
        total, rows = self._page(query.fts)
        if not total and query.fts_fallback:
            total, rows = self._page(query.fts_fallback)
        return total, rows

    def _page(self, match: str) -> tuple[int, list]:
        total = self.conn.execute(FTS_COUNT, (match,)).fetchone()[0]
        rows = self.conn.execute(self.page_sql, (match,)).fetchall() if total else []
        return total, rows

    def suggest(self, words: list[str]) -> list:
        if not words:
            return []
        match = "title : (" + " OR ".join(f'"{w}" *' for w in words) + ")"
        return self.conn.execute(FTS_SUGGEST, (match,)).fetchall()


# --- measuring ---------------------------------------------------------------------------------------


@dataclass
class Timing:
    """Latencies in milliseconds."""

    samples: list[float] = field(default_factory=list)

    def add(self, ms: float) -> None:
        self.samples.append(ms)

    def p(self, share: float) -> float:
        return percentile(self.samples, share)

    @property
    def max(self) -> float:
        return max(self.samples, default=0.0)


@dataclass
class QueryRun:
    query: Query
    whoosh_ms: float
    fts_ms: float
    whoosh_total: int
    fts_total: int
    whoosh_message: str | None


def run_queries(app, fts: Fts, queries: list[Query], warmup: list[Query]) -> list[QueryRun]:
    import search
    from search.engine import SLOW_MESSAGE

    clock, runs = time.perf_counter, []
    with app.app_context():
        for query in warmup:
            search.search(query.text)
            fts.search(query)
        for query in queries:
            started = clock()
            result = search.search(query.text)
            middle = clock()
            total, _rows = fts.search(query)
            ended = clock()
            if result.unavailable:
                raise RuntimeError(f"search answered {result.message!r} for {query.text!r}")
            slow = SLOW_MESSAGE if result.message == SLOW_MESSAGE else None
            runs.append(QueryRun(query, (middle - started) * 1000, (ended - middle) * 1000, result.total,
                                 total, slow))
    return runs


def suggestion_texts(docs, seed: int) -> list[str]:
    """Real titles as someone types them: every length from 3 to 20 characters."""
    rng = random.Random(seed + 1)
    titles = [d.title for d in rng.sample(docs, min(SUGGEST_TITLES, len(docs)))]
    return [title[:n] for title in titles for n in SUGGEST_LENGTHS if n <= len(title)]


def run_suggestions(app, fts: Fts, texts: list[str]) -> tuple[Timing, Timing, int]:
    import search
    from search.schema import word_analyzer

    words_of = word_analyzer()
    whoosh, sqlite, empty, clock = Timing(), Timing(), 0, time.perf_counter
    with app.app_context():
        for text in texts[:WARMUP_QUERIES]:
            search.suggest(text)
        for text in texts:
            started = clock()
            found = search.suggest(text)
            middle = clock()
            fts.suggest(list(dict.fromkeys(t.text for t in words_of(text)))[:8])
            ended = clock()
            whoosh.add((middle - started) * 1000)
            sqlite.add((ended - middle) * 1000)
            empty += not found
    return whoosh, sqlite, empty


# --- posting and finding -----------------------------------------------------------------------------


class Worker:
    """`flask jobs worker --queue search` on the copy, its output in a log file."""

    def __init__(self, database: Path, index_dir: Path, redis_url: str, log_path: Path):
        self.env = dict(os.environ, DATABASE_URL=f"sqlite:///{database}", SEARCH_INDEX_DIR=str(index_dir),
                        REDIS_URL=redis_url, PEERLINE_TICKER="0", FLASK_APP="app")
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self, redis) -> None:
        from rq import Worker as RqWorker

        command = [sys.executable, "-m", "flask", "--app", "app", "jobs", "worker", "--queue", "search"]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the worker exited with status {self.process.returncode}\n"
                                   f"{self.log_tail()}")
            if RqWorker.count(connection=redis):
                return
            time.sleep(0.1)
        raise RuntimeError(f"the worker did not start within 60 s\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()  # RQ's warm shutdown: finishes the job in hand
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)  # its own session: the worker and its job child
            self.process.wait()

    def cpu_seconds(self) -> float | None:
        from bench.forum_pages import TICK

        if self.process is None:
            return None
        total, found = 0.0, False
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                text = stat.read_text()
            except OSError:
                continue
            fields = text[text.rindex(")") + 2:].split()
            if int(stat.parent.name) == self.process.pid or int(fields[1]) == self.process.pid:
                # utime, stime, and the children it has waited for (RQ forks a child per job)
                total += sum(int(v) for v in fields[11:15]) / TICK
                found = True
        return total if found else None

    def log_tail(self, lines: int = 30) -> str:
        from bench.forum_pages import log_tail

        return log_tail(self.log_path, lines)


def redacted(url: str) -> str:
    return re.sub(r"//[^@/]*@", "//***@", url)


def redis_for(url: str):
    """A connection to `url`, flushed, or None when Redis does not answer. Raises ValueError for the
    tests' databases (14 and 15)."""
    from redis import Redis
    from redis.exceptions import RedisError

    number = Redis.from_url(url).connection_pool.connection_kwargs.get("db", 0)
    if number in TESTS_REDIS_DBS:
        raise ValueError(f"Redis database {number} belongs to the tests (they flush it); use another")
    redis = Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)
    try:
        redis.flushdb()
    except RedisError:
        return None
    return redis


@dataclass
class Findable:
    mode: str
    seconds: list[float] = field(default_factory=list)  # from calling create_thread to found
    service_ms: list[float] = field(default_factory=list)  # create_thread itself, enqueueing included
    lost: int = 0


def post_and_find(app, count: int, seed: int) -> Findable:
    """Ask `count` questions through the forum's service and time each until search finds it."""
    import sqlalchemy as sa

    import search
    from accounts.models import User
    from bench.generate import question_text, title_text
    from core import jobs
    from core.extensions import db
    from forum.models import Category
    from forum.services import create_thread

    rng = random.Random(seed + 2)
    mode = "RQ worker" if jobs.dispatcher(app).uses_rq else "in-process runner"
    found = Findable(mode)
    with app.app_context():
        search.search("warm up the searcher")
        asker_id = db.session.scalar(sa.select(User.id).where(User.role == "member").order_by(User.id))
        category_ids = list(db.session.scalars(sa.select(Category.id).order_by(Category.id)))
        db.session.remove()
        for n in range(count):
            marker = f"benchmark{rng.randrange(16**8):08x}"
            asker = db.session.get(User, asker_id)
            started = time.perf_counter()
            thread = create_thread(asker, rng.choice(category_ids), f"{title_text(rng)[:180]} {marker}",
                                   f"{question_text(rng)}\n\n{marker}")
            posted = time.perf_counter()
            doc_id = f"thread:{thread.id}"
            db.session.remove()  # no transaction left open while the worker writes
            deadline, ok = started + FIND_TIMEOUT, False
            while not ok:
                result = search.search(marker)
                ok = any(hit.doc_id == doc_id for hit in result.hits)
                if ok:
                    found.seconds.append(time.perf_counter() - started)
                elif time.perf_counter() > deadline:
                    found.lost += 1
                    break
                else:
                    time.sleep(POLL_INTERVAL)
            found.service_ms.append((posted - started) * 1000)
            outcome = f"found after {found.seconds[-1]:.2f} s" if ok else "NOT FOUND"
            print(f"    {n + 1:>2}. {doc_id}: {outcome} (create_thread took {found.service_ms[-1]:.0f} ms)",
                  flush=True)
            time.sleep(0.5)  # one post at a time: the worker is idle again when the next one comes
        if found.mode == "in-process runner":
            jobs.wait_idle()
    return found


# --- reporting ---------------------------------------------------------------------------------------


def ms(value: float) -> str:
    return f"{value:,.1f}"


def print_query_tables(runs: list[QueryRun]) -> None:
    by_shape: dict[str, list[QueryRun]] = defaultdict(list)
    for run in runs:
        by_shape[run.query.shape].append(run)
    header = (f"  {'queries':<10} {'n':>4}  {'Whoosh p50':>10} {'p99':>7}  {'FTS5 p50':>9} {'p99':>6}  "
              f"{'ratio p50':>9}  {'median matches':>14}  {'no results W/F':>14}")
    print(header)
    print("  " + "-" * (len(header) - 2))
    for shape, _weight in SHAPES:
        group = by_shape.get(shape, [])
        if not group:
            continue
        w, f = Timing([r.whoosh_ms for r in group]), Timing([r.fts_ms for r in group])
        ratio = w.p(0.5) / f.p(0.5) if f.p(0.5) else 0.0
        empty = f"{sum(not r.whoosh_total for r in group)}/{sum(not r.fts_total for r in group)}"
        matches = percentile([r.whoosh_total for r in group], 0.5)
        print(f"  {shape:<10} {len(group):>4}  {ms(w.p(0.5)):>10} {ms(w.p(0.99)):>7}  {ms(f.p(0.5)):>9} "
              f"{ms(f.p(0.99)):>6}  {ratio:>8.1f}x  {matches:>14,}  {empty:>14}")
    print(f"\n  slowest {SLOWEST_SHOWN} Whoosh queries (ms; matches found by Whoosh / FTS5):")
    for run in sorted(runs, key=lambda r: -r.whoosh_ms)[:SLOWEST_SHOWN]:
        note = "  (cut short by the time limit)" if run.whoosh_message else ""
        print(f"    {ms(run.whoosh_ms):>7}  FTS5 {ms(run.fts_ms):>6}  {run.whoosh_total:>6,} / "
              f"{run.fts_total:<6,} {run.query.text}{note}")


def verdict(value: float, limit: float) -> str:
    return "PASS" if value < limit else "FAIL"


def print_summary(whoosh: Build, fts_build: Build, runs: list[QueryRun], suggest: tuple[Timing, Timing],
                  found: Findable | None) -> list[str]:
    """The results table; returns the targets missed."""
    wq, fq = Timing([r.whoosh_ms for r in runs]), Timing([r.fts_ms for r in runs])
    ws, fs = suggest
    missed = []
    build = "PASS" if whoosh.rate >= BUILD_RATE else "FAIL"
    if build == "FAIL":
        missed.append(f"index build {whoosh.rate:,.0f} documents/s")
    rows = [
        ("index build, documents", f"{whoosh.documents:,}", f"{fts_build.documents:,}", None, "", ""),
        ("index build, s", f"{whoosh.seconds:.1f}", f"{fts_build.seconds:.1f}",
         whoosh.seconds / fts_build.seconds if fts_build.seconds else 0.0, "", ""),
        ("index build, documents/s", f"{whoosh.rate:,.0f}", f"{fts_build.rate:,.0f}",
         whoosh.rate / fts_build.rate if fts_build.rate else 0.0, f">= {BUILD_RATE:,.0f}", build),
        ("index size, MB", f"{whoosh.size / 1e6:.1f}", f"{fts_build.size / 1e6:.1f}",
         whoosh.size / fts_build.size if fts_build.size else 0.0, "", ""),
    ]
    for name, w, f in (("query", wq, fq), ("suggestion", ws, fs)):
        limit = QUERY_P99_MS if name == "query" else SUGGEST_P99_MS
        for label, share in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", None)):
            wv = w.max if share is None else w.p(share)
            fv = f.max if share is None else f.p(share)
            if name == "suggestion" and label == "p90":
                continue
            target = result = ""
            if label == "p99":
                target, result = f"< {limit:.0f} ms", verdict(wv, limit)
                if result == "FAIL":
                    missed.append(f"{name} p99 {wv:.0f} ms")
            rows.append((f"{name} {label}, ms", ms(wv), ms(fv), wv / fv if fv else 0.0, target, result))
            if name == "query" and label == "p99":
                ratio = wv / fv if fv else 0.0
                result = "PASS" if ratio <= QUERY_P99_RATIO else "FAIL"
                if result == "FAIL":
                    missed.append(f"query p99 {ratio:.1f}x FTS5's")
                rows.append(("query p99, Whoosh/FTS5", "", "", ratio, f"<= {QUERY_P99_RATIO}x", result))
    if found is not None and found.seconds:
        p50, worst = percentile(found.seconds, 0.5), max(found.seconds)
        rows.append((f"findable p50, s ({found.mode})", f"{p50:.2f}", "-", None, "", ""))
        result = verdict(worst, FINDABLE_S) if not found.lost else "FAIL"
        if result == "FAIL":
            lost = f", {found.lost} never found" if found.lost else ""
            missed.append(f"findable max {worst:.2f} s{lost}")
        rows.append(("findable max, s", f"{worst:.2f}", "-", None, f"< {FINDABLE_S:.0f} s", result))
    header = f"{'measure':<34} {'Whoosh':>9} {'FTS5':>9} {'Whoosh/FTS5':>12} {'target':>10} {'result':>7}"
    print(header)
    print("-" * len(header))
    for name, w, f, ratio, target, result in rows:
        shown = "-" if ratio is None else f"{ratio:.1f}x" if ratio >= 0.1 else f"{ratio:.3f}x"
        print(f"{name:<34} {w:>9} {f:>9} {shown:>12} {target:>10} {result:>7}")
    print("(Whoosh/FTS5 on every row. The Whoosh build reads the documents from the database as "
          "`flask search rebuild` does; FTS5's is given them already read)")
    return missed


def print_noise(label: str, busy: tuple[float | None, float | None], ours: float, seconds: float) -> None:
    from bench.forum_pages import NOISY_SHARE

    if None in busy or not seconds:
        return
    other = max(0.0, busy[1] - busy[0] - ours)
    note = f"other processes used {other / seconds:.0%} of a core during {label}"
    if other > NOISY_SHARE * seconds:
        print(f"WARNING: {note}: those numbers are noisy, run again on a quiet machine")
    else:
        print(f"  ({note})")


# --- the run -----------------------------------------------------------------------------------------


def main(argv=None) -> int:
    from bench.forum_pages import code_version, machine_busy_seconds
    from bench.generate import DEFAULT_DATABASE_URL, generate, print_counts, shown, sqlalchemy_url
    from search.engine import SEARCH_TIME_LIMIT

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL,
                        help="the generated community (SQLite), generated if missing (default: %(default)s)")
    parser.add_argument("--queries", type=int, default=300, help="measured queries (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=1, help="seed for the queries and posts")
    parser.add_argument("--find", type=int, default=10, help="questions posted and waited for (0: skip)")
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL),
                        help="Redis for the worker, flushed first; not 14 or 15 (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=10_000, help="threads to generate if missing")
    parser.add_argument("--posts", type=int, default=100_000, help="posts to generate if missing")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (copy and indexes)")
    args = parser.parse_args(argv)
    if args.queries < 10 or args.find < 0:
        parser.error("--queries must be at least 10 and --find not negative")

    try:
        url = sqlalchemy_url(args.database_url)
        if make_url(url).get_backend_name() != "sqlite":
            parser.error("the search benchmark copies the community, so it works on the SQLite file only")
        community = generate(url, threads=args.threads, posts=args.posts)
    except (RuntimeError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print_counts(community["counts"])
    work = Path(tempfile.mkdtemp(prefix="peerline-bench-search-"))
    database, index_dir = work / "community.sqlite3", work / "search-index"
    print(f"\ncode: {code_version()}\ndatabase: {shown(url)}, copied to {database}")
    copy_database(make_url(url).database, database)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    worker = redis = None
    try:
        app = make_app(database, index_dir, None)
        print("\nWhoosh: SearchEngine.rebuild() from the forum's loader (what `flask search rebuild` runs)",
              flush=True)
        whoosh = build_whoosh(app)
        print(f"  {whoosh.documents:,} documents in {whoosh.seconds:.1f} s: {whoosh.rate:,.0f} documents/s, "
              f"index {whoosh.size / 1e6:.1f} MB\n  ({whoosh.note})", flush=True)
        docs, load_seconds = load_documents(app)
        print(f"  (reading those documents through the loader alone takes {load_seconds:.1f} s)")
        if len(docs) != whoosh.documents:
            raise RuntimeError(f"the loader gave {len(docs)} documents, the index holds {whoosh.documents}")
        fts_build, conn = build_fts(docs, work / "fts5.sqlite3")
        print(f"FTS5: the same {fts_build.documents:,} documents in {fts_build.seconds:.1f} s: "
              f"{fts_build.rate:,.0f} documents/s, database {fts_build.size / 1e6:.1f} MB "
              f"({fts_build.note})", flush=True)
        fts = Fts(conn)

        maker = QueryMaker(docs, args.seed)
        queries, warmup = maker.make(args.queries), maker.make(WARMUP_QUERIES)
        print(f"\nqueries: {len(queries)} (seed {args.seed}; {WARMUP_QUERIES} others first as a warm-up), "
              "each through search.search() and FTS5 in turn, first page of 10", flush=True)
        busy, cpu, started = machine_busy_seconds(), time.process_time(), time.perf_counter()
        runs = run_queries(app, fts, queries, warmup)
        texts = suggestion_texts(docs, args.seed)
        suggest_whoosh, suggest_fts, empty = run_suggestions(app, fts, texts)
        elapsed = time.perf_counter() - started
        print_noise("the queries and suggestions", (busy, machine_busy_seconds()), time.process_time() - cpu,
                    elapsed)
        print_query_tables(runs)
        print(f"\nsuggestions: {len(texts)} prefixes of {SUGGEST_TITLES} real titles, 3 to 20 characters as "
              f"typed, through search.suggest() and an FTS5 prefix query on titles ({empty} gave no "
              "suggestion, mostly because only stop words were typed so far: \"How do I\")")

        found = None
        if args.find:
            redis_url = args.redis_url
            redis = redis_for(redis_url)
            if redis is None:
                print(f"\nfindable: Redis does not answer at {redacted(redis_url)}; FALLING BACK to the "
                      "in-process runner (no worker: the job runs in this process)", flush=True)
                redis_url = None
            else:
                worker = Worker(database, index_dir, redis_url, work / "worker.log")
                worker.start(redis)
                print(f"\nfindable: `flask jobs worker --queue search` running (pid {worker.process.pid}, "
                      f"Redis {redacted(redis_url)}, flushed); {args.find} questions through "
                      "forum.services.create_thread, search polled every "
                      f"{POLL_INTERVAL * 1000:.0f} ms", flush=True)
            busy, cpu, cpu_worker = machine_busy_seconds(), time.process_time(), 0.0
            started = time.perf_counter()
            if worker is not None:
                cpu_worker = worker.cpu_seconds() or 0.0
            found = post_and_find(make_app(database, index_dir, redis_url), args.find, args.seed)
            if worker is not None:
                cpu_worker = (worker.cpu_seconds() or 0.0) - cpu_worker
            print_noise("the posts", (busy, machine_busy_seconds()),
                        time.process_time() - cpu + cpu_worker, time.perf_counter() - started)
            if found.lost and worker is not None:
                print(f"worker log:\n{worker.log_tail()}", file=sys.stderr)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except (RuntimeError, ValueError) as error:
        print(f"\nerror: {error}", file=sys.stderr)
        return 1
    finally:
        if worker is not None:
            worker.stop()
        if redis is not None:
            with contextlib.suppress(Exception):  # Redis may be what failed
                redis.flushdb()  # the other jobs create_thread queued (mail, default), never run here
        if args.keep:
            print(f"\nkept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    print(f"\nWhoosh: {whoosh.documents:,} documents ({whoosh.seconds:.1f} s to build); FTS5 in the same run "
          f"({fts_build.seconds:.1f} s)\n")
    missed = print_summary(whoosh, fts_build, runs, (suggest_whoosh, suggest_fts), found)
    slow = sum(bool(r.whoosh_message) for r in runs)
    if slow:
        print(f"{slow} Whoosh queries hit the {SEARCH_TIME_LIMIT:.1f} s time limit and returned partial "
              "results")
    if found is not None and found.lost:
        print(f"\nFAILED: {found.lost} of {args.find} posts were not findable within {FIND_TIMEOUT:.0f} s",
              file=sys.stderr)
        return 1
    if missed:
        print(f"below target: {', '.join(missed)}")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

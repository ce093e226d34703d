"""The fast index writer (search/writing.py) writes the index Whoosh's own writer writes, byte for byte,
so that search finds and ranks the same; and a rebuild finds what indexing one change at a time finds."""

import os
import random
import re

import pytest
from whoosh import index as whoosh_index
from whoosh.writing import SegmentWriter

from search import writing
from search.documents import Document
from search.engine import SearchEngine
from search.schema import EXCERPT_CHARS, SCHEMA, excerpt, to_fields
from search.writing import FastSegmentWriter
from tests.search.conftest import FakeSource, tick

WORDS = ("invoice refund export vat report sync bank rule ledger payout reconcile paywave stripe "
         "café naïve Straße İstanbul ﬁle résumé 4.11.2 v2.0 e-mail how do I the my a is to it").split()


def _documents(count: int, seed: int = 3) -> list[Document]:
    """Documents that exercise the analyzers: stop words first, accents, ligatures, dotted versions,
    repeated words, Markdown marks, empty bodies and bodies long enough for several posting blocks."""
    rng = random.Random(seed)
    docs = []
    for n in range(1, count + 1):
        words = rng.randint(0, 400 if n % 10 == 0 else 60)
        body = " ".join(rng.choice(WORDS) for _ in range(words))
        if n % 7 == 0:
            body = f"How do I **{rng.choice(WORDS)}** the {body}\n\n> quoted `code`"
        title = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 8)))
        kind = "article" if n % 9 == 0 else "thread"
        docs.append(Document(doc_id=f"{kind}:{n}", kind=kind, title=title or "untitled", body=body,
                             tags=rng.sample(["bank-feeds", "vat", "payroll", "Ünïcode"], rng.randint(0, 2)),
                             category=rng.choice(["billing", "banking", ""]), solved=rng.random() < 0.3,
                             url=f"/x/{n}", updated_at=tick()))
    return docs


def _segments(path) -> list[tuple]:
    """Every segment of the index: its documents, deletions and the bytes of each of its files."""
    ix = whoosh_index.open_dir(str(path), indexname="MAIN")
    found = []
    for segment in ix._segments():
        storage = segment.open_compound_file(ix.storage) if segment.is_compound() else ix.storage
        segment_id = segment.segment_id()
        files = {name.replace(segment_id, "SEGMENT"): storage.open_file(name).read()
                 for name in storage.list() if segment_id in name}
        found.append((segment.doc_count_all(), sorted(segment.deleted_docs()), files))
    return found


def _write(path, writer_class, steps, split=False, **options):
    """Run `steps` (lists of ("add" | "update" | "delete", document)) one commit each; with `split`,
    the first step's writer shares its work with forked processes (FastSegmentWriter.split)."""
    path.mkdir()
    ix = whoosh_index.create_in(str(path), SCHEMA, indexname="MAIN")
    for number, step in enumerate(steps):
        writer = writer_class(ix, **options)
        if split and number == 0:
            assert writer.can_split()
            writer.split(len(step))
        for action, doc in step:
            if action == "delete":
                writer.delete_by_term("doc_id", doc.doc_id)
            elif action == "update":
                writer.update_document(**to_fields(doc))
            else:
                writer.add_document(**to_fields(doc))
        writer.commit()
    return _segments(path)


@pytest.mark.parametrize("limitmb", [128, 1], ids=["in memory", "spilled to disk"])
def test_a_build_writes_the_same_bytes_as_whoosh(tmp_path, monkeypatch, limitmb):
    monkeypatch.setattr(writing, "_RUN_CHUNK", 300)  # runs of several chunks when spilled
    docs = _documents(600)
    steps = [[("add", doc) for doc in docs]]
    expected = _write(tmp_path / "whoosh", SegmentWriter, steps)
    assert _write(tmp_path / "fast", FastSegmentWriter, steps, limitmb=limitmb) == expected


@pytest.mark.parametrize("limitmb", [128, 2], ids=["in memory", "spilled to disk"])
@pytest.mark.parametrize("share", [0.66, 0.05, 1.0], ids=["helper first", "helper little", "helper all"])
def test_a_build_shared_by_two_processes_writes_the_same_bytes_as_whoosh(tmp_path, monkeypatch, limitmb,
                                                                          share):
    monkeypatch.setattr(writing, "HELPER_SHARE", share)
    if limitmb < 128:  # runs of many chunks, some skipped by the forked writer; records in many pickles
        monkeypatch.setattr(writing, "_RUN_CHUNK", 300)
        monkeypatch.setattr(writing, "_RECORDED_BATCH", 7)
    docs = _documents(900, seed=4)
    steps = [[("add", doc) for doc in docs]]
    expected = _write(tmp_path / "whoosh", SegmentWriter, steps)
    assert _write(tmp_path / "split", FastSegmentWriter, steps, split=True, limitmb=limitmb) == expected
    assert not list((tmp_path / "split").glob("*.tmp/*"))  # runs, batches and term files removed


@pytest.mark.parametrize("counted", [2000, 100], ids=["fewer than counted", "more than counted"])
def test_a_shared_build_of_another_number_of_documents_than_counted_writes_the_same_bytes(tmp_path, counted):
    # Threads deleted or added between the count and the reading: the helper's share is taken from
    # the count, and it either never comes whole or is soon done.
    docs = _documents(400, seed=9)
    steps = [[("add", doc) for doc in docs]]
    expected = _write(tmp_path / "whoosh", SegmentWriter, steps)
    (tmp_path / "split").mkdir()
    ix = whoosh_index.create_in(str(tmp_path / "split"), SCHEMA, indexname="MAIN")
    writer = FastSegmentWriter(ix)
    writer.split(counted)
    for doc in docs:
        writer.add_document(**to_fields(doc))
    writer.commit()
    assert _segments(tmp_path / "split") == expected


def test_only_a_large_build_on_two_cpus_is_shared(tmp_path, monkeypatch):
    ix = whoosh_index.create_in(str(tmp_path), SCHEMA, indexname="MAIN")
    monkeypatch.setattr(writing, "SPLIT_MIN_DOCUMENTS", 100)
    for cpus, documents, shared in ((2, 100, True), (2, 99, False), (1, 5000, False)):
        monkeypatch.setattr(writing, "cpus", lambda cpus=cpus: cpus)
        writer = writing.build_writer(ix, documents, limitmb=16)
        assert (writer._helper is not None) is shared
        writer.cancel()
    writer = writing.build_writer(ix, 100, limitmb=16)
    writer.add_document(**to_fields(_documents(1)[0]))
    writer.commit()
    monkeypatch.setattr(writing, "cpus", lambda: 2)
    assert not writing.build_writer(ix, 5000, limitmb=16).can_split()  # the index has a segment now


def test_a_build_that_cannot_fork_is_made_here(tmp_path, monkeypatch):
    docs = _documents(300, seed=6)
    steps = [[("add", doc) for doc in docs]]
    expected = _write(tmp_path / "whoosh", SegmentWriter, steps)

    def no_fork():
        raise OSError("no more processes")

    monkeypatch.setattr(writing, "SPLIT_MIN_DOCUMENTS", 100)
    monkeypatch.setattr(writing, "cpus", lambda: 2)
    with monkeypatch.context() as patched:  # the helper: the whole build is made here
        patched.setattr(os, "fork", no_fork)
        (tmp_path / "alone").mkdir()
        ix = whoosh_index.create_in(str(tmp_path / "alone"), SCHEMA, indexname="MAIN")
        writer = writing.build_writer(ix, len(docs), limitmb=16)
        assert writer._helper is None and type(writer.perdocwriter) is not writing._Recorder
        for doc in docs:
            writer.add_document(**to_fields(doc))
        writer.commit()
    assert _segments(tmp_path / "alone") == expected

    forks = []
    real_fork = writing._fork

    def second_fails(work):  # the forked writer: this process writes every term
        forks.append(work)
        if len(forks) == 2:
            raise OSError("no more processes")
        return real_fork(work)

    monkeypatch.setattr(writing, "_fork", second_fails)
    assert _write(tmp_path / "split", FastSegmentWriter, steps, split=True) == expected
    assert len(forks) == 2


def test_a_cancelled_or_failed_shared_build_leaves_no_process_behind(tmp_path):
    ix = whoosh_index.create_in(str(tmp_path), SCHEMA, indexname="MAIN")
    writer = FastSegmentWriter(ix)
    writer.split(100)
    helper = writer._helper.pid
    for doc in _documents(30):
        writer.add_document(**to_fields(doc))
    writer.cancel()
    with pytest.raises(ChildProcessError):
        os.waitpid(helper, os.WNOHANG)
    writer = FastSegmentWriter(ix)
    writer.split(100)
    writer.add_document(**{**to_fields(_documents(1)[0]), "title": 12})  # not text: fails in the helper
    with pytest.raises(RuntimeError, match="helper failed"):
        writer.commit()
    writer.cancel()  # as a caller whose commit failed would
    with whoosh_index.open_dir(str(tmp_path), indexname="MAIN").reader() as reader:
        assert reader.doc_count_all() == 0


def test_updates_deletions_and_merges_write_the_same_bytes_as_whoosh(tmp_path):
    docs = _documents(240, seed=8)
    rng = random.Random(2)
    steps = [[("update", doc) for doc in docs[start:start + 40]] for start in range(0, 240, 40)]
    for _ in range(8):  # small commits: Whoosh's merge policy folds the small segments together
        changed = rng.sample(docs, 5)
        steps.append([("update", Document(**{**doc.__dict__, "body": doc.body + " reconcile again"}))
                      for doc in changed] + [("delete", rng.choice(docs))])
    expected = _write(tmp_path / "whoosh", SegmentWriter, steps)
    assert len(expected) > 1
    assert _write(tmp_path / "fast", FastSegmentWriter, steps) == expected


def _found(engine: SearchEngine, queries) -> list:
    """Per query the number of matches and every document matched; per typed title the suggestions."""
    found = []
    for text in queries:
        first = engine.search(text, per_page=50)
        ids = {hit.doc_id for page in range(1, first.pages + 1)
               for hit in engine.search(text, page=page, per_page=50).hits}
        found.append((first.total, ids, first.suggestion))
    return found + [{hit["doc_id"] for hit in engine.suggest(text)} for text in ("rec", "bank sy", "cafe")]


def test_a_rebuild_finds_what_indexing_each_change_found(tmp_path):
    # The same matches, not the same order: documents of equal score come in the order they were
    # added, and several segments score a few parts in a million apart from one (Whoosh's own writer
    # does both). The tests above hold the fast writer to Whoosh's bytes, and so to its ranking.
    source = FakeSource()
    for doc in _documents(300, seed=11):
        source.docs[doc.doc_id] = doc
    queries = ["invoice", "refund vat", '"bank rule"', "title:ledger", "cafe", "strasse", "4.11.2",
               "reconcle", "tag:vat payout", "istanbul OR file"]
    one_by_one = SearchEngine(tmp_path / "incremental", source.registry())
    docs = list(source.docs.values())
    for start in range(0, len(docs), 25):
        one_by_one.index(docs[start:start + 25])
    rebuilt = SearchEngine(tmp_path / "rebuilt", source.registry())
    assert rebuilt.rebuild() == len(docs)
    try:
        expected = _found(one_by_one, queries)
        assert sum(bool(total) for total, _ids, _suggestion in expected[:len(queries)]) >= 6
        assert expected[queries.index("reconcle")][2] == "reconcile"
        assert _found(rebuilt, queries) == expected
    finally:
        one_by_one.close()
        rebuilt.close()


def test_a_rebuild_on_two_cpus_writes_what_one_process_writes(tmp_path, monkeypatch):
    source = FakeSource()
    for doc in _documents(300, seed=12):
        source.docs[doc.doc_id] = doc
    alone = SearchEngine(tmp_path / "alone" / "index", source.registry())
    assert alone.rebuild(batch_size=40) == 300
    monkeypatch.setattr(writing, "SPLIT_MIN_DOCUMENTS", 50)
    monkeypatch.setattr(writing, "cpus", lambda: 2)
    made = []
    monkeypatch.setattr(FastSegmentWriter, "split", lambda self, n, split=FastSegmentWriter.split:
                        (made.append(n), split(self, n))[1])
    shared = SearchEngine(tmp_path / "shared" / "index", source.registry())
    assert shared.rebuild(batch_size=40) == 300
    assert made == [300]
    assert _segments(shared.path) == _segments(alone.path)
    assert shared.status().total == 300


def test_an_excerpt_is_the_whole_body_folded_then_cut():
    def folded_then_cut(text, limit):
        folded = re.sub(r"\s+", " ", text).strip()
        if len(folded) <= limit:
            return folded
        cut = folded.rfind(" ", 0, limit)
        return folded[: cut if cut > limit // 2 else limit]

    rng = random.Random(5)
    pieces = ["word", "a", " ", "\n\n", "\t", "   ", "\u2003", "\xa0", "\x1c", "x" * 40, "Straße"]
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 300)))
        for limit in (1, 7, 40, 300):
            assert excerpt(text, limit) == folded_then_cut(text, limit), (text, limit)
    for doc in _documents(50, seed=4):
        assert excerpt(doc.body) == folded_then_cut(doc.body, EXCERPT_CHARS)

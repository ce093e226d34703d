"""A missing or corrupt index, rebuilding beside the live one, reconciling drift, and one writer at a time."""

import os
import shutil
import threading
import time

import pytest
from whoosh import index as whoosh_index

from search import engine as engine_module
from search.engine import UNAVAILABLE_MESSAGE, SearchEngine, SearchIndexBusy
from tests.search.conftest import tick


def ids(results):
    return [hit.doc_id for hit in results.hits]


def fill(source, n=5):
    for i in range(1, n + 1):
        source.put(f"thread:{i}", f"Router question {i}", f"The router drops wifi on floor {i}.",
                   solved=i % 2 == 0)
    source.put("article:1", "Router setup guide", "Place the router centrally.")


def corrupt(index_dir):
    for path in index_dir.iterdir():
        if path.is_file():
            path.write_bytes(b"\x00garbage\xff" * 64)


def assert_unavailable(engine):
    results = engine.search("router")
    assert results.unavailable and results.message == UNAVAILABLE_MESSAGE and results.hits == ()
    assert engine.suggest("rou") == []
    status = engine.status()
    assert not status.available and status.counts == {}


def test_a_missing_index_says_it_is_being_rebuilt(engine, index_dir):
    assert not index_dir.exists()
    assert_unavailable(engine)
    assert not index_dir.exists()  # readers never create it


def test_the_first_write_creates_a_missing_index(engine, source, index_dir):
    engine.index([source.put("thread:1", "Router", "wifi")])
    assert ids(engine.search("router")) == ["thread:1"]


def test_a_corrupt_index_is_unavailable_then_rebuilt(engine, source, index_dir):
    fill(source)
    engine.rebuild()
    assert len(engine.search("router").hits) == 6
    engine.close()  # as after a restart: the damage is found when the index is opened
    corrupt(index_dir)
    assert_unavailable(engine)
    source.put("thread:99", "Router firmware", "new firmware")
    assert engine.sync(["thread:99"]) == {"indexed": 0, "removed": 0, "unknown": 0}  # skipped, not raised
    time.sleep(engine_module.REOPEN_AFTER)
    assert_unavailable(engine)
    assert engine.rebuild() == 7
    assert len(engine.search("router").hits) == 7
    assert engine.status().counts == {"thread": 6, "article": 1}


def test_an_index_deleted_while_in_use_is_unavailable_until_rebuilt(engine, source, index_dir):
    fill(source)
    engine.rebuild()
    assert engine.search("router").hits
    shutil.rmtree(index_dir)
    assert_unavailable(engine)
    assert engine.reconcile()["rebuilt"] == 6
    assert len(engine.search("router").hits) == 6


def test_reconcile_rebuilds_a_corrupt_index(engine, source, index_dir):
    fill(source)
    engine.rebuild()
    engine.close()
    corrupt(index_dir)
    counts = engine.reconcile()
    assert counts["rebuilt"] == 6
    assert len(engine.search("router").hits) == 6


def test_an_index_from_another_schema_counts_as_corrupt(engine, source, index_dir):
    from whoosh.fields import ID, Schema

    index_dir.mkdir()
    whoosh_index.create_in(str(index_dir), Schema(doc_id=ID(stored=True)), indexname="MAIN")
    assert_unavailable(engine)
    fill(source)
    engine.rebuild()
    assert len(engine.search("router").hits) == 6


def test_rebuild_reports_progress_and_swaps_atomically(engine, source, index_dir):
    fill(source, 12)
    engine.index([source.put("thread:500", "Old router thread", "to be dropped")])
    source.drop("thread:500")
    seen = []
    assert engine.rebuild(progress=lambda done, total: seen.append((done, total)), batch_size=5) == 13
    assert seen[0] == (0, 13) and seen[-1] == (13, 13) and len(seen) == 5  # 12 threads by 5, then 1 article
    assert [done for done, _total in seen] == sorted(done for done, _total in seen)
    assert engine.status().counts == {"thread": 12, "article": 1}
    leftovers = [p.name for p in index_dir.parent.iterdir() if p.name.startswith(f".{index_dir.name}.")
                 and not p.name.endswith(".lock")]
    assert leftovers == []


def test_readers_keep_working_through_a_rebuild(engine, source, index_dir):
    fill(source)
    engine.rebuild()
    stop, failures, answers = threading.Event(), [], []

    def read():
        while not stop.is_set():
            results = engine.search("router")
            answers.append(len(results.hits))
            if results.unavailable:
                failures.append(results)

    readers = [threading.Thread(target=read) for _ in range(4)]
    for reader in readers:
        reader.start()
    for _ in range(12):  # enough swaps that a reader opening the index mid-swap is all but certain
        engine.rebuild()
    stop.set()
    for reader in readers:
        reader.join()
    assert not failures and answers and set(answers) == {6}


def test_rebuild_catches_up_with_changes_made_while_it_ran(source, index_dir):
    fill(source)
    live = SearchEngine(index_dir, source.registry())
    live.rebuild()
    registry = source.registry()
    original = registry._types["article"].load

    def slow_load(keys):  # while the rebuild reads, a job changes a thread in the live index
        source.put("thread:1", "Router replaced", "We sent a new mesh unit.")
        live.sync(["thread:1"])
        return original(keys)

    registry.register("article", load=slow_load, all_ids=registry._types["article"].all_ids,
                      count=registry._types["article"].count)
    SearchEngine(index_dir, registry).rebuild()
    assert ids(live.search("mesh")) == ["thread:1"]


def test_only_one_rebuild_at_a_time(source, index_dir):
    fill(source)
    registry = source.registry()
    started, release = threading.Event(), threading.Event()
    original = registry._types["thread"].load

    def blocking_load(keys):
        started.set()
        release.wait(10)
        return original(keys)

    registry.register("thread", load=blocking_load, all_ids=registry._types["thread"].all_ids,
                      count=registry._types["thread"].count)
    first = threading.Thread(target=SearchEngine(index_dir, registry).rebuild)
    first.start()
    assert started.wait(10)
    other = SearchEngine(index_dir, source.registry())
    with pytest.raises(SearchIndexBusy):
        other.rebuild()
    # A job writing while the very first index is being built skips; the rebuild reads after it.
    assert other.index([source.put("thread:77", "Router", "x")]) == 0
    release.set()
    first.join()
    assert len(other.search("router").hits) == 7  # the catch-up after the swap indexed thread:77


def test_reconcile_repairs_added_removed_and_changed_documents(engine, source):
    fill(source)
    engine.rebuild()
    source.put("thread:6", "Router reboot loop", "It restarts every hour.")  # never indexed
    source.drop("thread:2")  # deleted while its job was lost
    source.put("thread:3", "Mesh network question", "Renamed while the worker was down.", updated_at=tick())
    counts = engine.reconcile()
    assert counts == {"added": 1, "updated": 1, "removed": 1, "rebuilt": 0}
    assert set(ids(engine.search("router", per_page=50))) == {"thread:1", "thread:4", "thread:5", "thread:6",
                                                             "article:1"}
    assert ids(engine.search("mesh")) == ["thread:3"]
    assert engine.reconcile() == {"added": 0, "updated": 0, "removed": 0, "rebuilt": 0}


def test_writers_wait_for_the_lock_instead_of_failing(engine, source, index_dir):
    fill(source, 1)
    engine.rebuild()
    holder = whoosh_index.open_dir(str(index_dir), indexname="MAIN").writer()  # another process's writer
    threading.Timer(1.0, holder.cancel).start()
    started = time.monotonic()
    assert engine.index([source.put("thread:2", "Router waits", "for the lock")]) == 1
    assert time.monotonic() - started >= 0.9
    assert ids(engine.search("waits")) == ["thread:2"]


def test_a_writer_that_never_gets_the_lock_raises_busy_for_the_job_to_retry(engine, source, index_dir,
                                                                            monkeypatch):
    fill(source, 1)
    engine.rebuild()
    monkeypatch.setattr(engine_module, "WRITE_LOCK_TIMEOUT", 0.3)
    holder = whoosh_index.open_dir(str(index_dir), indexname="MAIN").writer()
    try:
        with pytest.raises(SearchIndexBusy):
            engine.index([source.put("thread:2", "Router", "x")])
    finally:
        holder.cancel()
    assert engine.index([source.put("thread:2", "Router", "x")]) == 1


def test_concurrent_writers_in_one_process_do_not_collide(engine, source):
    fill(source, 1)
    engine.rebuild()
    errors = []

    def write(n):
        try:
            for i in range(5):
                engine.index([source.put(f"thread:{n * 100 + i}", f"Parallel router {n}", "x")])
        except Exception as exc:  # noqa: BLE001 - any error fails the test below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(1, 5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert engine.status().counts["thread"] == 21


def test_a_forked_process_opens_its_own_searchers(engine, source):
    fill(source, 2)
    engine.rebuild()
    assert engine.search("router").hits
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        os.close(read)
        ok = len(engine.search("router").hits) == 3
        os.write(write, b"1" if ok else b"0")
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    assert os.read(read, 1) == b"1"
    assert len(engine.search("router").hits) == 3


def test_reconcile_on_a_new_empty_index_does_not_fail(tmp_path):
    """A fresh install runs the periodic reconcile before anything was ever indexed."""
    from search import Registry, SearchEngine

    engine = SearchEngine(str(tmp_path / "fresh-index"), Registry())
    assert engine.reconcile()["added"] == 0


def test_an_empty_index_works(engine, source, caplog):
    assert engine.rebuild() == 0  # a new site: nothing to index yet
    assert engine.status().available and engine.status().counts == {}
    results = engine.search("router")
    assert not results.unavailable and results.total == 0
    assert engine.suggest("rou") == [] and engine.search("ruoter").suggestion is None
    assert engine.reconcile() == {"added": 0, "updated": 0, "removed": 0, "rebuilt": 0}
    engine.index([source.put("thread:1", "Router", "wifi")])
    engine.remove(["thread:1"])  # a segment whose only document is deleted
    assert engine.suggest("rou") == [] and engine.search("router").total == 0
    assert "failed" not in caplog.text

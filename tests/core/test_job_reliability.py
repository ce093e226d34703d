"""Jobs under a busy or unlucky day: batches, heartbeats, dead workers, and commits that never wait
on a second database connection."""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from redis import Redis

from core import clock, jobs
from core.extensions import db
from forum import notices
from tests import jobs_for_tests
from tests.conftest import worker_env
from tests.factories import PASSWORD, make_answer, make_thread, make_user
from tests.services import REDIS_URL, redis_available, require

# About jobs: they run as soon as they are committed, as in production (conftest.make_app).
pytestmark = pytest.mark.live_jobs

ROOT = Path(__file__).resolve().parents[2]


def rows():
    """Every outbox row as plain values, the transaction ended (on SQLite it would hold the write
    lock that a worker in another process needs)."""
    found = {row.id: row for row in db.session.execute(
        sa.select(jobs.JobRecord.id, jobs.JobRecord.status, jobs.JobRecord.attempts))}
    db.session.commit()
    return found


def enqueue_each(func, *calls):
    """Enqueue one job per call, each in its own transaction, as separate requests would."""
    ids = []
    for args in calls:
        record = jobs.enqueue(func, args)
        db.session.commit()
        ids.append(record.id)
    return ids


def test_waiting_jobs_of_a_batched_function_run_once_together(redis_app, tmp_path):
    # With Redis and no worker running, the jobs wait; the first one to run takes the others along.
    trace = str(tmp_path / "trace.txt")
    first, second, third = enqueue_each(jobs_for_tests.record_batch, [trace, "a"], [trace, "b"], [trace, "a"])
    assert sorted(jobs.execute(first)) == [first, second, third]
    assert Path(trace).read_text() == "a b\n"  # one run, each item once
    assert {row.status for row in rows().values()} == {"done"}
    assert jobs.execute(second) == []  # its own delivery finds nothing left to do
    assert Path(trace).read_text() == "a b\n"


def test_one_bad_job_does_not_fail_the_jobs_it_was_batched_with(redis_app, tmp_path):
    trace = str(tmp_path / "trace.txt")
    good, bad, other = enqueue_each(jobs_for_tests.record_batch_unless_bad,
                                    [trace, "one"], ["bad"], [trace, "two"])
    assert jobs.execute(good) == [good, other]  # the batch failed; each ran again on its own
    assert Path(trace).read_text() == "one\ntwo\n"
    found = rows()
    assert (found[good].status, found[other].status) == ("done", "done")
    assert (found[bad].status, found[bad].attempts) == ("pending", 1)  # waits for its own turn
    with pytest.raises(RuntimeError, match="a bad item in a batch of 1"):
        jobs.execute(bad)
    assert (rows()[bad].status, rows()[bad].attempts) == ("failed", 2)


def test_a_job_taken_along_that_keeps_failing_ends_failed(redis_app, tmp_path):
    trace = str(tmp_path / "trace.txt")
    first, bad = enqueue_each(jobs_for_tests.record_batch_unless_bad, [trace, "fine"], ["bad"])
    db.session.execute(sa.update(jobs.JobRecord).where(jobs.JobRecord.id == bad)
                       .values(attempts=jobs.MAX_ATTEMPTS - 1))
    db.session.commit()
    assert jobs.execute(first) == [first]
    assert (rows()[bad].status, rows()[bad].attempts) == ("failed", jobs.MAX_ATTEMPTS)


def test_a_running_job_is_left_alone_while_its_heartbeat_lasts(redis_app, tmp_path):
    # With Redis and no worker, nothing runs the job behind the test's back.
    trace = tmp_path / "trace.txt"
    record = jobs.enqueue(jobs_for_tests.append_line, str(trace), "x")
    db.session.flush()
    started = clock.now() - timedelta(hours=3)  # a long job...
    record.status, record.started_at, record.heartbeat_at = "running", started, clock.now()  # ...still alive
    record_id = record.id
    db.session.commit()
    assert jobs.relay_outbox()["abandoned"] == 0
    assert jobs.execute(record_id) == []
    db.session.execute(sa.update(jobs.JobRecord).values(heartbeat_at=clock.now() - timedelta(minutes=2)))
    db.session.commit()
    assert jobs.relay_outbox()["abandoned"] == 1  # its worker died: hand it on again
    assert rows()[record_id].status == "queued"
    assert jobs.execute(record_id) == [record_id]
    assert trace.read_text() == "x\n"


def test_the_heartbeat_keeps_a_long_job_from_being_taken_for_abandoned(make_app, tmp_path):
    app = make_app("sqlite", PEERLINE_JOB_HEARTBEAT_SECONDS=0.1, PEERLINE_JOB_ABANDONED_AFTER=1.2)
    trace = tmp_path / "trace.txt"
    with app.app_context():
        record = jobs.enqueue(jobs_for_tests.sleep_then_append, str(trace), 3, "slow")
        db.session.flush()
        record_id = record.id
        db.session.commit()
        time.sleep(2.0)  # well past ABANDONED_AFTER since it started; twenty beats since
        row = rows()[record_id]
        assert row.status == "running"
        assert jobs.relay_outbox()["abandoned"] == 0
        jobs.wait_idle()
        assert trace.read_text() == "slow\n"


def test_in_process_queues_do_not_wait_for_each_other(make_app, tmp_path):
    """A slow mail job (or a mail backlog) must not hold up indexing or the periodic jobs."""
    app = make_app("sqlite")
    slow, quick = tmp_path / "slow.txt", tmp_path / "quick.txt"
    with app.app_context():
        jobs.enqueue(jobs_for_tests.sleep_then_append, str(slow), 2, "mail", queue="mail")
        db.session.commit()
        jobs.enqueue(jobs_for_tests.append_line, str(quick), "search", queue="search")
        db.session.commit()
        deadline = time.monotonic() + 1.5
        while not quick.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert quick.exists() and not slow.exists()
        jobs.wait_idle()
        assert slow.read_text() == "mail\n"


def _children(pid: int) -> list[int]:
    """The processes `pid` started (RQ's work horse starts a session of its own)."""
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


@pytest.mark.parametrize("queue_name", ["search", "default"])
def test_a_job_whose_worker_was_killed_runs_again_once_a_worker_is_back(redis_app, tmp_path, queue_name):
    """kill -9 of a worker (and of its work horse, where it forks one) in the middle of a job, as a
    machine that loses power or an OOM kill would: the restarted worker runs the job again."""
    env = worker_env(redis_app, PEERLINE_JOB_HEARTBEAT_SECONDS="0.2", PEERLINE_JOB_ABANDONED_AFTER="1")
    trace = tmp_path / "trace.txt"
    record = jobs.enqueue(jobs_for_tests.slow_the_first_time, str(trace), 60, queue=queue_name)
    db.session.flush()
    record_id = record.id  # read before the commit: reading an expired object opens a transaction
    db.session.commit()
    worker = subprocess.Popen([sys.executable, "-m", "flask", "jobs", "worker", "--queue", queue_name],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not Path(str(trace) + ".started").exists():
            assert time.monotonic() < deadline, "the worker never started the job"
            time.sleep(0.1)
        time.sleep(0.5)  # a heartbeat or two
        assert rows()[record_id].status == "running"
    finally:
        for pid in [*_children(worker.pid), worker.pid]:
            os.kill(pid, signal.SIGKILL)
        worker.wait(10)
    assert rows()[record_id].status == "running"  # nobody told the database
    time.sleep(1.3)  # the heartbeat has been silent for longer than PEERLINE_JOB_ABANDONED_AFTER
    restarted = subprocess.run([sys.executable, "-m", "flask", "jobs", "worker", "--burst", "--queue",
                                queue_name], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert restarted.returncode == 0, restarted.stderr[-3000:]
    assert "'abandoned': 1" in restarted.stdout  # the relay a worker runs when it starts
    row = rows()[record_id]
    assert (row.status, row.attempts) == ("done", 2)
    assert trace.read_text() == "done\n"


@pytest.mark.parametrize("backend_name", ["sqlite", "postgresql"])
def test_posting_with_redis_never_needs_a_second_database_connection(make_app, backend_name):
    """The request holds its connection through the commit; handing jobs on must not take another,
    or a busy server runs its pool dry and answers 500 for posts it saved."""
    require(redis_available(), f"Redis is not reachable at {REDIS_URL}")
    Redis.from_url(REDIS_URL).flushdb()
    app = make_app(backend_name, REDIS_URL=REDIS_URL, SQLALCHEMY_ENGINE_OPTIONS={
        "pool_size": 1, "max_overflow": 0, "pool_timeout": 2})
    try:
        with app.app_context():
            thread_id = make_thread(title="One connection is enough").id
            name = make_user().username
            db.session.commit()
        client = app.test_client()
        assert client.post("/signin", data={"login": name, "password": PASSWORD}).status_code == 302
        with app.app_context():
            pool = db.engine.pool
        in_use, most = [0], [0]

        def checkout(*_):
            in_use[0] += 1
            most[0] = max(most[0], in_use[0])

        def checkin(*_):
            in_use[0] -= 1

        sa.event.listen(pool, "checkout", checkout)
        sa.event.listen(pool, "checkin", checkin)
        try:
            response = client.post(f"/t/{thread_id}/reply", data={"body": "Posted with one connection."})
        finally:
            sa.event.remove(pool, "checkout", checkout)
            sa.event.remove(pool, "checkin", checkin)
        assert response.status_code == 302, response.text[-500:]
        assert most[0] == 1  # a second one would have waited out pool_timeout, then failed the post
    finally:
        Redis.from_url(REDIS_URL).flushdb()


def test_a_reply_and_its_index_job_are_saved_in_one_commit(app):
    thread, helper = make_thread(title="Count the commits"), make_user()
    commits = []

    def count(session):
        commits.append(session)

    sa.event.listen(db.session(), "after_commit", count)
    try:
        post = make_answer(thread, helper, body="One commit for the post and its jobs.")
    finally:
        sa.event.remove(db.session(), "after_commit", count)
    assert len(commits) == 1
    post_created = post.created_at
    db.session.rollback()  # anything added after the commit, and not committed, goes
    funcs = set(db.session.scalars(sa.select(jobs.JobRecord.func).where(
        jobs.JobRecord.created_at >= post_created)))
    assert {"search.jobs:index_documents", "forum.jobs:notify_new_post"} <= funcs


def test_a_reply_notifies_every_follower_from_one_job(app):
    from tests.conftest import outbox_messages

    asker = make_user()
    thread = make_thread(asker, title="Many followers")
    followers = [make_user() for _ in range(4)]
    for person in followers:

        notices.set_following(person, thread, True)
    jobs.wait_idle()
    answer = make_answer(thread, body="Here is the fix.")
    mail_jobs = list(db.session.scalars(sa.select(jobs.JobRecord).where(
        jobs.JobRecord.queue == "mail", jobs.JobRecord.created_at >= answer.created_at)))
    assert len(mail_jobs) == 1
    db.session.commit()  # on SQLite the test's transaction would keep the job from writing
    jobs.wait_idle()
    assert sorted(m["To"] for m in outbox_messages(app)) == sorted(p.email for p in [asker, *followers])
    assert list(db.session.scalars(sa.select(jobs.JobRecord.func).where(jobs.JobRecord.queue == "mail"))) \
        == ["forum.jobs:notify_new_post"]

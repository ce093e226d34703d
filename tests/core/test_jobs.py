"""The job outbox: inline without Redis, a real RQ worker with it, the relay, periodic jobs."""

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from redis import Redis

from accounts import services
from app import CRON_TABLE
from core import clock, jobs
from core.extensions import db
from tests import jobs_for_tests
from tests.conftest import outbox_links, run_worker
from tests.factories import make_user
from tests.services import REDIS_URL, redis_available, require

# About jobs: they run as soon as they are committed, as in production (conftest.make_app).
pytestmark = pytest.mark.live_jobs

ROOT = Path(__file__).resolve().parents[2]


def records():
    return list(db.session.scalars(sa.select(jobs.JobRecord).order_by(jobs.JobRecord.id)))


def test_a_job_runs_in_process_after_commit_without_redis(app, tmp_path):
    trace = tmp_path / "trace.txt"
    record = jobs.enqueue(jobs_for_tests.append_line, str(trace), "hello")
    assert not trace.exists()  # nothing runs before the commit
    db.session.commit()
    jobs.wait_idle()
    assert trace.read_text() == "hello\n"
    db.session.refresh(record)
    assert (record.status, record.attempts) == ("done", 1)


def test_a_rolled_back_job_never_runs(app, tmp_path):
    trace = tmp_path / "trace.txt"
    jobs.enqueue(jobs_for_tests.append_line, str(trace), "never")
    db.session.flush()  # the row existed in the transaction...
    db.session.rollback()  # ...and went with it
    db.session.commit()
    jobs.wait_idle()
    assert not trace.exists()
    assert records() == []


def test_a_job_run_twice_does_its_work_once(app, tmp_path):
    trace = tmp_path / "trace.txt"
    record = jobs.enqueue(jobs_for_tests.append_line, str(trace), "once")
    db.session.commit()
    jobs.wait_idle()
    jobs.execute(record.id)  # a second delivery, as RQ may make
    assert trace.read_text() == "once\n"


def test_a_job_running_elsewhere_is_not_started_again(app, tmp_path):
    trace = tmp_path / "trace.txt"
    record = jobs.enqueue(jobs_for_tests.append_line, str(trace), "x")
    db.session.flush()
    record.status, record.started_at = "running", clock.now()  # another worker has it
    db.session.commit()
    jobs.execute(record.id)
    assert not trace.exists()


def test_a_job_abandoned_by_a_dead_worker_is_run_again_by_the_relay(app, tmp_path):
    trace = tmp_path / "trace.txt"
    record = jobs.enqueue(jobs_for_tests.append_line, str(trace), "again")
    db.session.flush()
    record.status, record.started_at, record.attempts = "running", clock.now() - timedelta(hours=2), 1
    # Committed through the dispatcher's back door: handed to the in-process runner now, the
    # abandoned row could be claimed by it before the relay looks.
    db.session.info.pop(jobs.dispatch._SESSION_KEY, None)
    db.session.commit()
    assert jobs.relay_outbox()["abandoned"] == 1
    jobs.wait_idle()
    db.session.refresh(record)
    assert (record.status, record.attempts, trace.read_text()) == ("done", 2, "again\n")


def test_a_job_whose_function_is_gone_is_marked_failed(app, runner):
    record = jobs.enqueue(jobs_for_tests.append_line, "x", "y")
    record.func = "tests.jobs_for_tests:renamed_since"
    db.session.commit()
    jobs.wait_idle()
    db.session.refresh(record)
    assert record.status == "failed"
    assert "renamed_since" in record.last_error
    assert f"#{record.id}" in runner.invoke(args=["jobs", "status"]).output


def test_a_failing_job_is_recorded_and_reported(app, runner):
    record = jobs.enqueue(jobs_for_tests.explode, "the printer is on fire")
    db.session.commit()
    jobs.wait_idle()
    db.session.refresh(record)
    assert record.status == "failed"
    assert "the printer is on fire" in record.last_error
    output = runner.invoke(args=["jobs", "status"]).output
    assert f"#{record.id} tests.jobs_for_tests:explode" in output
    assert "RuntimeError: the printer is on fire" in output


def test_failed_in_process_jobs_are_retried_by_the_relay(app, tmp_path):
    record = jobs.enqueue(jobs_for_tests.explode, "flaky")
    db.session.commit()
    jobs.wait_idle()
    db.session.execute(sa.update(jobs.JobRecord).values(finished_at=clock.now() - timedelta(hours=1)))
    db.session.commit()
    counts = jobs.relay_outbox()
    jobs.wait_idle()
    db.session.refresh(record)
    assert counts["retried"] == 1
    assert record.attempts == 2


@pytest.mark.parametrize(
    ("func", "args", "message"),
    [
        (lambda: None, (), "module-level functions"),
        (jobs_for_tests.append_line, (object(),), "JSON values"),
    ],
)
def test_enqueue_refuses_what_a_worker_could_not_run(app, func, args, message):
    with pytest.raises(ValueError, match=message):
        jobs.enqueue(func, *args)


def test_enqueue_refuses_an_unknown_queue(app):
    with pytest.raises(ValueError, match="unknown queue"):
        jobs.enqueue(jobs_for_tests.append_line, "x", "y", queue="nope")


def test_a_job_enqueued_with_redis_runs_on_a_real_rq_worker(redis_app):
    from rq import Queue

    make_user(username="ada")
    services.request_password_reset("ada@example.com")
    [record] = records()
    # Handed to RQ after the commit without touching the database again; the relay, finding it in
    # Redis, would mark it queued.
    assert record.status == "pending"
    assert Queue("mail", connection=Redis.from_url(REDIS_URL)).count == 1
    assert outbox_links(redis_app) == []
    run_worker(redis_app)
    db.session.expire_all()
    assert records()[0].status == "done"
    [link] = outbox_links(redis_app)
    assert link.startswith("http://peerline.test/password/reset/")


def test_posting_works_while_redis_is_down_and_the_relay_catches_up(make_app, backend):
    require(redis_available(), f"Redis is not reachable at {REDIS_URL}")
    Redis.from_url(REDIS_URL).flushdb()
    app = make_app(backend, REDIS_URL="redis://127.0.0.1:9/0")  # nothing listens on port 9
    with app.app_context():
        make_user(username="ada")
        services.request_password_reset("ada@example.com")  # must not raise
        [record] = records()
        assert record.status == "pending"
        # Redis is back: the relay finds the job that never reached it.
        disp = jobs.dispatcher(app)
        disp.redis_url, disp._redis = REDIS_URL, None
        app.config["REDIS_URL"] = REDIS_URL
        db.session.execute(sa.update(jobs.JobRecord).values(created_at=clock.now() - timedelta(minutes=5)))
        db.session.commit()
        assert jobs.relay_outbox()["resent"] == 1
        db.session.expire_all()
        assert records()[0].status == "queued"
        run_worker(app)
        db.session.expire_all()
        assert records()[0].status == "done"
        assert len(outbox_links(app)) == 1
    Redis.from_url(REDIS_URL).flushdb()


def test_the_relay_resends_jobs_that_redis_lost(redis_app):
    make_user(username="ada")
    services.request_password_reset("ada@example.com")
    db.session.execute(sa.update(jobs.JobRecord).values(created_at=clock.now() - timedelta(minutes=10)))
    db.session.commit()
    assert jobs.relay_outbox() == {"resent": 0, "abandoned": 0, "lost": 0, "retried": 0, "pruned": 0}
    db.session.expire_all()
    assert records()[0].status == "queued"  # the relay found it in Redis
    Redis.from_url(REDIS_URL).flushdb()  # Redis restarted without persistence
    db.session.execute(sa.update(jobs.JobRecord).values(dispatched_at=clock.now() - timedelta(minutes=10)))
    db.session.commit()
    assert jobs.relay_outbox()["lost"] == 1
    run_worker(redis_app)
    db.session.expire_all()
    assert records()[0].status == "done"
    assert len(outbox_links(redis_app)) == 1


def test_status_shows_rq_queue_depths(redis_app):
    make_user(username="ada")
    services.request_password_reset("ada@example.com")
    output = redis_app.test_cli_runner().invoke(args=["jobs", "status"]).output
    assert "Mode: RQ at redis://" in output
    assert "mail     waiting 1" in output


def test_periodic_jobs_are_claimed_once_per_interval(app):
    now = clock.now()
    assert {entry.id for entry in jobs.claim_due_periodic(now)} == {e.id for e in CRON_TABLE}
    assert jobs.claim_due_periodic(now + timedelta(seconds=1)) == []
    later = jobs.claim_due_periodic(now + timedelta(seconds=61))
    assert {entry.id for entry in later} == {e.id for e in CRON_TABLE if e.every <= 61}
    assert {e.id for e in CRON_TABLE if e.every > 61}  # and some are not due yet


def test_status_shows_the_last_run_of_each_periodic_job(app, runner):
    before = runner.invoke(args=["jobs", "status"]).output
    assert "core.relay-outbox" in before and "not run yet" in before
    result = runner.invoke(args=["jobs", "run", "core.relay-outbox"])
    assert result.exit_code == 0, result.output
    after = runner.invoke(args=["jobs", "status"]).output
    line = next(line for line in after.splitlines() if "core.relay-outbox" in line)
    assert "(done, 1 runs)" in line and "never" not in line.split("next due")[0]


def test_running_an_unknown_periodic_job_says_which_exist(app, runner):
    result = runner.invoke(args=["jobs", "run", "no.such-job"])
    assert result.exit_code == 2
    assert "core.relay-outbox" in result.output


def test_the_cron_table_reaches_rq_cron(redis_app):
    from rq.cron import CronScheduler

    scheduler = CronScheduler(connection=Redis.from_url(REDIS_URL))
    for entry in jobs.cron_table(redis_app).values():
        scheduler.register(jobs.run_periodic, queue_name=entry.queue, args=(entry.id,),
                           interval=entry.every, name=entry.id)
    enqueued = scheduler.enqueue_jobs()
    assert {job.name for job in enqueued} == {entry.id for entry in CRON_TABLE}
    run_worker(redis_app)
    runs = {run.id: (run.last_status, run.last_error)
            for run in db.session.scalars(sa.select(jobs.PeriodicRun))}
    assert runs == {entry.id: ("done", None) for entry in CRON_TABLE}


def test_a_savepoint_rolled_back_keeps_the_jobs_of_the_outer_transaction(app, tmp_path):
    from core.extensions import after_commit

    trace, called = tmp_path / "trace.txt", []
    jobs.enqueue(jobs_for_tests.append_line, str(trace), "outer")
    after_commit(lambda: called.append("outer"))
    db.session.flush()
    with pytest.raises(RuntimeError), db.session.begin_nested():  # a double click's race, say
        jobs.enqueue(jobs_for_tests.append_line, str(trace), "inner")
        db.session.flush()
        raise RuntimeError("the savepoint rolls back")
    db.session.commit()
    jobs.wait_idle()
    assert trace.read_text() == "outer\n"
    assert called == ["outer"]

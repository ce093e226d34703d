"""`flask jobs ...`: status, RQ workers, the RQ cron scheduler, the relay, one periodic run."""

import os
import sys

import click
from flask import current_app
from flask.cli import AppGroup

from core import jobs, mail
from core.extensions import db

jobs_cli = AppGroup("jobs", help="Background jobs: status, workers and the cron scheduler.")


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "never"


@jobs_cli.command("status")
def status_command():
    """Queue depths, failed jobs and the last run of each periodic job."""
    report = jobs.status()
    click.echo(f"Mode: {report.mode}")
    click.echo("\nQueues:")
    for queue in report.queues:
        figures = "  ".join(f"{key} {value}" for key, value in queue.items() if key != "name")
        click.echo(f"  {queue['name']:<8} {figures}")
    click.echo("\nOutbox: " + "  ".join(f"{key} {value}" for key, value in report.outbox.items()))
    click.echo("\nFailed jobs (newest first):")
    if not report.failed:
        click.echo("  none")
    for record in report.failed:
        last_line = (record.last_error or "").strip().splitlines()[-1:] or ["(no message)"]
        click.echo(
            f"  #{record.id} {record.func} after {record.attempts} attempt(s), "
            f"{_when(record.finished_at)}: {last_line[0]}"
        )
    click.echo("\nPeriodic jobs:")
    for entry in report.periodic:
        click.echo(
            f"  {entry['id']:<32} every {entry['every']}s  last run {_when(entry['last_started_at'])}"
            f"  ({entry['last_status'] or 'not run yet'}, {entry['runs']} runs)"
            f"  next due {_when(entry['next_due'])}"
        )


def _warn_about_eviction(redis) -> None:
    policy = redis.config_get("maxmemory-policy").get("maxmemory-policy")
    if policy and policy != "noeviction":
        click.echo(
            f"WARNING: Redis maxmemory-policy is {policy!r}; RQ needs 'noeviction' or it may "
            "lose jobs (the outbox relay will resend them, late).",
            err=True,
        )


def _in_process_worker_class():
    from rq import SimpleWorker

    class InProcessWorker(SimpleWorker):
        """RQ's SimpleWorker, with a fresh database session for every job (no fork gives one)."""

        def perform_job(self, *args, **kwargs):
            try:
                return super().perform_job(*args, **kwargs)
            finally:
                db.session.remove()

    return InProcessWorker


@jobs_cli.command("worker")
@click.option("--queue", "queues", multiple=True, type=click.Choice(jobs.QUEUES),
              help="Queue to serve (repeatable); all queues by default.")
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
def worker_command(queues, burst):
    """Run an RQ worker inside the app (run one worker alone for the search queue)."""
    from rq import Queue, Worker

    disp = jobs.dispatcher(current_app)
    if not disp.uses_rq:
        raise click.ClickException("REDIS_URL is not set: jobs run in-process, no worker needed.")
    redis = disp.redis()
    _warn_about_eviction(redis)
    if not current_app.config.get("PEERLINE_BASE_URL"):
        click.echo(f"Warning: PEERLINE_BASE_URL is not set; links in mail sent by this worker point at "
                   f"{mail.FALLBACK_BASE_URL}. Set it to the address people open the site at.", err=True)
    counts = jobs.relay_outbox()
    click.echo(f"Relay on start: {counts}")
    db.session.remove()
    # Each job runs in a forked child: it must open its own database connections.
    db.engine.dispose()
    os.register_at_fork(after_in_child=lambda: db.engine.dispose(close=False))
    names = queues or jobs.QUEUES
    # The search writer runs its jobs in its own process, keeping the index and the database open:
    # forking a work horse per job cost more than indexing. Jobs of other queues each get a fresh
    # child, so that one job's failure or leak cannot harm the next.
    worker_class = _in_process_worker_class() if tuple(names) == ("search",) else Worker
    worker = worker_class([Queue(name, connection=redis) for name in names], connection=redis)
    worker.work(burst=burst, with_scheduler=True)


@jobs_cli.command("cron")
def cron_command():
    """Run RQ's cron scheduler over the cron table (the `rq cron` of Peerline)."""
    from rq.cron import CronScheduler

    disp = jobs.dispatcher(current_app)
    if not disp.uses_rq:
        raise click.ClickException("REDIS_URL is not set: the web process runs periodic jobs.")
    _warn_about_eviction(disp.redis())
    scheduler = CronScheduler(connection=disp.redis())
    for entry in jobs.cron_table(current_app).values():
        scheduler.register(
            jobs.run_periodic, queue_name=entry.queue, args=(entry.id,), interval=entry.every,
            name=entry.id,
        )
    scheduler.start()


@jobs_cli.command("relay")
def relay_command():
    """Resend jobs that never reached their queue, now."""
    click.echo(jobs.relay_outbox())
    jobs.wait_idle()


@jobs_cli.command("run")
@click.argument("periodic_id")
def run_command(periodic_id):
    """Run one periodic job from the cron table now, in this process."""
    if periodic_id not in jobs.cron_table(current_app):
        known = ", ".join(jobs.cron_table(current_app))
        click.echo(f"No periodic job {periodic_id!r}. Known: {known}", err=True)
        sys.exit(2)
    jobs.run_periodic(periodic_id)
    click.echo(f"Ran {periodic_id}.")

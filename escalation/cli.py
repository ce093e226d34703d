"""`flask escalation sweep` and `flask escalation list [--queue NAME] [--json]`."""

import json

import click
import sqlalchemy as sa
from flask.cli import AppGroup

from core.clock import as_utc
from core.extensions import db
from escalation import rules
from escalation.models import OPEN, Escalation

escalation_cli = AppGroup("escalation", help="Staff escalation queues.")


@escalation_cli.command("sweep")
def sweep_command():
    """Run the sweep now: open the escalations that are due, ask advocates about threads near it."""
    counts = rules.sweep()
    click.echo(f"Escalated {counts['unanswered']} unanswered and {counts['unresolved']} unresolved threads; "
               f"asked advocates about {counts['peer_calls']}.")


@escalation_cli.command("list")
@click.option("--queue", "queue_name", help="Only this queue: urgent, or a team's slug.")
@click.option("--json", "as_json", is_flag=True, help="A JSON list on standard output.")
def list_command(queue_name, as_json):
    """Print the open escalations, soonest due first."""
    query = (sa.select(Escalation).where(Escalation.state == OPEN)
             .options(sa.orm.selectinload(Escalation.reasons), sa.orm.joinedload(Escalation.assignee))
             .order_by(Escalation.due_at, Escalation.id))
    if queue_name:
        query = query.where(Escalation.queue == queue_name)
    rows = [{
        "id": e.id, "thread_id": e.thread_id, "reasons": e.reason_codes, "queue": e.queue,
        "priority": e.priority, "escalated_at": as_utc(e.escalated_at).isoformat(),
        "due_at": as_utc(e.due_at).isoformat(), "assignee": e.assignee.username if e.assignee else None,
        "state": e.state, "breached": e.breached_at is not None,
    } for e in db.session.scalars(query)]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("No open escalations.")
    for row in rows:
        click.echo(f"#{row['id']} thread {row['thread_id']} [{row['queue']}] {', '.join(row['reasons'])} "
                   f"due {row['due_at']} {row['assignee'] or 'unassigned'}"
                   + (" BREACHED" if row["breached"] else ""))

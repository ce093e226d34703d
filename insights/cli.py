"""`flask insights recompute --from --to` and `flask insights report --from --to [--category] [--json]`."""

import json
import sys
from datetime import date

import click
import sqlalchemy as sa
from flask.cli import AppGroup

from core.extensions import db
from forum.models import Category
from insights import measures, rollup
from insights.models import ALL, CATEGORY

insights_cli = AppGroup("insights", help="Community metrics: snapshots and reports.")

LABELS = {  # how each figure is called where people read it (the report, the weekly mail)
    "threads_opened": "Threads opened", "threads_solved": "Threads solved",
    "threads_closed": "Threads solved or closed",
    "peer_resolution_share": "Solved by peers", "self_resolution_share": "Solved by the asker",
    "staff_resolution_share": "Solved by staff", "peer_answer_share": "First reply by a peer",
    "first_response_median_s": "First response, median", "first_response_p90_s": "First response, p90",
    "staff_first_response_median_s": "Staff first response, median",
    "staff_first_response_p90_s": "Staff first response, p90",
    "escalation_response_median_s": "Escalation response, median (business time)",
    "escalation_response_p90_s": "Escalation response, p90 (business time)",
    "sla_attainment": "SLA attainment", "sla_breaches": "SLA breaches",
    "time_to_resolution_median_s": "Time to resolution, median",
    "time_to_resolution_p90_s": "Time to resolution, p90",
    "backlog_open": "Backlog at the end: open", "backlog_unanswered": "Backlog at the end: unanswered",
    "backlog_escalations": "Backlog at the end: open escalations", "csat": "Asker satisfaction (4-5 of 5)",
    "deflection_rate": "Deflection",
}


def parse_range(first: str, last: str) -> tuple[date, date]:
    """Two ISO dates, the first not after the second; raises click.BadParameter saying which is wrong."""
    days = []
    for option, value in (("--from", first), ("--to", last)):
        try:
            days.append(date.fromisoformat(value.strip()))
        except (ValueError, AttributeError):
            raise click.BadParameter(f"{value!r} is not a date; write it as YYYY-MM-DD.",
                                     param_hint=option) from None
    if days[1] < days[0]:
        raise click.BadParameter(f"the range ends ({days[1]}) before it starts ({days[0]}).",
                                 param_hint="--to")
    return days[0], days[1]


def format_value(key: str, value) -> str:
    """A figure as a person reads it: counts, percentages, durations in d/h/m."""
    if value is None:
        return "-"
    if key.endswith("_share") or key in ("sla_attainment", "csat", "deflection_rate"):
        return f"{value * 100:.1f}%"
    if key.endswith("_s"):
        return format_duration(value)
    return str(value)


def format_duration(seconds: float) -> str:
    seconds = round(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


@insights_cli.command("recompute")
@click.option("--from", "first", required=True, help="First day (YYYY-MM-DD, the site's time zone).")
@click.option("--to", "last", required=True, help="Last day, included.")
def recompute_command(first, last):
    """Rebuild the daily and weekly snapshots of a range (after an import, a deletion, or a change
    of definition)."""
    first, last = parse_range(first, last)

    def progress(items):
        with click.progressbar(items, label="Rolling up", show_pos=True, file=sys.stderr) as bar:
            yield from bar

    stored = rollup.recompute(first, last, progress=progress)
    click.echo(f"Recomputed {first} to {last}: {stored} snapshot rows.")


@insights_cli.command("report")
@click.option("--from", "first", required=True, help="First day (YYYY-MM-DD, the site's time zone).")
@click.option("--to", "last", required=True, help="Last day, included.")
@click.option("--category", "slug", help="Only this category (its slug).")
@click.option("--json", "as_json", is_flag=True, help="One flat JSON object with METRICS.md's names.")
def report_command(first, last, slug, as_json):
    """The measures over a whole range, computed from the history (not added up from days)."""
    first, last = parse_range(first, last)
    if slug is not None:
        category = db.session.scalar(sa.select(Category).where(Category.slug == slug.strip()))
        if category is None:
            known = ", ".join(db.session.scalars(sa.select(Category.slug).order_by(Category.slug))) or "none"
            raise click.BadParameter(f"no category has the slug {slug!r} (known: {known}).",
                                     param_hint="--category")
        found = measures.compute(first, last, CATEGORY).get(category.id) or measures.empty(first, last)
    else:
        found = measures.compute(first, last, ALL)[0]
    figures = {key: found[key] for key in measures.KEYS}
    if as_json:
        click.echo(json.dumps(figures))
        return
    title = f"Peerline insights, {first} to {last}" + (f", category {slug}" if slug else "")
    click.echo(title)
    click.echo("=" * len(title))
    width = max(len(label) for label in LABELS.values())
    for key, label in LABELS.items():
        click.echo(f"{label:<{width}}  {format_value(key, figures[key])}")

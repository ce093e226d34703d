"""`flask demo load`, `flask import stackexchange PATH` and `flask history check`."""

from pathlib import Path

import click
from flask.cli import AppGroup

from core.errors import Invalid
from forum import demo, history, importer

demo_cli = AppGroup("demo", help="The demo community.")
import_cli = AppGroup("import", help="Import communities from elsewhere.")
history_cli = AppGroup("history", help="The threads' history of events.")


@history_cli.command("check")
@click.option("--limit", default=50, show_default=True, help="How many disagreements to print at most.")
def check_history_command(limit):
    """Replay every thread's history and report threads whose columns disagree with it."""
    found = history.check()
    for disagreement in found[:limit]:
        click.echo(str(disagreement))
    if found:
        threads = len({d.thread_id for d in found})
        raise click.ClickException(f"{len(found)} disagreements in {threads} threads.")
    click.echo("Every thread's columns agree with its history.")


@demo_cli.command("load")
@click.option("--if-empty", is_flag=True, help="Only when the forum has no threads yet.")
def load_command(if_empty):
    """Load the demo community (a fictional product's support forum)."""
    if if_empty and not demo.is_empty():
        click.echo("The forum has threads already; the demo community is not loaded.")
    else:
        try:
            counts = demo.load()
        except RuntimeError as error:
            raise click.ClickException(str(error)) from error
        click.echo(f"Loaded the demo community: {counts['threads']} threads, {counts['answers']} answers.")
    for extension in demo.EXTENSIONS:
        try:
            line = extension(if_empty)
        except RuntimeError as error:
            raise click.ClickException(str(error)) from error
        if line:
            click.echo(line)


def _ids(value: str) -> list[int]:
    try:
        return [int(part) for part in value.split(",") if part.strip()]
    except ValueError as error:
        raise click.BadParameter("give user ids separated by commas, e.g. 1,2,3") from error


@import_cli.command("stackexchange")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--staff-user-ids", default="", help="Stack Exchange user ids to import as staff: 1,2,3")
@click.option("--category", "category_slug", default=None, help="Slug of the category to import into.")
def stackexchange_command(path, staff_user_ids, category_slug):
    """Import a Stack Exchange dump folder (Posts.xml, and Users.xml/Comments.xml if present)."""
    staff = _ids(staff_user_ids)

    def progress(rows):
        with click.progressbar(rows, label="Reading posts", show_pos=True) as bar:
            return list(bar)

    try:
        report = importer.import_stackexchange(path, staff_user_ids=staff, category_slug=category_slug,
                                               progress=progress)
    except Invalid as error:
        raise click.ClickException(error.message) from error
    click.echo(
        f"Imported from {report.source}: {report.threads} questions, {report.answers} answers, "
        f"{report.accepted} accepted answers, {report.closed} closed questions, {report.users} authors, "
        f"{report.tags} new tags."
    )
    for note in report.skipped[:20]:
        click.echo(f"  skipped {note}")

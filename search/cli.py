"""`flask search ...`: rebuild the index with a progress bar, compare it with the database, repair drift."""

import click
from flask.cli import AppGroup

from search import current_engine
from search.engine import SearchIndexBusy

search_cli = AppGroup("search", help="The search index: rebuild, status and reconcile.")


@search_cli.command("rebuild")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 10_000),
              help="Documents read from the database at a time.")
def rebuild_command(batch_size: int):
    """Build a fresh index from the database beside the live one, then swap it in."""
    eng = current_engine()
    total = sum(eng.registry.counts().values())
    with click.progressbar(length=total, label="Indexing", show_pos=True) as bar:
        def progress(done: int, _total: int) -> None:
            bar.update(max(0, done - bar.pos))

        try:
            written = eng.rebuild(progress=progress, batch_size=batch_size)
        except SearchIndexBusy as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"Indexed {written} documents into {eng.path}.")


@search_cli.command("status")
def status_command():
    """Documents per kind in the database and in the index."""
    eng = current_engine()
    in_database = eng.registry.counts()
    report = eng.status()
    click.echo(f"Index: {report.path}")
    if not report.available:
        click.echo(f"  unavailable: {report.message}")
        click.echo("  Run `flask search rebuild` (the reconcile job also rebuilds it).")
    kinds = sorted(set(in_database) | set(report.counts))
    if not kinds:
        click.echo("No document types are registered.")
        return
    click.echo(f"  {'kind':<12} {'database':>10} {'index':>10}")
    for kind in kinds:
        indexed = report.counts.get(kind, 0) if report.available else "-"
        click.echo(f"  {kind:<12} {in_database.get(kind, '-'):>10} {indexed:>10}")
    drift = report.available and any(in_database.get(k, 0) != report.counts.get(k, 0) for k in kinds)
    if drift:
        click.echo("The counts differ: `flask search reconcile` repairs the difference.")


@search_cli.command("reconcile")
def reconcile_command():
    """Index what is missing or changed and remove what should not be there (rebuilds a broken index)."""
    try:
        counts = current_engine().reconcile()
    except SearchIndexBusy as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo("  ".join(f"{key} {value}" for key, value in counts.items()))

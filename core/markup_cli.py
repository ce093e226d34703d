"""`flask markup rerender`: stored rendered Markdown made again after a renderer change."""

import click
from flask.cli import AppGroup

from core import markup

markup_cli = AppGroup("markup", help="Rendered Markdown stored beside its source.")


@markup_cli.command("rerender")
@click.option("--if-stale", is_flag=True, help="Only when the stored HTML was made by another renderer.")
@click.option("--batch", default=500, show_default=True, type=click.IntRange(1, 10_000),
              help="Rows read and written per transaction.")
def rerender_command(if_stale, batch):
    """Render every stored post, article, note and message again with the current renderer."""
    stored = markup.stored_version()
    if if_stale and stored == markup.RENDERER_VERSION:
        click.echo(f"Stored HTML is current (renderer {markup.RENDERER_VERSION}).")
        return
    with click.progressbar(length=markup.stored_count(), label="Rendering stored texts",
                           show_pos=True) as bar:
        changed = markup.rerender(batch=batch, progress=bar.update)
    click.echo(f"Rendered again with renderer {markup.RENDERER_VERSION} (was {stored or 'unrecorded'}): "
               f"{changed} changed.")

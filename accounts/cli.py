"""`flask accounts ...`: the first admin, and role changes from the shell."""

import os
import secrets

import click
from flask.cli import AppGroup

from accounts import services
from core.errors import DomainError

accounts_cli = AppGroup("accounts", help="Accounts: the first admin and roles.")


@accounts_cli.command("ensure-admin")
def ensure_admin_command():
    """Create the first admin if there is none (PEERLINE_ADMIN_EMAIL/_USERNAME/_PASSWORD,
    or generated credentials printed once)."""
    email = os.environ.get("PEERLINE_ADMIN_EMAIL") or "admin@example.com"
    username = os.environ.get("PEERLINE_ADMIN_USERNAME") or "admin"
    password = os.environ.get("PEERLINE_ADMIN_PASSWORD")
    generated = not password
    if generated:
        password = secrets.token_urlsafe(12)
    try:
        user = services.ensure_admin(email, username, password)
    except DomainError as error:
        raise click.ClickException(f"Could not create the first admin: {error.message}") from error
    if user is None:
        click.echo("An admin account exists already; nothing to do.")
        return
    click.echo("Created the first admin account.")
    click.echo(f"  email:    {user.email}")
    click.echo(f"  username: {user.username}")
    if generated:
        click.echo(f"  password: {password}")
        click.echo("  (shown once: write it down, or reset it later by email)")


@accounts_cli.command("set-role")
@click.argument("username")
@click.argument("role")
@click.option("--reason", default="set from the command line", show_default=True)
def set_role_command(username, role, reason):
    """Give USERNAME the ROLE (member, advocate, staff or admin), with an audit entry."""
    try:
        user = services.get_user_by_username(username)
        services.change_role_from_shell(user, role, reason)
    except DomainError as error:
        raise click.ClickException(error.message) from error
    click.echo(f"{user.username} is now {role}.")

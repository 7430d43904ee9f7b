"""Operator commands: ``kiwame user list|set-password|set-role|deactivate|activate`` and ``kiwame backup``."""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from service.errors import KiwameError

ROLES = ["learner", "instructor", "admin"]


@contextmanager
def service_call() -> Iterator[None]:
    """An app context in which a service's ``KiwameError`` ends the command with a one-line message."""
    from service.app import create_app

    with create_app().app_context():
        try:
            yield
        except KiwameError as err:
            raise click.ClickException(f"{err.message} ({err.code})") from err


@click.command("list")
@click.option("--role", type=click.Choice(ROLES), default=None)
@click.option("--active-only", is_flag=True, help="leave out deactivated users")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
def user_list(role: str | None, active_only: bool, as_json: bool) -> None:
    """List users: name, role, active, live tokens, created."""
    from service.services import accounts

    with service_call():
        rows = accounts.list_accounts(role, include_inactive=not active_only)
    if as_json:
        for row in rows:
            click.echo(json.dumps({"id": row.id, "name": row.name, "role": row.role, "active": row.active,
                                   "tokens": row.tokens, "created_at": row.created_at.isoformat()}))
        return
    click.echo(f"{'id':>5}  {'name':<24} {'role':<10} {'active':<6} {'tokens':>6}  created")
    for row in rows:
        click.echo(f"{row.id:>5}  {row.name:<24} {row.role:<10} {'yes' if row.active else 'no':<6} "
                   f"{row.tokens:>6}  {row.created_at:%Y-%m-%d}")


@click.command("set-password")
@click.argument("name")
@click.option("--password", default=None, help="omit to be prompted (or use --generate)")
@click.option("--generate", is_flag=True, help="generate one and print it once")
def user_set_password(name: str, password: str | None, generate: bool) -> None:
    """Set a user's password; their browser sessions end."""
    from service.services import accounts

    if generate:
        password = secrets.token_urlsafe(12)
    elif password is None:
        password = click.prompt("new password", hide_input=True, confirmation_prompt=True)
    assert password is not None
    with service_call():
        accounts.set_password(name, password)
    click.echo(f"password of {name} changed; their browser sessions ended")
    if generate:
        click.echo(f"password: {password}")


@click.command("set-role")
@click.argument("name")
@click.argument("role", type=click.Choice(ROLES))
def user_set_role(name: str, role: str) -> None:
    """Change a user's role (their tokens never act above it)."""
    from service.services import accounts

    with service_call():
        previous = accounts.set_role(name, role)
    click.echo(f"{name}: {previous} -> {role}")


@click.command("deactivate")
@click.argument("name")
def user_deactivate(name: str) -> None:
    """Stop a user: no sign-in, API tokens refused, browser sessions ended (their data stays)."""
    from service.services import accounts

    with service_call():
        ended = accounts.set_active(name, False)
    click.echo(f"deactivated {name} ({ended} browser sessions ended)")


@click.command("activate")
@click.argument("name")
def user_activate(name: str) -> None:
    """Undo ``deactivate``."""
    from service.services import accounts

    with service_call():
        accounts.set_active(name, True)
    click.echo(f"activated {name}")


USER_COMMANDS = (user_list, user_set_password, user_set_role, user_deactivate, user_activate)


@click.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="replace PATH if it exists")
def backup(path: Path, force: bool) -> None:
    """Copy the embedded SQLite database to PATH while Kiwame runs (SQLite's online backup API).

    PostgreSQL: use its own tools, e.g. ``pg_dump --format=custom "$DATABASE" > kiwame.dump``.
    """
    from sqlalchemy.engine import make_url

    from service.config import load

    url = make_url(load()["KIWAME_DATABASE_URL"])
    if url.get_backend_name() != "sqlite":
        raise click.ClickException(
            f"kiwame backup copies the embedded SQLite database; this one is {url.get_backend_name()}: "
            "use pg_dump (see README, Operating Kiwame)")
    source = Path(url.database or "")
    if not source.is_file():
        raise click.ClickException(f"no database file at {source}: run `kiwame db upgrade` first, "
                                   "or set KIWAME_DATABASE_URL / KIWAME_INSTANCE_DIR")
    if path.exists() and not force:
        raise click.ClickException(f"{path} exists (use --force to replace it)")
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    # The backup API copies a consistent snapshot page by page while writers go on (WAL included).
    src, dst = sqlite3.connect(source, timeout=30), sqlite3.connect(partial)
    try:
        src.backup(dst, pages=1024)
        verdict = dst.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        src.close()
        dst.close()
    if verdict != "ok":
        partial.unlink(missing_ok=True)
        raise click.ClickException(f"the copy failed its integrity check: {verdict}")
    partial.replace(path)
    click.echo(f"backed up {source} to {path} ({path.stat().st_size} bytes)")

"""The ``kiwame`` command line: serve, db, user, token, exercises, grade, doctor."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from flask import Flask

from service import cli_ops
from service.cli_ops import service_call as _service_call
from service.config import ConfigError


def _app(**overrides: Any) -> Flask:
    from service.app import create_app

    return create_app(overrides or None)


class _Group(click.Group):
    """A setting that cannot work ends any command with its one-line message, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as err:
            raise click.ClickException(str(err)) from err


@click.group(cls=_Group)
@click.version_option(package_name="kiwame")
def main() -> None:
    """Kiwame: tensor exercises graded in milliseconds."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int, help="gthread threads in the one worker")
def serve(host: str, port: int, threads: int) -> None:
    """Run the service with gunicorn (one worker process: the grading pool and sandbox live in it)."""
    from service.serve import run

    run(host, port, threads)


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply the Alembic migrations."""
    from service.persistence.migrate import current, upgrade

    app = _app(KIWAME_AUTO_MIGRATE="0")
    upgrade(app, revision)
    click.echo(f"database at revision {current(app)}")


@main.group()
def user() -> None:
    """Users."""


@user.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice(["learner", "instructor", "admin"]), default="learner", show_default=True)
@click.option("--password", default=None, help="omit to generate one (printed once)")
@click.option("--display-name", default="")
def user_create(name: str, role: str, password: str | None, display_name: str) -> None:
    """Create a user."""
    from service.services import users

    with _service_call():
        created = users.create_user(name, role, password, display_name=display_name)
    click.echo(f"created {created.user.role} {created.user.name} (id {created.user.id})")
    if created.password:
        click.echo(f"password: {created.password}")


@main.group()
def token() -> None:
    """API tokens."""


@token.command("create")
@click.option("--user", "user_name", required=True)
@click.option("--name", default="", help="a label to tell tokens apart")
@click.option("--role", type=click.Choice(["learner", "instructor", "admin"]), default=None,
              help="default: the user's role (never above it)")
@click.option("--webhook-secret", default=None, help="signs this token's webhooks (else KIWAME_WEBHOOK_SECRET)")
def token_create(user_name: str, name: str, role: str | None, webhook_secret: str | None) -> None:
    """Create a token and print it once (only its hash is stored)."""
    from service.services import tokens

    with _service_call():
        created = tokens.create_token(user_name, name, role, webhook_secret)
    click.echo(created.token)
    click.echo(f"token {created.id} ({created.prefix}…, role {created.role}) for {created.user}: "
               "store it now, it is not shown again", err=True)


@token.command("revoke")
@click.argument("token_id", type=int)
def token_revoke(token_id: int) -> None:
    """Revoke a token by id."""
    from service.services import tokens

    with _service_call():
        tokens.revoke_token(token_id)
    click.echo(f"revoked token {token_id}")


@main.group()
def exercises() -> None:
    """Exercise files."""


@exercises.command("validate")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
def exercises_validate(directory: Path | None) -> None:
    """Validate exercise files (schema, reference runs, weak-test lint); non-zero exit on errors."""
    from service.cli_support import validate

    sys.exit(validate(directory))


@exercises.command("reload")
def exercises_reload() -> None:
    """Re-read the exercise files, report errors and record new versions in the database."""
    from service.services import catalog
    from service.services.runtime import runtime

    app = _app()
    with app.app_context():
        outcome = catalog.reload_catalog(app)
        loaded = catalog.exercises(runtime(app).catalog)
        errors = catalog.catalog_errors(runtime(app).catalog)
    for label in ("added", "changed", "removed"):
        if getattr(outcome, label, ()):
            click.echo(f"{label}: {', '.join(getattr(outcome, label))}")
    click.echo(f"{len(loaded)} exercises loaded, {len(errors)} errors")
    for err in errors:
        click.echo(f"  {err}", err=True)
    sys.exit(1 if errors else 0)


@main.command()
@click.argument("file", type=click.File("r"))
@click.option("--exercise", "exercise_id", required=True)
@click.option("--json", "as_json", is_flag=True, help="print the GradeResult as JSON")
def grade(file: Any, exercise_id: str, as_json: bool) -> None:
    """Grade a local file against an exercise (for exercise authors)."""
    from service.cli_support import grade_file

    sys.exit(grade_file(file.read(), exercise_id, as_json))


@main.command()
def doctor() -> None:
    """Check the sandbox layers and the database; non-zero exit if a required layer fails."""
    from service.cli_support import doctor as run_doctor

    sys.exit(run_doctor())


for _command in cli_ops.USER_COMMANDS:
    user.add_command(_command)
main.add_command(cli_ops.backup)


if __name__ == "__main__":  # pragma: no cover
    main()

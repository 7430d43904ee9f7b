"""The ``kiwame`` command line: serve, worker, db, user, token, exercises, grade, doctor, lti."""

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
@click.option("--threads", default=8, show_default=True, type=int, help="gthread threads per process")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1),
              help="web processes; above 1 only in queue mode (KIWAME_BROKER_URL)")
def serve(host: str, port: int, threads: int, workers: int) -> None:
    """Run the service with gunicorn (embedded: one process, the grading pool and sandbox live in it)."""
    from service.serve import run

    try:
        run(host, port, threads, workers)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


@main.command()
@click.option("--queues", default="cpu", show_default=True, help="comma-separated: cpu, gpu (gpu needs CUDA)")
@click.option("--concurrency", default=None, type=click.IntRange(min=1),
              help="gradings at once (sandbox slots); default: one per CPU")
def worker(queues: str, concurrency: int | None) -> None:
    """Grade in queue mode (KIWAME_BROKER_URL): a Celery worker holding its own sandbox pool."""
    import os
    import sys

    # The worker is an entry point nothing imports (its tasks are reached by name): run it as a module.
    args = [sys.executable, "-m", "service.worker", "--queues", queues,
            "--concurrency", str(concurrency or os.cpu_count() or 1)]
    os.execv(sys.executable, args)


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
@click.argument("path", required=False, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
def exercises_validate(path: Path | None, as_json: bool) -> None:
    """Validate exercises: the root, one track folder or one file (schema, references, declared answers, lint)."""
    from service.cli_support import validate

    sys.exit(validate(path, as_json))


@exercises.command("new")
@click.argument("exercise_id")
@click.option("--track", required=True, help="the track folder (created with a _track.yaml if missing)")
@click.option("--from", "source", type=click.File("r"), default=None,
              help="a Python file with the reference solution; its signature gives the cases")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="the exercise root (default: KIWAME_EXERCISES_DIR)")
def exercises_new(exercise_id: str, track: str, source: Any, root: Path | None) -> None:
    """Scaffold exercises/<track>/<id>.yaml, bilingual, from a reference solution, and validate it."""
    from service.cli_support import new_exercise

    sys.exit(new_exercise(exercise_id, track, source.read() if source else None, root))


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
@click.option("--framework", type=click.Choice(["torch", "numpy"]), default=None,
              help="for exercises offered in both (default: from the file's imports)")
def grade(file: Any, exercise_id: str, as_json: bool, framework: str | None) -> None:
    """Grade a local file against an exercise (for exercise authors)."""
    from service.cli_support import grade_file

    sys.exit(grade_file(file.read(), exercise_id, as_json, framework))


@main.command()
def doctor() -> None:
    """Check the sandbox layers and the database; non-zero exit if a required layer fails."""
    from service.cli_support import doctor as run_doctor

    sys.exit(run_doctor())


@main.group()
def lti() -> None:
    """LTI 1.3 platform registrations and the tool's signing keys."""


@lti.command("add-platform")
@click.option("--issuer", required=True, help="the platform's issuer (iss), e.g. https://moodle.example.edu")
@click.option("--client-id", required=True, help="the client id the platform gave Kiwame")
@click.option("--deployment-id", "deployment_ids", required=True, multiple=True, help="repeat for several")
@click.option("--auth-url", required=True, help="the platform's OIDC authentication request URL")
@click.option("--token-url", required=True, help="the platform's OAuth2 access token URL")
@click.option("--jwks-url", required=True, help="the platform's public keyset URL")
@click.option("--audience", default=None, help="token audience when it is not the token URL (Brightspace)")
@click.option("--allowed-origin", "allowed_origins", multiple=True,
              help="another origin that frames Kiwame and serves AGS/NRPS (Canvas: https://school.instructure.com)")
def lti_add_platform(issuer: str, client_id: str, deployment_ids: tuple[str, ...], auth_url: str, token_url: str,
                     jwks_url: str, audience: str | None, allowed_origins: tuple[str, ...]) -> None:
    """Register an LMS; prints the registration id."""
    from service.services import lti_registry

    with _service_call():
        platform_id = lti_registry.add_platform(issuer, client_id, list(deployment_ids), auth_url, token_url,
                                                jwks_url, auth_audience=audience, extra_origins=list(allowed_origins))
    click.echo(platform_id)


@lti.command("list")
def lti_list() -> None:
    """List registrations with their last launch, passback counts and last error."""
    from service.services import lti_registry

    with _service_call():
        platforms = lti_registry.list_platforms()
        keys = lti_registry.list_keys()
        warnings = lti_registry.operator_warnings()
    for p in platforms:
        scores = ", ".join(f"{k} {v}" for k, v in sorted(p.scores.items())) or "none"
        click.echo(f"{p.id}\t{p.issuer}\tclient {p.client_id}\tdeployments {','.join(p.deployment_ids)}\t"
                   f"last launch {p.last_launch_at or 'never'}\tscores: {scores}"
                   + (f"\tlast error: {p.last_error}" if p.last_error else ""))
    if not platforms:
        click.echo("no platforms registered", err=True)
    for kid, created, signs in keys:
        click.echo(f"key {kid}\t{created:%Y-%m-%d %H:%M}" + ("\tsigning" if signs else ""), err=True)
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)


@lti.command("remove")
@click.argument("registration_id", type=int)
def lti_remove(registration_id: int) -> None:
    """Remove a registration (its courses stay; its links and pending scores go)."""
    from service.services import lti_registry

    with _service_call():
        lti_registry.remove_platform(registration_id)
    click.echo(f"removed registration {registration_id}")


@lti.command("rotate-key")
@click.option("--bits", default=2048, show_default=True, type=int, help="RSA key size (2048 or more)")
def lti_rotate_key(bits: int) -> None:
    """Add a new signing key; the old ones stay in the JWKS until removed with remove-key."""
    from service.services import lti_registry

    with _service_call():
        kid = lti_registry.rotate_key(bits)
    click.echo(kid)


# A kid is an RFC 7638 thumbprint (base64url): it may start with "-", which must not read as an option.
@lti.command("remove-key", context_settings={"ignore_unknown_options": True})
@click.argument("kid")
def lti_remove_key(kid: str) -> None:
    """Stop publishing an old key (once every platform has fetched the new one)."""
    from service.services import lti_registry

    with _service_call():
        lti_registry.remove_key(kid)
    click.echo(f"removed key {kid}")


for _command in cli_ops.USER_COMMANDS:
    user.add_command(_command)
main.add_command(cli_ops.backup)


if __name__ == "__main__":  # pragma: no cover
    main()

"""The heavier ``kiwame`` commands (validate, grade, doctor), kept apart so cli.py stays a thin table."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from service.config import load_settings


@contextmanager
def _engine() -> Iterator[Any]:
    """A real engine whose sandbox pool is closed when the command ends."""
    from service.grading.engine import Engine
    from service.sandbox.pool import SandboxPool

    pool = SandboxPool()
    try:
        yield Engine(pool)
    finally:
        pool.close()


def validate(path: Path | None, as_json: bool = False) -> int:
    """Exit status of ``kiwame exercises validate``: 0 clean, 1 on errors or lint findings."""
    from service.authoring.validate import validate_dir

    root = path or Path(load_settings().exercises_dir)
    with _engine() as engine:
        report = validate_dir(root, engine)
    # Per exercise what was tried, then errors, lint findings, waivers, and a summary line.
    click.echo(json.dumps(report.to_dict(), indent=2) if as_json else report.format())
    return 0 if report.ok else 1


def new_exercise(exercise_id: str, track: str, source: str | None, root: Path | None) -> int:
    """``kiwame exercises new``: write the scaffold, then validate it like any exercise."""
    from service.authoring.scaffold import ScaffoldError, scaffold_texts, write_scaffold
    from service.authoring.validate import validate_dir

    base = root or Path(load_settings().exercises_dir)
    if (base / track / f"{exercise_id}.yaml").exists():
        raise click.ClickException(f"{base / track / exercise_id}.yaml already exists: not overwritten")
    try:
        texts = list(scaffold_texts(exercise_id, track, source))
        with _engine() as engine:
            # Shapes are guessed from the signature: keep the first guess on which the reference validates.
            for text in texts:
                path = write_scaffold(base, exercise_id, track, text)
                report = validate_dir(path, engine)
                if report.ok:
                    break
            else:
                path = write_scaffold(base, exercise_id, track, texts[0])
                report = validate_dir(path, engine)
    except ScaffoldError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"wrote {path}")
    click.echo(report.format())
    return 0 if report.ok else 1


def grade_file(code: str, exercise_id: str, as_json: bool, framework: str | None = None) -> int:
    from service.domain import Submission
    from service.exercises import load_catalog

    catalog = load_catalog(load_settings().exercises_dir)
    exercise = catalog.get(exercise_id)
    if exercise is None:
        raise click.ClickException(f"no exercise {exercise_id!r}")
    if exercise.kind == "code":
        submission = Submission(exercise.id, code=code, framework=framework, reveal=True)  # authors see every rung
    else:
        submission = Submission(exercise.id, answer=json.loads(code), reveal=True)
    with _engine() as engine:
        result = engine.grade(exercise, submission)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        click.echo(format_result(result))
    return 0 if result.passed else 1


def format_result(result: Any) -> str:
    lines = [f"{result.exercise_id}: {'PASSED' if result.passed else 'FAILED'} "
             f"score {result.score:.2f} ({result.status})"]
    for case in result.cases:
        lines.append(f"  [{'ok' if case.passed else 'FAIL'}] {case.name}{'' if case.visible else ' (hidden)'}")
        lines += [f"      {check.name}: {check.message}" for check in case.checks
                  if not check.passed and check.message]
    for diag in result.diagnoses:
        lines.append(f"  diagnosis {diag.code}: {diag.message}")
    if result.stdout:
        lines.append("  stdout:\n    " + result.stdout.rstrip().replace("\n", "\n    "))
    return "\n".join(lines)


def doctor() -> int:
    from service.app import create_app
    from service.config import bundled_dir
    from service.services.health import database_check, sandbox_check, schema_check

    app = create_app({"KIWAME_AUTO_MIGRATE": "0"})
    failed = False
    click.echo(f"instance folder: {app.config['KIWAME_INSTANCE_DIR']}")
    click.echo(f"exercises: {app.config['KIWAME_EXERCISES_DIR']}")
    click.echo(f"migrations: {bundled_dir('migrations')}")
    with app.app_context():
        dbc = database_check()
        click.echo(f"database ({dbc['backend']}): {'ok' if dbc['ok'] else 'FAILED ' + dbc.get('error', '')}")
        failed |= not dbc["ok"]
        if dbc["ok"]:
            schema = schema_check()
            click.echo(f"database schema: {'ok' if schema['ok'] else 'FAILED'} "
                       f"(at {schema.get('current')}, newest {schema.get('head')}) {schema.get('error', '')}".rstrip())
            failed |= not schema["ok"]
        report = sandbox_check(fresh=True)
    for layer in report.get("layers", []):
        state = "ok" if layer.get("ok") else ("FAILED" if layer.get("required") else "missing (optional)")
        click.echo(f"sandbox {layer.get('name', '?')}: {state}  {layer.get('detail', '')}".rstrip())
    if report.get("error"):
        click.echo(f"sandbox self-check error: {report['error']}")
    failed |= not report["ok"]
    click.echo("all required checks passed" if not failed else "some required checks FAILED")
    return 1 if failed else 0

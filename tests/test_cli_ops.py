"""Operator commands: user list / set-password / set-role / deactivate / activate, backup, path errors."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from service import config
from service.cli import main


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str | None]:
    return {"KIWAME_INSTANCE_DIR": str(tmp_path / "instance"), "KIWAME_SECRET_KEY": None,
            "KIWAME_EXERCISES_DIR": None, "KIWAME_DATABASE_URL": None}


def run(env: dict[str, str | None], *args: str) -> Any:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def _app(env: dict[str, str | None]) -> Any:
    from service.app import create_app

    return create_app({**{k: v for k, v in env.items() if v}, "KIWAME_AUTO_MIGRATE": "0"})


def test_user_admin_commands(env: dict[str, str | None]) -> None:
    from service.services import tokens, users

    assert run(env, "db", "upgrade").exit_code == 0
    run(env, "user", "create", "ana", "--password", "first-password")
    run(env, "user", "create", "sensei", "--role", "instructor", "--password", "second-password")
    secret = run(env, "token", "create", "--user", "ana").stdout.strip().splitlines()[0]

    listed = run(env, "user", "list")
    assert listed.exit_code == 0
    assert [line.split()[1:5] for line in listed.output.splitlines()[1:]] == [
        ["ana", "learner", "yes", "1"], ["sensei", "instructor", "yes", "0"]]
    assert '"name": "sensei"' in run(env, "user", "list", "--json", "--role", "instructor").output

    assert run(env, "user", "set-password", "ana", "--password", "short").exit_code == 1
    changed = run(env, "user", "set-password", "ana", "--password", "a-new-password")
    assert changed.exit_code == 0
    generated = run(env, "user", "set-password", "sensei", "--generate")
    new_password = generated.output.split("password: ")[1].strip()
    promoted = run(env, "user", "set-role", "ana", "admin")
    assert promoted.exit_code == 0 and "learner -> admin" in promoted.output
    with _app(env).app_context():
        assert users.authenticate("ana", "first-password") is None
        assert users.authenticate("ana", "a-new-password") is not None
        assert users.authenticate("sensei", new_password) is not None
        assert users.get_user("ana").role == "admin"
        assert tokens.authenticate(secret) is not None

    assert "deactivated ana" in run(env, "user", "deactivate", "ana").output
    with _app(env).app_context():
        assert users.authenticate("ana", "a-new-password") is None
        assert tokens.authenticate(secret) is None  # the API refuses the token at once
    assert "no" in run(env, "user", "list").output.splitlines()[1]
    assert run(env, "user", "activate", "ana").exit_code == 0
    with _app(env).app_context():
        assert tokens.authenticate(secret) is not None

    missing = run(env, "user", "set-role", "nobody", "admin")
    assert missing.exit_code == 1 and "no user named 'nobody'" in missing.output


def test_backup_is_a_consistent_copy(env: dict[str, str | None], tmp_path: Path) -> None:
    run(env, "db", "upgrade")
    run(env, "user", "create", "ana", "--password", "first-password")
    target = tmp_path / "copy.sqlite3"
    result = run(env, "backup", str(target))
    assert result.exit_code == 0 and "backed up" in result.output
    with sqlite3.connect(target) as conn:
        assert conn.execute("SELECT name FROM users").fetchall() == [("ana",)]
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() is not None
    again = run(env, "backup", str(target))
    assert again.exit_code == 1 and "--force" in again.output
    assert run(env, "backup", str(target), "--force").exit_code == 0


def test_backup_of_postgresql_points_to_pg_dump(env: dict[str, str | None], tmp_path: Path) -> None:
    env = {**env, "KIWAME_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"}
    result = run(env, "backup", str(tmp_path / "x"))
    assert result.exit_code == 1 and "pg_dump" in result.output


def test_instance_folder_defaults_to_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = config.load(environ={})
    assert cfg["KIWAME_INSTANCE_DIR"] == str(tmp_path / "instance")
    assert (tmp_path / "instance" / "secret_key").is_file()
    assert not (config.PACKAGE_DIR / "instance").exists()
    assert Path(cfg["KIWAME_EXERCISES_DIR"]) == config.bundled_dir("exercises").resolve()


def test_a_missing_exercises_folder_is_one_line_naming_the_setting(env: dict[str, str | None],
                                                                    tmp_path: Path) -> None:
    result = run({**env, "KIWAME_EXERCISES_DIR": str(tmp_path / "nowhere")}, "db", "upgrade")
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1 and "set KIWAME_EXERCISES_DIR" in result.output


def test_an_unusable_instance_folder_is_one_line_naming_the_setting(env: dict[str, str | None],
                                                                     tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = run({**env, "KIWAME_INSTANCE_DIR": str(blocker / "instance")}, "doctor")
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1 and "set KIWAME_INSTANCE_DIR" in result.output


def test_missing_migrations_are_one_line(env: dict[str, str | None], tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from service.persistence import migrate

    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", tmp_path / "no-migrations")
    result = run(env, "db", "upgrade")
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1
    assert "migrations are missing" in result.output

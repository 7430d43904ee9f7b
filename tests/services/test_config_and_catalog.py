"""Configuration precedence and paths, and exercise versions mirrored into the database on (re)load."""

from __future__ import annotations

import dataclasses
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from service import config
from service.persistence import ExerciseVersion, SubmissionRow, db
from service.services import submissions

REPO = Path(__file__).resolve().parents[2]


def test_defaults_env_and_mapping_precedence(tmp_path: Path) -> None:
    env = {"KIWAME_INSTANCE_DIR": str(tmp_path), "KIWAME_GRADING_WORKERS": "5", "KIWAME_RATE_LIMIT": "9 per hour",
           "KIWAME_AUTO_MIGRATE": "false", "OTHER": "ignored"}
    cfg = config.load({"KIWAME_RATE_LIMIT": "1 per second"}, environ=env)
    assert cfg["KIWAME_GRADING_WORKERS"] == 5  # env, coerced
    assert cfg["KIWAME_RATE_LIMIT"] == "1 per second"  # mapping beats env
    assert cfg["KIWAME_AUTO_MIGRATE"] is False and "OTHER" not in cfg
    assert cfg["KIWAME_DATABASE_URL"] == f"sqlite:///{tmp_path / 'kiwame.sqlite3'}"
    assert cfg["KIWAME_MAX_CODE_BYTES"] == 64 * 1024
    # Bundled exercises resolve from the package, wherever the process runs.
    assert Path(cfg["KIWAME_EXERCISES_DIR"]) == REPO / "exercises"
    embedded = config.load(environ={"KIWAME_INSTANCE_DIR": str(tmp_path)})
    assert embedded["KIWAME_AUTO_MIGRATE"] is True  # only the embedded SQLite migrates itself
    external = config.load(environ={"KIWAME_INSTANCE_DIR": str(tmp_path),
                                    "KIWAME_DATABASE_URL": "postgresql+psycopg://x@y/z"})
    assert external["KIWAME_AUTO_MIGRATE"] is False


def test_secret_key_generated_once(tmp_path: Path) -> None:
    first = config.load(environ={"KIWAME_INSTANCE_DIR": str(tmp_path)})["KIWAME_SECRET_KEY"]
    again = config.load(environ={"KIWAME_INSTANCE_DIR": str(tmp_path)})["KIWAME_SECRET_KEY"]
    assert first == again and len(first) >= 64
    assert ((tmp_path / "secret_key").stat().st_mode & 0o777) == 0o600
    given = config.load(environ={"KIWAME_INSTANCE_DIR": str(tmp_path), "KIWAME_SECRET_KEY": "s"})
    assert given["KIWAME_SECRET_KEY"] == "s"


def _versions(app: Flask, exercise_id: str) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(sa.select(ExerciseVersion.content_hash)
                                       .where(ExerciseVersion.exercise_id == exercise_id)
                                       .order_by(ExerciseVersion.id)))


def test_versions_follow_file_edits(tmp_path: Path, make_app: Callable[..., Flask], make_user: Callable) -> None:
    root = tmp_path / "exercises"
    (root / "basics").mkdir(parents=True)
    for name in ("_track.yaml", "permute-shape-quiz.yaml"):
        shutil.copy(REPO / "exercises" / "basics" / name, root / "basics" / name)
    app = make_app(KIWAME_EXERCISES_DIR=str(root))
    quiz = "permute-shape-quiz"
    [old_hash] = _versions(app, quiz)
    ana = make_user("ana")
    with app.test_request_context():
        old = submissions.submit(submissions.SubmitRequest(user_id=ana.id, exercise_id=quiz, answer=[7, 4]))
        submissions.wait_for(old.id, 10, viewer_id=ana.id, staff=False)

    path = root / "basics" / "permute-shape-quiz.yaml"
    path.write_text(path.read_text().replace("Predict the shape", "Guess the shape"))
    time.sleep(1.1)  # the automatic reload checks at most once a second
    response = app.test_client().get("/healthz")
    assert response.status_code in (200, 503)
    hashes = _versions(app, quiz)
    assert len(hashes) == 2 and hashes[0] == old_hash

    with app.app_context():  # the old submission still points at what that learner saw
        row = db.session.get(SubmissionRow, old.id)
        assert row is not None and row.exercise_version is not None
        assert row.exercise_version.content_hash == old_hash
        assert row.exercise_version.snapshot["title"]["en"].startswith("Predict the shape")


def _readme_settings() -> set[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"`(KIWAME_[A-Z0-9_]+)`", section))


def test_readme_lists_every_setting() -> None:
    declared = {key for key, f in config.FIELDS.items() if not f.metadata["derived"]}
    listed = _readme_settings()
    assert declared - listed == set(), "add these to README.md's configuration table"
    assert listed - declared == set(), "README.md documents settings service/config.py does not declare"
    for f in dataclasses.fields(config.Settings):  # each one documented where it is declared, too
        assert f.metadata["doc"].strip(), f.name


def test_values_are_coerced_to_the_declared_type(tmp_path: Path) -> None:
    env = {"KIWAME_INSTANCE_DIR": str(tmp_path), "KIWAME_WEBHOOK_BACKOFF_S": "0.5", "KIWAME_SANDBOX_SIZE": "",
           "KIWAME_SECURE_COOKIES": "Yes", "KIWAME_MAX_WAIT_S": "7", "KIWAME_EMBEDDED_DB": "1",
           "KIWAME_DATABASE_URL": "postgresql+psycopg://x@y/z"}
    typed = config.from_config(config.load(environ=env))
    assert typed.webhook_backoff_s == 0.5 and typed.sandbox_size is None and typed.secure_cookies is True
    assert typed.max_wait_s == 7 and typed.auto_reload is True  # unset: the declared default
    assert typed.embedded_db is False  # derived from the database URL, never read from the environment
    assert "postgresql" not in repr(typed) and typed.secret_key not in repr(typed)  # secrets stay out of logs
    with pytest.raises(ValueError, match="KIWAME_MAX_WAIT_S must be an integer"):
        config.load(environ={"KIWAME_INSTANCE_DIR": str(tmp_path), "KIWAME_MAX_WAIT_S": "soon"})


def test_the_app_reads_typed_settings(make_app: Callable[..., Flask]) -> None:
    app = make_app(KIWAME_MAX_CODE_BYTES="10", KIWAME_SESSION_COOKIE="kw")
    typed = config.settings(app)
    assert typed.max_code_bytes == 10 and app.config["KIWAME_MAX_CODE_BYTES"] == 10
    assert app.config["SESSION_COOKIE_NAME"] == "kw"

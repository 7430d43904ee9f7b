"""Fixtures for the web UI tests: a real app on a temporary SQLite database, and signed-in clients."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from service.app import create_app
from service.persistence import SubmissionRow, db
from service.services import users as users_service

CSRF_RE = re.compile(r'name="csrf-token" content="([^"]+)"')


@pytest.fixture()
def app(tmp_path: Path) -> Iterator[Flask]:
    app = create_app({"KIWAME_INSTANCE_DIR": str(tmp_path), "TESTING": True, "KIWAME_SECRET_KEY": "t" * 32})
    yield app


def csrf_of(client: FlaskClient, path: str = "/signin") -> str:
    match = CSRF_RE.search(client.get(path).get_data(as_text=True))
    assert match, "page has no CSRF meta tag"
    return match.group(1)


def signup(client: FlaskClient, name: str, password: str = "correct horse", **headers: str) -> Any:
    token = csrf_of(client, "/signup")
    return client.post("/signup", data={"csrf_token": token, "username": name, "password": password},
                       headers=headers)


def make_user(app: Flask, name: str, role: str, password: str = "correct horse") -> int:
    with app.app_context():
        return users_service.create_user(name, role, password).user.id


def signin(client: FlaskClient, name: str, password: str = "correct horse") -> Any:
    token = csrf_of(client)
    return client.post("/signin", data={"csrf_token": token, "username": name, "password": password})


def add_submission(app: Flask, user_id: int, exercise_id: str, *, passed: bool, diagnosis: str | None = None,
                   code: str = "def solve(x):\n    return x\n", result: dict[str, Any] | None = None) -> int:
    """A graded submission row, as the grader would have stored it (with progress folded in)."""
    from datetime import UTC, datetime

    from service.services import progress as progress_service

    with app.app_context():
        row = SubmissionRow(user_id=user_id, exercise_id=exercise_id, code=code, status="graded", source="web",
                            score=1.0 if passed else 0.0, passed=passed, diagnosis=diagnosis,
                            result=result or {"passed": passed, "score": 1.0 if passed else 0.0, "cases": [],
                                              "diagnoses": [], "stdout": ""})
        db.session.add(row)
        progress_service.record_attempt(user_id, exercise_id, row.score or 0.0, passed, datetime.now(UTC))
        db.session.commit()
        return row.id

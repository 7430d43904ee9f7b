"""The README loop through the test client with the real engine: token, list, submit right and wrong, read back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from service.services.runtime import runtime

WRONG = "import torch\n\ndef solve(x):\n    return x.reshape(x.shape[1], x.shape[0])\n"


def _correct_code(app: Flask, exercise_id: str) -> str:
    # The exercise's own reference solution is, by definition, a correct answer.
    return str(runtime(app).catalog.get(exercise_id).solution)


def test_full_loop(engine: Any, app: Flask, client: FlaskClient, auth: Callable[..., dict[str, str]]) -> None:
    headers = auth("learner1")

    listing = client.get("/api/v1/exercises", headers=headers).get_json()
    first = listing["items"][0]
    assert first["id"] == "permute-2d" and first["kind"] == "code"
    detail = client.get(f"/api/v1/exercises/{first['id']}", headers=headers).get_json()
    assert detail["starter"] and detail["visible_cases"]

    right = client.post("/api/v1/submissions?wait=5", headers=headers,
                        json={"exercise_id": first["id"], "code": _correct_code(app, first["id"])})
    assert right.status_code == 200, right.get_json()
    right_body = right.get_json()
    assert (right_body["status"], right_body["passed"], right_body["score"]) == ("graded", True, 1.0)

    wrong = client.post("/api/v1/submissions?wait=5", headers=headers,
                        json={"exercise_id": first["id"], "code": WRONG})
    assert wrong.status_code == 200
    wrong_body = wrong.get_json()
    assert wrong_body["status"] == "graded" and wrong_body["passed"] is False and wrong_body["score"] < 1.0
    codes = {d["code"] for d in wrong_body["diagnoses"]}
    assert codes & {"forbidden_name", "reshape_instead_of_permute", "value_mismatch"}, codes

    # Read the graded results back by id.
    again = client.get(wrong.headers["Location"], headers=headers).get_json()
    assert again["id"] == wrong_body["id"] and again["cases"]
    visible = [c for c in again["cases"] if c["visible"]]
    assert visible and all({"name", "passed", "checks"} <= set(c) for c in again["cases"])
    assert visible[0]["output"] is not None
    assert all(c.get("output") is None for c in again["cases"] if not c["visible"])

    progress = client.get("/api/v1/progress", headers=headers).get_json()
    [row] = [p for p in progress["items"] if p["exercise_id"] == first["id"]]
    assert row["attempts"] == 2 and row["solved"] is True and row["best_score"] == 1.0 and row["solved_at"]


def test_healthz_reports_database_exercises_and_sandbox(engine: Any, app: Flask, client: FlaskClient) -> None:
    response = client.get("/healthz")
    body = response.get_json()
    assert body["database"]["ok"] is True
    assert body["exercises"]["loaded"] == len(runtime(app).catalog.exercises) > 0
    assert isinstance(body["exercises"]["errors"], list)
    layers = body["sandbox"]["layers"]
    assert layers and all({"name", "ok", "required"} <= set(layer) for layer in layers)
    required_ok = all(layer["ok"] for layer in layers if layer["required"])
    assert response.status_code == (200 if required_ok else 503)
    assert body["status"] == ("ok" if required_ok else "unhealthy")


def test_healthz_503_when_database_is_down(tmp_path: Any) -> None:
    from service.app import create_app

    # Built by hand: the usual fixtures would try to clean the (unreachable) tables afterwards.
    app = create_app({"KIWAME_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none",
                      "KIWAME_INSTANCE_DIR": str(tmp_path), "KIWAME_AUTO_MIGRATE": "0"})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["database"]["ok"] is False and body["status"] == "unhealthy"

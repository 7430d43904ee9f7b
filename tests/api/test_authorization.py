"""A learner's token reads only that learner's data; instructors and admins read everyone's."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

QUIZ = "permute-shape-quiz"  # shape quiz: graded without the sandbox


def _submit(client: FlaskClient, headers: dict[str, str], answer: list[int]) -> dict:
    response = client.post("/api/v1/submissions?wait=10", json={"exercise_id": QUIZ, "answer": answer},
                           headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_learner_cannot_read_another_learners_data(client: FlaskClient,
                                                    auth: Callable[..., dict[str, str]]) -> None:
    ana, bo = auth("ana"), auth("bo")
    anas = _submit(client, ana, [7, 4])
    bos = _submit(client, bo, [4, 7])

    # get by id
    assert client.get(f"/api/v1/submissions/{anas['id']}", headers=ana).status_code == 200
    denied = client.get(f"/api/v1/submissions/{anas['id']}", headers=bo)
    assert denied.status_code == 403 and denied.get_json()["code"] == "forbidden"
    # list: own only by default, someone else's forbidden
    listed = client.get("/api/v1/submissions", headers=bo).get_json()
    assert [s["id"] for s in listed["items"]] == [bos["id"]]
    assert client.get("/api/v1/submissions?user=ana", headers=bo).status_code == 403
    # progress
    assert client.get("/api/v1/progress?user=ana", headers=bo).status_code == 403
    mine = client.get("/api/v1/progress", headers=bo).get_json()
    assert mine["user"] == "bo" and [p["solved"] for p in mine["items"]] == [False]


@pytest.mark.parametrize("role", ["instructor", "admin"])
def test_staff_read_everyones_data(client: FlaskClient, auth: Callable[..., dict[str, str]], role: str) -> None:
    ana, staff = auth("ana"), auth("teacher", role)
    anas = _submit(client, ana, [7, 4])
    assert client.get(f"/api/v1/submissions/{anas['id']}", headers=staff).get_json()["user"] == "ana"
    listed = client.get("/api/v1/submissions?user=ana", headers=staff).get_json()
    assert [s["id"] for s in listed["items"]] == [anas["id"]]
    everyone = client.get("/api/v1/submissions", headers=staff).get_json()
    assert everyone["pagination"]["total"] == 1
    progress = client.get("/api/v1/progress?user=ana", headers=staff).get_json()
    assert progress["items"][0]["solved"] is True
    assert client.get("/api/v1/progress?user=nobody", headers=staff).status_code == 404


def test_token_role_is_capped_and_revocation_works(app: Flask, client: FlaskClient,
                                                   make_user: Callable, make_token: Callable) -> None:
    from service.errors import Invalid
    from service.services import tokens

    make_user("ana")
    make_user("teacher", "instructor")
    with app.app_context(), pytest.raises(Invalid):
        tokens.create_token("ana", "x", "admin")
    # An instructor's learner-scoped token sees only the instructor's own data.
    scoped = {"Authorization": f"Bearer {make_token('teacher', 'learner')}"}
    assert client.get("/api/v1/progress?user=ana", headers=scoped).status_code == 403

    with app.app_context():
        created = tokens.create_token("ana", "laptop")
    headers = {"Authorization": f"Bearer {created.token}"}
    assert client.get("/api/v1/exercises", headers=headers).status_code == 200
    with app.app_context():
        info = tokens.list_tokens(created_user_id(app, "ana"))
        assert any(t.id == created.id and t.last_used_at is not None for t in info)
        assert created.token not in repr(info) and info[0].prefix == created.token[:12]
        tokens.revoke_token(created.id)
    assert client.get("/api/v1/exercises", headers=headers).status_code == 401


def created_user_id(app: Flask, name: str) -> int:
    from service.services import users

    return users.get_user(name).id

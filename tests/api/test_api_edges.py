"""Hardened API edges: JSON nesting, and the grading budgets per user, per address and for the service."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from service.request_limits import MAX_JSON_DEPTH, json_depth

QUIZ = {"exercise_id": "permute-shape-quiz", "answer": [7, 4]}


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_json_depth_ignores_brackets_inside_strings() -> None:
    assert json_depth(b'{"a": [1, {"b": "[[[[[[[["}]}') == 3
    assert json_depth(b'"\\"[[[["') == 0
    assert json_depth(_nested(MAX_JSON_DEPTH + 1).encode()) == MAX_JSON_DEPTH + 1


@pytest.mark.parametrize("depth", [100_000, 2_000, MAX_JSON_DEPTH + 1])
def test_too_deep_json_is_a_400_validation_error(client: Any, auth: Callable[..., dict[str, str]],
                                                  depth: int) -> None:
    body = '{"exercise_id": "permute-shape-quiz", "answer": ' + _nested(depth) + "}"
    response = client.post("/api/v1/submissions", data=body,
                           headers={**auth("ana"), "Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.get_json()["code"] == "validation_error"
    assert response.get_json()["details"] == {"max_depth": MAX_JSON_DEPTH}


def test_nesting_within_the_limit_reaches_the_service(client: Any, auth: Callable[..., dict[str, str]]) -> None:
    body = '{"exercise_id": "permute-shape-quiz", "answer": ' + _nested(MAX_JSON_DEPTH - 2) + "}"
    response = client.post("/api/v1/submissions?wait=5", data=body,
                           headers={**auth("ana"), "Content-Type": "application/json"})
    assert response.status_code in (200, 202)  # graded (as wrong), not refused


def test_api_budget_is_per_user_whatever_the_number_of_tokens(make_app: Callable[..., Flask],
                                                               make_user: Any, make_token: Any) -> None:
    app = make_app(KIWAME_RATE_LIMIT="3 per minute")
    make_user("ana")
    first, second = make_token("ana"), make_token("ana")
    client = app.test_client()
    codes = [client.get("/api/v1/progress", headers={"Authorization": f"Bearer {first}"}).status_code
             for _ in range(3)]
    codes.append(client.get("/api/v1/progress", headers={"Authorization": f"Bearer {second}"}).status_code)
    assert codes == [200, 200, 200, 429]


def test_grading_budget_per_address_covers_every_account_from_it(make_app: Callable[..., Flask],
                                                                  auth: Callable[..., dict[str, str]]) -> None:
    app = make_app(KIWAME_ADDRESS_SUBMIT_RATE_LIMIT="2 per minute")
    client = app.test_client()
    codes = [client.post("/api/v1/submissions", json=QUIZ, headers=auth(name)).status_code
             for name in ("ana", "bo", "cy")]  # three fresh accounts, one address
    assert codes[:2] != [429, 429] and codes[2] == 429
    assert client.post("/api/v1/submissions", json=QUIZ, headers=auth("dee"),
                       environ_base={"REMOTE_ADDR": "10.0.0.7"}).status_code != 429


def test_global_grading_budget(make_app: Callable[..., Flask], auth: Callable[..., dict[str, str]]) -> None:
    app = make_app(KIWAME_GLOBAL_SUBMIT_RATE_LIMIT="2 per minute")
    client = app.test_client()
    codes = [client.post("/api/v1/submissions", json=QUIZ, headers=auth(name),
                         environ_base={"REMOTE_ADDR": f"10.0.1.{i}"}).status_code
             for i, name in enumerate(("ana", "bo", "cy"))]
    assert 429 not in codes[:2] and codes[2] == 429
    assert client.get("/api/v1/progress", headers=auth("ana")).status_code == 200  # reading is not grading

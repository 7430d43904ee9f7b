"""Exercise listing (filters, pagination) and detail (what a learner may see, never the solution)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from service.services.runtime import runtime


def _all(client: FlaskClient, headers: dict[str, str], query: str = "") -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    page = 1
    while True:
        body = client.get(f"/api/v1/exercises?per_page=7&page={page}{query}", headers=headers).get_json()
        items += body["items"]
        if page >= body["pagination"]["total_pages"]:
            return items
        page += 1


def test_list_matches_catalog_in_order(app: Flask, client: FlaskClient, auth: Callable[..., dict[str, str]]) -> None:
    headers = auth("ana")
    catalog = runtime(app).catalog
    items = _all(client, headers)
    assert [i["id"] for i in items] == list(catalog.exercises)
    first = items[0]
    assert set(first) >= {"id", "title", "kind", "framework", "tags", "difficulty", "track"}
    assert set(first["title"]) == {"en", "ja"}


def test_filters(client: FlaskClient, auth: Callable[..., dict[str, str]], app: Flask) -> None:
    headers = auth("ana")
    exercises = list(runtime(app).catalog.exercises.values())
    for query, keep in (("&framework=numpy", lambda e: "numpy" in e.offered),  # offered in it, alone or with torch
                        ("&kind=shape", lambda e: e.kind == "shape"),
                        ("&tag=permute", lambda e: "permute" in e.tags),
                        ("&tag=permute&kind=code", lambda e: "permute" in e.tags and e.kind == "code")):
        expected = [e.id for e in exercises if keep(e)]
        assert expected, query  # the bundled exercises cover every filter used here
        assert [i["id"] for i in _all(client, headers, query)] == expected, query
    assert client.get("/api/v1/exercises?framework=jax", headers=headers).status_code == 422


def test_pagination_headers(client: FlaskClient, auth: Callable[..., dict[str, str]]) -> None:
    response = client.get("/api/v1/exercises?per_page=2", headers=auth("ana"))
    meta = response.get_json()["pagination"]
    assert json.loads(response.headers["X-Pagination"]) == meta
    assert meta["page"] == 1 and meta["per_page"] == 2 and len(response.get_json()["items"]) == 2
    assert 'rel="next"' in response.headers["Link"] and 'rel="prev"' not in response.headers["Link"]
    beyond = client.get(f"/api/v1/exercises?per_page=2&page={meta['total_pages'] + 1}", headers=auth("bo"))
    assert beyond.status_code == 200 and beyond.get_json()["items"] == []


def test_detail_never_leaks_solution_or_hidden_cases(app: Flask, client: FlaskClient,
                                                      auth: Callable[..., dict[str, str]]) -> None:
    headers = auth("ana")
    exercise = runtime(app).catalog.get("permute-2d")
    body = client.get("/api/v1/exercises/permute-2d", headers=headers).get_json()
    assert body["prompt"]["en"] == exercise.prompt.en and body["starter"] == exercise.starter
    assert body["version"] == exercise.content_hash and body["entry"] == "solve"
    assert body["rules"] == {"forbid": ["reshape", "view"], "require": ["permute"]}
    assert [c["name"] for c in body["visible_cases"]] == [c.name for c in exercise.visible_cases]
    assert body["hidden_cases"] == len(exercise.cases) - len(exercise.visible_cases) > 0
    text = json.dumps(body)
    assert "x.permute(1, 0)\n" not in text and "solution" not in body
    for hidden in (c for c in exercise.cases if not c.visible):
        assert hidden.name not in text


def test_quiz_detail_has_no_answer(client: FlaskClient, auth: Callable[..., dict[str, str]], app: Flask) -> None:
    quizzes = [e for e in runtime(app).catalog.exercises.values() if e.kind == "choice"]
    assert quizzes
    body = client.get(f"/api/v1/exercises/{quizzes[0].id}", headers=auth("ana")).get_json()
    assert len(body["choices"]) == len(quizzes[0].choices) and "answer" not in body
    assert "explanation" not in body


def test_detail_expected_outputs_from_reference_run(engine: Any, client: FlaskClient,
                                                    auth: Callable[..., dict[str, str]]) -> None:
    body = client.get("/api/v1/exercises/permute-2d", headers=auth("ana")).get_json()
    [case] = body["visible_cases"]
    assert case["expected"]["shape"] == [3, 2]
    assert case["expected"]["values"] == [[1, 4], [2, 5], [3, 6]]
    assert case["expected"]["dtype"] == "int64"


def test_unknown_exercise(client: FlaskClient, auth: Callable[..., dict[str, str]]) -> None:
    response = client.get("/api/v1/exercises/nope", headers=auth("ana"))
    assert response.status_code == 404 and response.get_json()["code"] == "exercise_not_found"

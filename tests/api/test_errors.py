"""Every error is JSON {code, message, details}: 401, 404, 405, 413, 422, 429 (memory and Redis), 500."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient


def _assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.data[:500]
    assert response.is_json
    body = response.get_json()
    assert set(body) == {"code", "message", "details"}
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    return body


def test_missing_and_bad_token(client: FlaskClient) -> None:
    _assert_error(client.get("/api/v1/exercises"), 401, "unauthorized")
    _assert_error(client.get("/api/v1/exercises", headers={"Authorization": "Bearer kiw_nope"}), 401,
                  "invalid_token")
    _assert_error(client.get("/api/v1/exercises", headers={"Authorization": "Basic abc"}), 401, "unauthorized")


def test_unknown_url_and_method(client: FlaskClient, auth: Callable[..., dict[str, str]]) -> None:
    headers = auth("ana")
    _assert_error(client.get("/api/v1/nothing-here", headers=headers), 404, "not_found")
    _assert_error(client.get("/api/v2/exercises"), 404, "not_found")
    response = _assert_error(client.delete("/api/v1/exercises", headers=headers), 405, "method_not_allowed")
    assert response["message"]


def test_validation_error_has_field_details(client: FlaskClient, auth: Callable[..., dict[str, str]]) -> None:
    headers = auth("ana")
    body = _assert_error(client.post("/api/v1/submissions", json={"code": "x"}, headers=headers), 422,
                         "validation_error")
    assert "exercise_id" in str(body["details"])
    _assert_error(client.get("/api/v1/exercises?per_page=1000", headers=headers), 422, "validation_error")
    _assert_error(client.post("/api/v1/submissions?wait=31", json={"exercise_id": "x", "code": ""},
                              headers=headers), 422, "validation_error")


def test_nul_characters_are_rejected_not_500(client: FlaskClient, auth: Callable[..., dict[str, str]]) -> None:
    # Found by schemathesis on PostgreSQL, whose text columns cannot hold NUL.
    headers = auth("ana", "instructor")
    _assert_error(client.get("/api/v1/progress?user=a%00b", headers=headers), 422, "validation_error")
    _assert_error(client.get("/api/v1/submissions?exercise_id=a%00b", headers=headers), 422, "validation_error")
    _assert_error(client.post("/api/v1/submissions", json={"exercise_id": "permute-2d", "code": "x\x00"},
                              headers=headers), 422, "validation_error")


def test_request_too_large_is_json_413(make_app: Callable[..., Flask], auth: Callable[..., dict[str, str]]) -> None:
    app = make_app(KIWAME_MAX_CONTENT_LENGTH="2000")
    headers = auth("ana")
    response = app.test_client().post("/api/v1/submissions", json={"exercise_id": "x", "code": "#" * 5000},
                                      headers=headers)
    _assert_error(response, 413, "payload_too_large")


def test_unhandled_exception_is_json_500(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/api/v1/boom-for-test")
    def boom() -> None:
        raise RuntimeError("kaboom")

    body = _assert_error(app.test_client().get("/api/v1/boom-for-test"), 500, "internal_error")
    assert "kaboom" not in body["message"]  # internals are logged, not shown


def _hit_until_limited(app: Flask, headers: dict[str, str], limit: int) -> list[int]:
    client = app.test_client()
    return [client.get("/api/v1/exercises", headers=headers).status_code for _ in range(limit + 2)]


def test_rate_limit_in_memory_per_token(make_app: Callable[..., Flask], auth: Callable[..., dict[str, str]]) -> None:
    app = make_app(KIWAME_RATE_LIMIT="3 per minute")
    ana, bo = auth("ana"), auth("bo")
    statuses = _hit_until_limited(app, ana, 3)
    assert statuses[:3] == [200, 200, 200] and statuses[3:] == [429, 429]
    limited = app.test_client().get("/api/v1/exercises", headers=ana)
    _assert_error(limited, 429, "rate_limited")
    assert "Retry-After" in limited.headers
    # Another token has its own budget.
    assert app.test_client().get("/api/v1/exercises", headers=bo).status_code == 200


def test_rate_limit_in_redis(make_app: Callable[..., Flask], auth: Callable[..., dict[str, str]]) -> None:
    url = "redis://127.0.0.1:6379/0"
    try:
        redis.Redis.from_url(url).ping()
    except redis.RedisError:
        pytest.skip("no Redis at 127.0.0.1:6379")
    prefix = f"kiwame-test-{uuid.uuid4().hex}"
    app = make_app(KIWAME_RATE_LIMIT="2 per minute", KIWAME_REDIS_URL=url, RATELIMIT_KEY_PREFIX=prefix)
    statuses = _hit_until_limited(app, auth("ana"), 2)
    assert statuses == [200, 200, 429, 429]
    # The counters really live in Redis.
    assert redis.Redis.from_url(url).keys(f"*{prefix}*")

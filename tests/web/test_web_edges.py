"""Hardened edges of the browser side: where `next` may lead, sign-up and page budgets, proxies, JSON depth."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from service.app import create_app
from tests.web.conftest import csrf_of, make_user, signup


def _app(tmp_path: Path, **overrides: str) -> Flask:
    return create_app({"KIWAME_INSTANCE_DIR": str(tmp_path), "TESTING": True, "KIWAME_SECRET_KEY": "t" * 32,
                       **overrides})


@pytest.mark.parametrize("target", [
    "/\t/evil.example/", "/\n/evil.example/", "/\r\n/evil.example/", "/ /evil.example/", "/\x00/evil.example/",
    "/\x7f/evil.example/", "/\\evil.example/", "\\\\evil.example", "//evil.example/", "https://evil.example/",
    "javascript:alert(1)", "/\u3000/evil.example/", "evil.example", "",
])
def test_next_after_signin_only_leads_to_a_local_path(app: Flask, target: str) -> None:
    response = _signin_with_next(app, target)
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_a_local_next_is_kept(app: Flask) -> None:
    assert _signin_with_next(app, "/exercises/permute-2d?from=3").headers["Location"] == "/exercises/permute-2d?from=3"


def _signin_with_next(app: Flask, target: str) -> Any:
    make_user(app, "ivy", "learner")
    client = app.test_client()
    return client.post("/signin", data={"csrf_token": csrf_of(client), "username": "ivy",
                                        "password": "correct horse", "next": target})


def test_signup_is_limited_per_address(tmp_path: Path) -> None:
    app = _app(tmp_path, KIWAME_SIGNUP_RATE_LIMIT="3 per hour")
    codes = [signup(app.test_client(), f"fresh{i}").status_code for i in range(4)]
    assert codes == [302, 302, 302, 429]
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "10.0.0.9"
    assert signup(elsewhere, "fresh-elsewhere").status_code == 302


def test_signed_in_page_loads_are_counted_per_user_not_per_address(tmp_path: Path) -> None:
    """A classroom behind one NAT: each learner has their own page budget, not a share of one."""
    app = _app(tmp_path, KIWAME_RATE_LIMIT="8 per minute")
    ana, bo = app.test_client(), app.test_client()
    assert signup(ana, "ana").status_code == 302
    assert [ana.get("/").status_code for _ in range(8)] == [200] * 8
    assert signup(bo, "bo").status_code == 302  # same address as ana
    assert [bo.get("/").status_code for _ in range(8)] == [200] * 8
    assert ana.get("/").status_code == 429  # the per-user budget still holds


def test_trusted_proxy_count_decides_which_address_is_used(tmp_path: Path) -> None:
    behind = _app(tmp_path / "a", KIWAME_PROXY_COUNT="1", KIWAME_SIGNUP_RATE_LIMIT="1 per hour")
    first = signup(behind.test_client(), "p1", **{"X-Forwarded-For": "198.51.100.5"})
    other = signup(behind.test_client(), "p2", **{"X-Forwarded-For": "198.51.100.6"})
    again = signup(behind.test_client(), "p3", **{"X-Forwarded-For": "1.2.3.4, 198.51.100.5"})
    assert [first.status_code, other.status_code, again.status_code] == [302, 302, 429]

    # Without a trusted proxy the header is the client's own claim and is ignored.
    direct = _app(tmp_path / "b", KIWAME_SIGNUP_RATE_LIMIT="1 per hour")
    codes = [signup(direct.test_client(), f"d{i}", **{"X-Forwarded-For": f"198.51.100.{i}"}).status_code
             for i in range(2)]
    assert codes == [302, 429]


def test_deeply_nested_json_is_a_400_on_the_exercise_page(app: Flask) -> None:
    client = app.test_client()
    signup(client, "deep")
    token = csrf_of(client, "/")
    body = '{"answer": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = client.post("/exercises/permute-shape-quiz/submit", data=body,
                           headers={"Content-Type": "application/json", "X-CSRFToken": token})
    assert response.status_code == 400 and response.get_json()["code"] == "validation_error"


def test_a_deactivated_user_is_signed_out(app: Flask) -> None:
    from service.services import accounts

    client = app.test_client()
    signup(client, "gone")
    assert client.get("/progress").status_code == 200
    with app.app_context():
        accounts.set_active("gone", False)
    assert client.get("/progress").status_code == 302  # sent to sign in

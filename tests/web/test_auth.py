"""Sign-up, sign-in, sessions, CSRF and security headers of the browser UI."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask

from service.persistence import User, WebSession, db
from tests.web.conftest import csrf_of, make_user, signin, signup


def test_signup_creates_learner_with_hashed_password_and_signs_in(app: Flask) -> None:
    client = app.test_client()
    response = signup(client, "alice")
    assert response.status_code == 302
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.name == "alice"))
        assert user is not None and user.role == "learner"
        assert user.password_hash and "correct horse" not in user.password_hash
    assert client.get("/").status_code == 200


def test_session_cookie_is_opaque_httponly_lax_and_stored_server_side(app: Flask) -> None:
    client = app.test_client()
    response = signup(client, "bob")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    token = cookie.split(";")[0].split("=", 1)[1]
    with app.app_context():
        rows = db.session.scalars(sa.select(WebSession)).all()
        assert token not in {r.id for r in rows}  # only the hash is stored
        assert any(r.user_id is not None for r in rows)


def test_secure_cookie_flag_when_configured(tmp_path: object) -> None:
    from service.app import create_app

    app = create_app({"KIWAME_INSTANCE_DIR": str(tmp_path), "TESTING": True, "KIWAME_SECURE_COOKIES": "1"})
    response = signup(app.test_client(), "carol")
    assert "Secure" in response.headers["Set-Cookie"]


def test_signout_kills_the_server_side_session(app: Flask) -> None:
    client = app.test_client()
    signup(client, "dave")
    cookie = client.get_cookie("kiwame_session")
    assert cookie is not None
    token = csrf_of(client, "/")
    assert client.post("/signout", data={"csrf_token": token}).status_code == 302
    # Replaying the old cookie must not sign anyone in again.
    other = app.test_client()
    other.set_cookie("kiwame_session", cookie.value)
    assert other.get("/progress").status_code == 302  # "/" is the public landing page for visitors


def test_forms_without_csrf_token_are_rejected(app: Flask) -> None:
    client = app.test_client()
    response = client.post("/signup", data={"username": "eve", "password": "correct horse"})
    assert response.status_code == 400
    with app.app_context():
        assert db.session.scalar(sa.select(User).where(User.name == "eve")) is None


def test_wrong_password_and_unknown_user_look_the_same(app: Flask) -> None:
    make_user(app, "frank", "learner")
    client = app.test_client()
    wrong = signin(client, "frank", "nope nope")
    unknown = signin(client, "nobody", "nope nope")
    assert wrong.status_code == unknown.status_code == 401
    assert client.get("/progress").status_code == 302


def test_signin_is_rate_limited(app: Flask) -> None:
    make_user(app, "gina", "learner")
    client = app.test_client()
    responses = [signin(client, "gina", "wrong password") for _ in range(12)]
    codes = [r.status_code for r in responses]
    assert 429 in codes
    assert codes[0] == 401
    assert "Too many attempts" in responses[-1].get_data(as_text=True)  # a page, not a JSON error


def test_signin_rotates_the_session_token(app: Flask) -> None:
    make_user(app, "hank", "learner")
    client = app.test_client()
    client.get("/signin")
    before = client.get_cookie("kiwame_session")
    signin(client, "hank")
    after = client.get_cookie("kiwame_session")
    assert after is not None and (before is None or before.value != after.value)


def test_pages_carry_a_strict_content_security_policy(app: Flask) -> None:
    response = app.test_client().get("/signin")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    html = response.get_data(as_text=True)
    # No inline script bodies: every <script> either has src= or is a JSON data block.
    import re

    for tag in re.findall(r"<script[^>]*>", html):
        assert "src=" in tag or 'type="application/json"' in tag


def test_anonymous_sessions_are_short_lived_and_expired_rows_are_purged(app: Flask) -> None:
    from datetime import UTC, datetime, timedelta

    from service.services import web_sessions
    from service.web import sessions

    with app.app_context():
        db.session.add(WebSession(id="x" * 64, user_id=None, data={}, expires_at=datetime.now(UTC) - timedelta(1)))
        db.session.commit()
    web_sessions._next_purge = 0.0  # as if the last purge was long ago
    visitor = app.test_client()
    csrf_of(visitor, "/signin")  # a cookie-less visit to a form makes a new (anonymous) session
    with app.app_context():
        rows = db.session.scalars(sa.select(WebSession)).all()
    assert [r.id for r in rows if r.id == "x" * 64] == []  # the expired row is gone
    [anonymous] = rows
    assert anonymous.user_id is None
    assert anonymous.expires_at - datetime.now(UTC) <= sessions.ANONYMOUS_LIFETIME
    signup(visitor, "carol")
    with app.app_context():
        [signed_in] = [r for r in db.session.scalars(sa.select(WebSession)) if r.user_id is not None]
    assert signed_in.expires_at - datetime.now(UTC) > timedelta(days=13)

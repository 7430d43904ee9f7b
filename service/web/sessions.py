"""Server-side browser sessions stored in the ``web_sessions`` table; the cookie carries only a random token."""

from __future__ import annotations

import hashlib
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask, Request, Response
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict

from service.extensions import db
from service.persistence.models import WebSession

LIFETIME = timedelta(days=14)
# A visitor who never signs in only needs the session for a form's CSRF token: keeping that row for two
# weeks would let anyone grow the table with cookie-less requests, so it lives for two hours.
ANONYMOUS_LIFETIME = timedelta(hours=2)
PURGE_EVERY_S = 60.0  # expired rows are deleted when a new session is made, at most this often
_next_purge = 0.0


def _digest(token: str) -> str:
    # Only the hash is stored: a leaked database row cannot be replayed as a cookie.
    return hashlib.sha256(token.encode()).hexdigest()


class ServerSession(CallbackDict[str, Any], SessionMixin):
    """Dict-like session; ``modified`` is set by any write so unchanged sessions cost no UPDATE."""

    def __init__(self, initial: dict[str, Any] | None = None, token: str | None = None, new: bool = False) -> None:
        def on_update(_self: Any) -> None:
            self.modified = True

        super().__init__(initial or {}, on_update)
        self.token = token
        self.new = new
        self.modified = False
        self.rotate = False  # set on sign-in/out: a fresh token defeats session fixation

    def regenerate(self) -> None:
        self.rotate = True
        self.modified = True


class DbSessionInterface(SessionInterface):
    def open_session(self, app: Flask, request: Request) -> ServerSession:
        token = request.cookies.get(self.get_cookie_name(app))
        if token and len(token) < 128:
            row = db.session.get(WebSession, _digest(token))
            if row is not None and row.expires_at > datetime.now(UTC):
                return ServerSession(dict(row.data or {}), token=token)
        return ServerSession(new=True)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        assert isinstance(session, ServerSession)
        name = self.get_cookie_name(app)
        domain, path = self.get_cookie_domain(app), self.get_cookie_path(app)
        if session.token and (session.rotate or not session):
            # Delete the old row when signing out or rotating, so the old cookie is dead server-side too.
            db.session.execute(db.delete(WebSession).where(WebSession.id == _digest(session.token)))
            if not session:
                db.session.commit()
                response.delete_cookie(name, domain=domain, path=path)
                return
            session.token = None
        if not session.modified or not session:
            return
        data = dict(session)
        user_id = data.get("user_id")
        expires = datetime.now(UTC) + (LIFETIME if user_id else ANONYMOUS_LIFETIME)
        if session.token is None:
            _purge_now_and_then()
            session.token = secrets.token_urlsafe(32)
            db.session.add(WebSession(id=_digest(session.token), user_id=user_id, data=data, expires_at=expires))
        else:
            row = db.session.get(WebSession, _digest(session.token))
            if row is None:
                row = WebSession(id=_digest(session.token), expires_at=expires)
                db.session.add(row)
            row.data, row.user_id, row.expires_at = data, user_id, expires
        db.session.commit()
        response.set_cookie(
            name, session.token, expires=expires, httponly=True, domain=domain, path=path,
            secure=self.get_cookie_secure(app), samesite=self.get_cookie_samesite(app) or "Lax",
        )


def _purge_now_and_then() -> None:
    global _next_purge
    now = time.monotonic()
    if now >= _next_purge:  # two threads may both purge once: harmless
        _next_purge = now + PURGE_EVERY_S
        purge_expired()


def purge_expired() -> int:
    """Delete expired sessions; returns how many (on sign-in, and when new sessions are made)."""
    result = db.session.execute(db.delete(WebSession).where(WebSession.expires_at <= datetime.now(UTC)))
    return int(getattr(result, "rowcount", 0) or 0)

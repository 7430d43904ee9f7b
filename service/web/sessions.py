"""Server-side browser sessions stored in the ``web_sessions`` table; the cookie carries only a random token."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask, Request, Response
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict

from service.services import web_sessions as store

LIFETIME = timedelta(days=14)
# A visitor who never signs in only needs the session for a form's CSRF token: keeping that row for two
# weeks would let anyone grow the table with cookie-less requests, so it lives for two hours.
ANONYMOUS_LIFETIME = timedelta(hours=2)


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
            data = store.load(token)
            if data is not None:
                return ServerSession(data, token=token)
        return ServerSession(new=True)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        assert isinstance(session, ServerSession)
        name = self.get_cookie_name(app)
        domain, path = self.get_cookie_domain(app), self.get_cookie_path(app)
        if session.token and (session.rotate or not session):
            # Delete the old row when signing out or rotating, so the old cookie is dead server-side too.
            store.delete(session.token, commit=not session)
            if not session:
                response.delete_cookie(name, domain=domain, path=path)
                return
            session.token = None
        if not session.modified or not session:
            return
        data = dict(session)
        user_id = data.get("user_id")
        expires = datetime.now(UTC) + (LIFETIME if user_id else ANONYMOUS_LIFETIME)
        new = session.token is None
        token = session.token = session.token or secrets.token_urlsafe(32)
        store.save(token, data, expires, new=new)
        response.set_cookie(
            name, token, expires=expires, httponly=True, domain=domain, path=path,
            secure=self.get_cookie_secure(app), samesite=self._samesite(app, session),
        )

    def _samesite(self, app: Flask, session: ServerSession) -> str:
        # An LTI session lives in the LMS's cross-site iframe: its cookie must be SameSite=None, which
        # browsers accept only with Secure (HTTPS). Other sessions keep the configured (Lax) policy.
        if session.get("lti_frame") and self.get_cookie_secure(app):
            return "None"
        return self.get_cookie_samesite(app) or "Lax"

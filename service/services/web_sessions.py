"""The server-side session store behind the browser's cookie: rows of ``web_sessions``, keyed by token hash."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime
from typing import Any

from service.extensions import db
from service.persistence.models import WebSession

PURGE_EVERY_S = 60.0  # expired rows are deleted when a new session is made, at most this often
_next_purge = 0.0


def digest(token: str) -> str:
    # Only the hash is stored: a leaked database row cannot be replayed as a cookie.
    return hashlib.sha256(token.encode()).hexdigest()


def load(token: str) -> dict[str, Any] | None:
    """The session data for a cookie token, or None when unknown or expired."""
    row = db.session.get(WebSession, digest(token))
    if row is None or row.expires_at <= datetime.now(UTC):
        return None
    return dict(row.data or {})


def save(token: str, data: dict[str, Any], expires_at: datetime, *, new: bool) -> None:
    user_id = data.get("user_id")
    row = None if new else db.session.get(WebSession, digest(token))
    if row is None:
        if new:
            _purge_now_and_then()
        db.session.add(WebSession(id=digest(token), user_id=user_id, data=data, expires_at=expires_at))
    else:
        row.data, row.user_id, row.expires_at = data, user_id, expires_at
    db.session.commit()


def delete(token: str, *, commit: bool) -> None:
    """Forget a session server-side (sign-out, rotation), so the old cookie is dead too."""
    db.session.execute(db.delete(WebSession).where(WebSession.id == digest(token)))
    if commit:
        db.session.commit()


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

"""Account administration for operators (``kiwame user list|set-password|set-role|deactivate``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from service.errors import Invalid, NotFound
from service.persistence import ApiToken, User, WebSession, db
from service.persistence.models import ROLES
from service.services.users import set_password as _set_password

MIN_PASSWORD = 8


@dataclass(frozen=True)
class AccountRow:
    id: int
    name: str
    role: str
    active: bool
    created_at: datetime
    tokens: int  # live (unrevoked) API tokens


def list_accounts(role: str | None = None, include_inactive: bool = True) -> list[AccountRow]:
    live_tokens = (sa.select(ApiToken.user_id, sa.func.count().label("n"))
                   .where(ApiToken.revoked_at.is_(None)).group_by(ApiToken.user_id).subquery())
    query = (sa.select(User, sa.func.coalesce(live_tokens.c.n, 0))
             .outerjoin(live_tokens, live_tokens.c.user_id == User.id).order_by(User.name))
    if role:
        query = query.where(User.role == role)
    if not include_inactive:
        query = query.where(User.active.is_(True))
    return [AccountRow(u.id, u.name, u.role, bool(u.active), u.created_at, int(n))
            for u, n in db.session.execute(query).all()]


def _user(name: str) -> User:
    user = db.session.scalar(sa.select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"no user named {name!r}", code="user_not_found")
    return user


def _sign_out(user_id: int) -> int:
    """End the user's browser sessions (their next page asks them to sign in again)."""
    result = db.session.execute(sa.delete(WebSession).where(WebSession.user_id == user_id))
    return int(getattr(result, "rowcount", 0) or 0)


def set_password(name: str, password: str) -> None:
    """A new password; the user's browser sessions end (a leaked session must not outlive the reset)."""
    if len(password) < MIN_PASSWORD:
        raise Invalid(f"the password must be at least {MIN_PASSWORD} characters")
    user = _user(name)
    _sign_out(user.id)
    _set_password(name, password)  # commits


def set_role(name: str, role: str) -> str:
    """Change the role; returns the previous one. Tokens never exceed the user's current role."""
    if role not in ROLES:
        raise Invalid(f"role must be one of {', '.join(ROLES)}")
    user = _user(name)
    previous, user.role = user.role, role
    db.session.commit()
    return previous


def set_active(name: str, active: bool) -> int:
    """Deactivate (no sign-in, tokens refused, sessions ended) or reactivate; returns sessions ended."""
    user = _user(name)
    user.active = active
    ended = 0 if active else _sign_out(user.id)
    db.session.commit()
    return ended

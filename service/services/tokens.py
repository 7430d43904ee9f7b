"""API tokens: high-entropy secrets stored as sha256, shown once, revocable, scoped to a role."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from service.errors import Invalid, NotFound
from service.persistence import ApiToken, User, db
from service.persistence.models import ROLE_RANK, STAFF_ROLES, utcnow

TOKEN_PREFIX = "kiw_"
# Why throttle last_used_at: writing on every request would turn each read into a write transaction.
_LAST_USED_RESOLUTION = timedelta(seconds=60)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the user and the role of the token they used (never above the user's role)."""

    user_id: int
    user_name: str
    role: str
    token_id: int | None = None

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES


@dataclass(frozen=True)
class CreatedToken:
    id: int
    token: str  # the secret: shown once, never stored
    prefix: str
    name: str
    role: str
    user: str


@dataclass(frozen=True)
class TokenInfo:
    id: int
    prefix: str
    name: str
    role: str
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def create_token(user_name: str, name: str = "", role: str | None = None,
                 webhook_secret: str | None = None) -> CreatedToken:
    user = db.session.scalar(sa.select(User).where(User.name == user_name))
    if user is None:
        raise NotFound(f"no user named {user_name!r}", code="user_not_found")
    role = role or user.role
    if role not in ROLE_RANK or ROLE_RANK[role] > ROLE_RANK[user.role]:
        raise Invalid(f"a token's role cannot exceed the user's role ({user.role})")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name, prefix=raw[:12], token_hash=hash_token(raw), role=role,
                     webhook_secret=webhook_secret)
    db.session.add(token)
    db.session.commit()
    return CreatedToken(token.id, raw, token.prefix, name, role, user.name)


def revoke_token(token_id: int, *, owner_id: int | None = None) -> None:
    """Revoke a token; with ``owner_id``, only that user's own tokens."""
    token = db.session.get(ApiToken, token_id)
    if token is None or (owner_id is not None and token.user_id != owner_id):
        raise NotFound(f"no token with id {token_id}", code="token_not_found")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        db.session.commit()


def list_tokens(user_id: int) -> list[TokenInfo]:
    rows = db.session.scalars(sa.select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id))
    return [TokenInfo(t.id, t.prefix, t.name, t.role, t.created_at, t.last_used_at, t.revoked_at is not None)
            for t in rows]


def authenticate(raw: str) -> Principal | None:
    """The principal for a live token, or None for unknown, revoked or inactive-user tokens."""
    if not raw.startswith(TOKEN_PREFIX):
        return None
    row = db.session.execute(_LOOKUP, {"digest": hash_token(raw)}).first()
    if row is None:
        return None
    if row.revoked_at is not None or not row.active:
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at > _LAST_USED_RESOLUTION:
        db.session.execute(_TOUCH, {"tid": row.token_id, "now": now})
        db.session.commit()
    # A user demoted after the token was made keeps only the lower of the two roles.
    role = min(row.token_role, row.user_role, key=lambda r: ROLE_RANK.get(r, 0))
    return Principal(row.user_id, row.name, role, row.token_id)


# Every API request runs these: built once, and columns rather than ORM objects (cheaper per request).
_LOOKUP = (sa.select(ApiToken.id.label("token_id"), ApiToken.role.label("token_role"), ApiToken.revoked_at,
                     ApiToken.last_used_at, User.id.label("user_id"), User.name, User.role.label("user_role"),
                     User.active)
           .join(User, User.id == ApiToken.user_id).where(ApiToken.token_hash == sa.bindparam("digest")))
_TOUCH = (sa.update(ApiToken).where(ApiToken.id == sa.bindparam("tid"))
          .values(last_used_at=sa.bindparam("now", type_=ApiToken.__table__.c.last_used_at.type))
          .execution_options(synchronize_session=False))


def token_webhook_secret(token_id: int | None) -> str | None:
    if token_id is None:
        return None
    token = db.session.get(ApiToken, token_id)
    return token.webhook_secret if token is not None else None

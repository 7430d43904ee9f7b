"""Bearer-token authentication for the API and the caller-scoping rules."""

from __future__ import annotations

from flask import g, request

from service.errors import Forbidden, Unauthorized
from service.services import tokens, users
from service.services.tokens import Principal


def _bearer() -> str | None:
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    return raw.strip() if scheme.lower() == "bearer" and raw.strip() else None


def _authenticate(raw: str) -> Principal | None:
    """Looked up once per request: the rate limiter asks first, then the blueprint's before_request."""
    if "bearer" not in g:
        g.bearer = tokens.authenticate(raw)
    return g.bearer  # type: ignore[no-any-return]


def rate_identity() -> str | None:
    """The rate-limit key of a request with a live token: its user, however many tokens they hold."""
    raw = _bearer()
    principal = _authenticate(raw) if raw else None
    return f"user:{principal.user_id}" if principal is not None else None


def load_principal() -> None:
    """``before_request`` of the v1 blueprint: every endpoint there needs a live token."""
    raw = _bearer()
    if raw is None:
        raise Unauthorized("send `Authorization: Bearer <token>` (create one with `kiwame token create`)")
    principal = _authenticate(raw)
    if principal is None:
        raise Unauthorized("the token is unknown or revoked", code="invalid_token")
    g.principal = principal


def principal() -> Principal:
    return g.principal  # type: ignore[no-any-return]


def resolve_user(name: str | None) -> tuple[int, str]:
    """The user a query is about: the caller by default; somebody else only for instructors and admins."""
    me = principal()
    if not name or name == me.user_name:
        return me.user_id, me.user_name
    if not me.is_staff:
        raise Forbidden("learners can only read their own data")
    other = users.get_user(name)
    return other.id, other.name

"""Bearer-token authentication for the API and the caller-scoping rules."""

from __future__ import annotations

from flask import g, request

from service.errors import Forbidden, Unauthorized
from service.services import tokens, users
from service.services.tokens import Principal


def load_principal() -> None:
    """``before_request`` of the v1 blueprint: every endpoint there needs a live token."""
    header = request.headers.get("Authorization", "")
    scheme, _, raw = header.partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        raise Unauthorized("send `Authorization: Bearer <token>` (create one with `kiwame token create`)")
    principal = tokens.authenticate(raw.strip())
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

"""LTI registrations (platforms, deployments) and the tool's own RSA keys and JWKS."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwcrypto.jwk import JWK

from service.errors import Conflict, Invalid, NotFound
from service.persistence import LtiDeployment, LtiPlatform, LtiScoreDelivery, LtiToolKey, ResourceLink, db

KEY_BITS = 2048  # the minimum the issue allows; rotate-key --bits may ask for more
MIN_KEY_BITS = 2048


@dataclass(frozen=True)
class PlatformView:
    id: int
    issuer: str
    client_id: str
    auth_url: str
    token_url: str
    jwks_url: str
    deployment_ids: tuple[str, ...]
    extra_origins: tuple[str, ...]
    last_launch_at: datetime | None
    last_error: str | None
    scores: dict[str, int]  # passback status -> count


def _check_url(name: str, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid(f"{name} must be an absolute http(s) URL, got {url!r}", code="invalid_url")
    return url


def add_platform(issuer: str, client_id: str, deployment_ids: list[str], auth_url: str, token_url: str,
                 jwks_url: str, *, auth_audience: str | None = None, extra_origins: list[str] | None = None) -> int:
    """Register a platform; returns the registration id. Deployment ids may be added to an existing one."""
    for name, url in (("--issuer", issuer), ("--auth-url", auth_url), ("--token-url", token_url),
                      ("--jwks-url", jwks_url), *(("--allowed-origin", o) for o in extra_origins or [])):
        _check_url(name, url)
    if not client_id or not deployment_ids or not all(deployment_ids):
        raise Invalid("--client-id and at least one --deployment-id are required", code="invalid_registration")
    existing = db.session.scalar(sa.select(LtiPlatform).where(LtiPlatform.issuer == issuer,
                                                              LtiPlatform.client_id == client_id))
    if existing is not None:
        raise Conflict(f"platform {issuer} / {client_id} is already registered as {existing.id}",
                       code="platform_exists")
    ensure_key()
    platform = LtiPlatform(issuer=issuer, client_id=client_id, auth_url=auth_url, token_url=token_url,
                           jwks_url=jwks_url, auth_audience=auth_audience, extra_origins=list(extra_origins or []))
    db.session.add(platform)
    db.session.flush()
    for dep in dict.fromkeys(deployment_ids):
        db.session.add(LtiDeployment(platform_id=platform.id, deployment_id=dep))
    db.session.commit()
    return platform.id


def list_platforms() -> list[PlatformView]:
    rows = db.session.scalars(sa.select(LtiPlatform).order_by(LtiPlatform.id)).all()
    deps: dict[int, list[str]] = {}
    for pid, dep in db.session.execute(sa.select(LtiDeployment.platform_id, LtiDeployment.deployment_id)
                                       .order_by(LtiDeployment.id)):
        deps.setdefault(pid, []).append(dep)
    counts: dict[int, dict[str, int]] = {}
    for pid, status, n in db.session.execute(
            sa.select(ResourceLink.platform_id, LtiScoreDelivery.status, sa.func.count())
            .join(ResourceLink, ResourceLink.id == LtiScoreDelivery.resource_link_id)
            .group_by(ResourceLink.platform_id, LtiScoreDelivery.status)):
        counts.setdefault(pid, {})[status] = int(n)
    return [PlatformView(p.id, p.issuer, p.client_id, p.auth_url, p.token_url, p.jwks_url,
                         tuple(deps.get(p.id, [])), tuple(p.extra_origins or []), p.last_launch_at, p.last_error,
                         counts.get(p.id, {})) for p in rows]


def remove_platform(platform_id: int) -> None:
    platform = db.session.get(LtiPlatform, platform_id)
    if platform is None:
        raise NotFound(f"no LTI registration {platform_id}", code="platform_not_found")
    db.session.delete(platform)
    db.session.commit()


def get_platform(issuer: str, client_id: str | None) -> LtiPlatform | None:
    """The registration for an issuer; ``client_id`` picks one when an issuer (Canvas cloud) has several."""
    rows = db.session.scalars(sa.select(LtiPlatform).where(LtiPlatform.issuer == issuer)).all()
    if client_id:
        return next((p for p in rows if p.client_id == client_id), None)
    return rows[0] if len(rows) == 1 else None


def has_deployment(platform_id: int, deployment_id: str) -> bool:
    return db.session.scalar(sa.select(LtiDeployment.id).where(
        LtiDeployment.platform_id == platform_id, LtiDeployment.deployment_id == deployment_id)) is not None


# --- the tool's keys -------------------------------------------------------------------------------------


def _new_key(bits: int) -> LtiToolKey:
    if bits < MIN_KEY_BITS:
        raise Invalid(f"RSA keys must have at least {MIN_KEY_BITS} bits", code="weak_key")
    private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    jwk = JWK.from_pem(pem.encode())
    public = json.loads(jwk.export_public())
    kid = jwk.thumbprint()  # RFC 7638: the same key always gets the same kid
    public.update(kid=kid, alg="RS256", use="sig")
    return LtiToolKey(kid=kid, private_pem=pem, public_jwk=public)


def ensure_key() -> LtiToolKey:
    """The current signing key, created on first need."""
    key = signing_key(required=False)
    if key is None:
        key = _new_key(KEY_BITS)
        db.session.add(key)
        db.session.commit()
    return key


def signing_key(required: bool = True) -> LtiToolKey | None:
    key = db.session.scalar(sa.select(LtiToolKey).order_by(LtiToolKey.id.desc()).limit(1))
    if key is None and required:
        return ensure_key()
    return key


def rotate_key(bits: int = KEY_BITS) -> str:
    """Add a new key that signs from now on; older keys stay published until removed. Returns the new kid."""
    key = _new_key(bits)
    db.session.add(key)
    db.session.commit()
    return key.kid


def remove_key(kid: str) -> None:
    key = db.session.scalar(sa.select(LtiToolKey).where(LtiToolKey.kid == kid))
    if key is None:
        raise NotFound(f"no tool key {kid!r}", code="key_not_found")
    if db.session.scalar(sa.select(sa.func.count(LtiToolKey.id))) == 1:
        raise Invalid("cannot remove the only key: rotate first", code="last_key")
    db.session.delete(key)
    db.session.commit()


def list_keys() -> list[tuple[str, datetime, bool]]:
    """(kid, created_at, signs) for every published key, newest first."""
    rows = db.session.scalars(sa.select(LtiToolKey).order_by(LtiToolKey.id.desc())).all()
    return [(k.kid, k.created_at, i == 0) for i, k in enumerate(rows)]


def jwks() -> dict[str, Any]:
    ensure_key()
    rows = db.session.scalars(sa.select(LtiToolKey).order_by(LtiToolKey.id.desc())).all()
    return {"keys": [dict(k.public_jwk) for k in rows]}


def all_origins() -> list[str]:
    """Every registered platform's origins (who may frame a page that belongs to no launch yet)."""
    from service.services.lti_http import platform_origins

    found: list[str] = []
    for platform in db.session.scalars(sa.select(LtiPlatform)):
        found.extend(o for o in platform_origins(platform) if o not in found)
    return found or ["'none'"]


def operator_warnings() -> list[str]:
    """What an operator still has to set before an LMS can frame Kiwame (HTTPS, the public base URL)."""
    from flask import current_app

    found = []
    public = str(current_app.config.get("KIWAME_PUBLIC_URL") or "")
    if not public.startswith("https://"):
        found.append("KIWAME_PUBLIC_URL is not an https:// URL: LMS frames need HTTPS and a fixed public base")
    if str(current_app.config.get("KIWAME_SECURE_COOKIES")).lower() not in {"1", "true", "yes", "on"}:
        found.append("KIWAME_SECURE_COOKIES is off: browsers drop SameSite=None cookies without Secure")
    return found

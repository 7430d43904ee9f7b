"""pylti1p3 adapters: a tool configuration read from our registrations, and plain-data request objects."""

from __future__ import annotations

import threading
import time
from typing import Any

from pylti1p3.cookie import CookieService
from pylti1p3.deployment import Deployment
from pylti1p3.registration import Registration
from pylti1p3.request import Request
from pylti1p3.service_connector import ServiceConnector
from pylti1p3.session import SessionService
from pylti1p3.tool_config import ToolConfAbstract

from service.persistence import LtiPlatform
from service.services import lti_http, lti_registry


def registration(platform: LtiPlatform) -> Registration:
    """The library's view of a registration, signing with our current key."""
    key = lti_registry.signing_key()
    assert key is not None
    reg = (Registration().set_issuer(platform.issuer).set_client_id(platform.client_id)
           .set_key_set_url(platform.jwks_url).set_auth_token_url(platform.token_url)
           .set_auth_login_url(platform.auth_url).set_tool_private_key(key.private_pem))
    if platform.auth_audience:
        reg.set_auth_audience(platform.auth_audience)
    # Registration.get_kid() derives the kid from the public key: the same RFC 7638 thumbprint as our JWKS.
    reg.set_tool_public_key(_public_pem(key.private_pem))
    return reg


def _public_pem(private_pem: str) -> str:
    from cryptography.hazmat.primitives import serialization

    private = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return private.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo).decode()


class DbToolConf(ToolConfAbstract[Any]):
    """Registrations live in the database; always looked up by (issuer, client id) as Canvas cloud needs."""

    def check_iss_has_one_client(self, iss: str) -> bool:
        return False

    def check_iss_has_many_clients(self, iss: str) -> bool:
        return True

    def find_registration_by_issuer(self, iss: str, *args: Any, **kwargs: Any) -> Registration:
        raise NotImplementedError  # never used: check_iss_has_one_client is False

    def find_registration_by_params(self, iss: str, client_id: str, *args: Any, **kwargs: Any) -> Registration:
        platform = lti_registry.get_platform(iss, client_id)
        return registration(platform) if platform is not None else None  # type: ignore[return-value]

    def find_deployment(self, iss: str, deployment_id: str) -> Deployment | None:
        raise NotImplementedError

    def find_deployment_by_params(self, iss: str, deployment_id: str, client_id: str, *args: Any,
                                  **kwargs: Any) -> Deployment | None:
        platform = lti_registry.get_platform(iss, client_id)
        if platform is None or not lti_registry.has_deployment(platform.id, deployment_id):
            return None
        return Deployment().set_deployment_id(deployment_id)


class PlainRequest(Request):
    """Form fields handed in by the view: services never see ``flask.request``."""

    def __init__(self, params: dict[str, str], secure: bool) -> None:
        self._params = params
        self._secure = secure

    @property
    def session(self) -> dict[str, Any]:
        return {}

    def is_secure(self) -> bool:
        return self._secure

    def get_param(self, key: str) -> str:
        return self._params.get(key, "")


class NoCookies(CookieService):
    """The state cookie is checked by our layer (lti_launch.check_state), not through the library."""

    def get_cookie(self, name: str) -> str | None:
        return None

    def set_cookie(self, name: str, value: str | int, exp: int | None = 3600) -> None:
        raise RuntimeError("cookies are set by the LTI blueprint")


class NoSession(SessionService):
    """The library's session store keeps nonces forever (never popped): ours is the database, so refuse."""

    def __init__(self) -> None:  # no Request: nothing is stored through the library
        pass

    def check_nonce(self, nonce: str) -> bool:
        raise RuntimeError("nonces are consumed by lti_launch.consume_nonce")

    def save_launch_data(self, key: str, jwt_body: Any) -> None:
        return None

    def set_state_valid(self, state: str, id_token_hash: str) -> None:
        return None


class CachingConnector(ServiceConnector):
    """pylti1p3's client_credentials flow (signed client_assertion), with tokens cached until they expire."""

    _cache: dict[str, tuple[str, float]] = {}
    _lock = threading.Lock()

    def _get_cached_access_token(self, scope_key: str) -> str | None:
        with self._lock:
            found = self._cache.get(scope_key)
        if found is None or found[1] <= time.monotonic():
            return None
        return found[0]

    def _cache_access_token(self, scope_key: str, access_token: str, expires_in: float) -> None:
        # A little early, so a token never expires between the cache check and the platform receiving it.
        lifetime = max(0.0, float(expires_in or 0) - 30.0)
        with self._lock:
            self._cache[scope_key] = (access_token, time.monotonic() + lifetime)

    def _scope_key(self, scopes: Any) -> str:
        # Per registration (issuer + client id), not only per issuer: Canvas cloud shares one issuer.
        return f"{self._registration.get_client_id()}|{super()._scope_key(scopes)}"

    @classmethod
    def forget(cls, registration_: Registration) -> None:
        """Drop a registration's tokens (the platform answered 401: the token was revoked early)."""
        prefix = f"{registration_.get_client_id()}|"
        with cls._lock:
            for key in [k for k in cls._cache if k.startswith(prefix)]:
                del cls._cache[key]


def connector(platform: LtiPlatform, timeout: float) -> CachingConnector:
    return CachingConnector(registration(platform), lti_http.session_for(platform, timeout))

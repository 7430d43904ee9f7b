"""LTI 1.3 OIDC login and launch validation: every security check explicit, in order, with its own code.

pylti1p3's ``MessageLaunch`` parses the token, finds the registration and deployment and validates the
message claims; the parts it gets wrong are ours (see the notes in docs/lti.md): the nonce (it never
consumes one), ``aud``/``azp`` (it skips both), the algorithm (it trusts the JWKS entry's ``alg``), an
unknown ``kid`` (no refetch) and ``exp``/``iat`` skew.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import jwt
import sqlalchemy as sa
from flask import current_app
from pylti1p3.exception import LtiException
from pylti1p3.message_launch import MessageLaunch

from service.errors import KiwameError
from service.persistence import LtiLoginState, LtiPlatform, db
from service.persistence.models import utcnow
from service.services import lti_http, lti_registry
from service.services.lti_tool import DbToolConf, NoCookies, NoSession, PlainRequest

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
MESSAGE_TYPES = ("LtiResourceLinkRequest", "LtiDeepLinkingRequest")
STATE_COOKIE = "kiwame_lti_state"


class LtiRejected(KiwameError):
    """A login or launch we refuse: shown as a 4xx page, and no session is created."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message, code=code, status=status)


def _digest(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def _cfg(key: str, default: Any) -> Any:
    return current_app.config.get(key) or default


def is_ours(url: str, base_url: str) -> bool:
    """Only URLs on our own origin: ``target_link_uri`` must never become an open redirect."""
    parts = urlsplit(url)
    return bool(parts.scheme) and lti_http.origin(url) == lti_http.origin(base_url) and "\\" not in url


@dataclass(frozen=True)
class LoginRedirect:
    url: str
    state: str


def begin_login(params: dict[str, str], base_url: str) -> LoginRedirect:
    """OIDC third-party-initiated login: check the request, store state + nonce, build the auth redirect."""
    iss, hint, target = params.get("iss", ""), params.get("login_hint", ""), params.get("target_link_uri", "")
    if not iss or not hint or not target:
        raise LtiRejected("login_incomplete", "the login request needs iss, login_hint and target_link_uri")
    if not is_ours(target, base_url):
        raise LtiRejected("foreign_target_link_uri", "target_link_uri is not a Kiwame URL")
    platform = lti_registry.get_platform(iss, params.get("client_id") or None)
    if platform is None:
        raise LtiRejected("unknown_issuer", "this platform is not registered with Kiwame", 403)
    deployment = params.get("lti_deployment_id")
    if deployment and not lti_registry.has_deployment(platform.id, deployment):
        raise LtiRejected("unknown_deployment", "this deployment is not registered with Kiwame", 403)
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    _purge_old_states()
    kept = {k: params[k] for k in ("iss", "login_hint", "target_link_uri", "lti_message_hint", "client_id",
                                   "lti_deployment_id") if params.get(k)}
    db.session.add(LtiLoginState(id=_digest(state), nonce=nonce, platform_id=platform.id, params=kept))
    db.session.commit()
    # The exact parameter set pylti1p3's OIDCLogin sends; redirect_uri is fixed, never the request's.
    query = {"scope": "openid", "response_type": "id_token", "response_mode": "form_post", "prompt": "none",
             "client_id": platform.client_id, "redirect_uri": base_url.rstrip("/") + "/lti/launch",
             "state": state, "nonce": nonce, "login_hint": hint}
    if params.get("lti_message_hint"):
        query["lti_message_hint"] = params["lti_message_hint"]
    sep = "&" if "?" in platform.auth_url else "?"
    return LoginRedirect(platform.auth_url + sep + urlencode(query), state)


def _purge_old_states() -> None:
    ttl = float(_cfg("KIWAME_LTI_LOGIN_TTL_S", 600))
    db.session.execute(sa.delete(LtiLoginState).where(
        LtiLoginState.created_at < utcnow() - timedelta(seconds=max(ttl, 60) * 2)))


def login_params_for_restart(state: str) -> dict[str, str] | None:
    """The original login request behind a state (to restart it in a new window when cookies are blocked)."""
    row = db.session.get(LtiLoginState, _digest(state)) if state and len(state) < 200 else None
    return dict(row.params) if row is not None and row.used_at is None else None


@dataclass(frozen=True)
class Launch:
    platform_id: int
    issuer: str
    client_id: str
    deployment_id: str
    message_type: str
    claims: dict[str, Any]

    def claim(self, name: str, default: Any = None) -> Any:
        return self.claims.get(CLAIM + name, default)


class KiwameLaunch(MessageLaunch):  # type: ignore[type-arg]
    """The library's launch with our checks in an explicit order (see ``validate``)."""

    def __init__(self, id_token: str, state: str, state_cookie: str | None, base_url: str, secure: bool) -> None:
        request = PlainRequest({"id_token": id_token, "state": state}, secure)
        super().__init__(request, DbToolConf(), session_service=NoSession(), cookie_service=NoCookies(),
                         requests_session=None)
        self._state_cookie = state_cookie
        self._base_url = base_url
        self._row: LtiLoginState | None = None
        self._platform: LtiPlatform | None = None

    def _get_request_param(self, key: str) -> str:
        return str(self._request.get_param(key))

    def get_client_id(self) -> str:
        assert self._platform is not None
        return self._platform.client_id  # verified against aud/azp in check_audience

    def validate(self) -> KiwameLaunch:
        self._validated = True  # the library's getters must not re-enter validate() on the way
        try:
            self.check_state()
            self.validate_jwt_format()
            self.check_algorithm()
            self.check_issuer_and_audience()
            self.validate_registration()
            self.check_signature_and_times()
            self.check_deployment()
            self.check_message()
            self.check_target_link_uri()
            self.consume_nonce()
        except LtiRejected:
            self._validated = False
            raise
        except LtiException as exc:  # the library's own validators: wrong claims in the message
            self._validated = False
            raise LtiRejected("invalid_message", str(exc)) from exc
        return self

    # 1. state: present, equal to this browser's state cookie, issued by us and not expired.
    def check_state(self) -> None:
        state = self._get_request_param("state")
        if not state:
            raise LtiRejected("state_missing", "the launch carries no state")
        if self._state_cookie is None:
            raise LtiRejected("state_cookie_missing", "this browser did not send the login's state cookie")
        if not hmac.compare_digest(state, self._state_cookie):
            raise LtiRejected("state_mismatch", "the state does not match this browser's login")
        row = db.session.get(LtiLoginState, _digest(state)) if len(state) < 200 else None
        if row is None:
            raise LtiRejected("state_unknown", "this login state was not issued by Kiwame or has expired")
        if row.used_at is not None:
            raise LtiRejected("nonce_replayed", "this launch was already used (replayed nonce)")
        ttl = float(_cfg("KIWAME_LTI_LOGIN_TTL_S", 600))
        if row.created_at < utcnow() - timedelta(seconds=ttl):
            raise LtiRejected("state_expired", "the login took too long; start again from the course")
        self._row = row

    # 2. RS256 only: `none`, HS256 (a public key used as an HMAC secret) and the rest are refused up front.
    def check_algorithm(self) -> None:
        header = self._jwt.get("header", {})
        if header.get("alg") != "RS256":
            raise LtiRejected("bad_algorithm", f"id_token algorithm {header.get('alg')!r} is not RS256")
        if not header.get("kid"):
            raise LtiRejected("kid_missing", "id_token header has no kid")

    # 3. iss registered (and the one this login was for); aud contains our client id; several aud need azp.
    def check_issuer_and_audience(self) -> None:
        body = self._jwt.get("body", {})
        assert self._row is not None
        platform = db.session.get(LtiPlatform, self._row.platform_id)
        if platform is None or body.get("iss") != platform.issuer:
            raise LtiRejected("unknown_issuer", "the id_token's issuer is not the platform this login began with",
                              403)
        aud = body.get("aud")
        auds = aud if isinstance(aud, list) else [aud]
        if platform.client_id not in auds:
            raise LtiRejected("bad_audience", "the id_token is not addressed to Kiwame's client id")
        if len(auds) > 1 and body.get("azp") != platform.client_id:
            raise LtiRejected("azp_mismatch", "several audiences and no azp naming Kiwame's client id")
        if "azp" in body and body.get("azp") != platform.client_id:
            raise LtiRejected("azp_mismatch", "azp names another client")
        self._platform = platform

    # 4. the platform's key by kid (one refetch of its JWKS on a miss), RSA 2048+, signature, exp/iat.
    def check_signature_and_times(self) -> None:
        assert self._platform is not None
        key = platform_key(self._platform, str(self._jwt["header"]["kid"]))
        skew = float(_cfg("KIWAME_LTI_CLOCK_SKEW_S", 60))
        try:
            body = jwt.decode(self._get_id_token(), key, algorithms=["RS256"], audience=self._platform.client_id,
                              issuer=self._platform.issuer, leeway=skew,
                              options={"require": ["exp", "iat", "iss", "aud", "nonce"]})
        except jwt.ExpiredSignatureError as exc:
            raise LtiRejected("token_expired", "the id_token has expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise LtiRejected("token_from_future", "the id_token is issued in the future") from exc
        except jwt.InvalidSignatureError as exc:
            raise LtiRejected("bad_signature", "the id_token is not signed by the platform's key") from exc
        except jwt.InvalidTokenError as exc:
            raise LtiRejected("invalid_token", f"the id_token is not valid: {exc}") from exc
        now = datetime.now(UTC).timestamp()
        if float(body["iat"]) > now + skew:  # PyJWT versions differ here: check it ourselves
            raise LtiRejected("token_from_future", "the id_token is issued in the future")
        # The verified claims replace the parsed ones.
        self._jwt["body"] = body  # type: ignore[typeddict-item]

    def check_deployment(self) -> None:
        try:
            self.validate_deployment()  # the library, through DbToolConf.find_deployment_by_params
        except LtiException as exc:
            raise LtiRejected("unknown_deployment", "this deployment is not registered with Kiwame", 403) from exc

    # 5. the message: version, type, and the claims a resource-link launch needs (then the library's checks).
    def check_message(self) -> None:
        body = self._jwt["body"]
        if body.get(CLAIM + "version") != "1.3.0":
            raise LtiRejected("bad_version", "the LTI version is not 1.3.0")
        if body.get(CLAIM + "message_type") not in MESSAGE_TYPES:
            raise LtiRejected("bad_message_type", f"unsupported message type {body.get(CLAIM + 'message_type')!r}")
        if not body.get("sub"):
            raise LtiRejected("sub_missing", "the launch names no user (sub)")
        if not isinstance(body.get(CLAIM + "roles"), list):
            raise LtiRejected("roles_missing", "the launch has no roles claim")
        if body.get(CLAIM + "message_type") == "LtiResourceLinkRequest":
            link = body.get(CLAIM + "resource_link")
            if not isinstance(link, dict) or not link.get("id"):
                raise LtiRejected("resource_link_missing", "the launch has no resource_link id")
        self.validate_message()

    def check_target_link_uri(self) -> None:
        target = self._jwt["body"].get(CLAIM + "target_link_uri")
        if not isinstance(target, str) or not is_ours(target, self._base_url):
            raise LtiRejected("foreign_target_link_uri", "target_link_uri is not a Kiwame URL")

    # 6. the nonce issued with this state, consumed atomically: only one request can flip used_at.
    def consume_nonce(self) -> None:
        assert self._row is not None
        if not hmac.compare_digest(str(self._jwt["body"].get("nonce", "")), self._row.nonce):
            raise LtiRejected("nonce_mismatch", "the id_token's nonce is not the one issued for this login")
        done = db.session.execute(sa.update(LtiLoginState).where(
            LtiLoginState.id == self._row.id, LtiLoginState.used_at.is_(None)).values(used_at=utcnow()))
        db.session.commit()
        if getattr(done, "rowcount", 0) != 1:
            raise LtiRejected("nonce_replayed", "this launch was already used (replayed nonce)")

    def result(self) -> Launch:
        assert self._platform is not None
        body = dict(self._jwt["body"])
        return Launch(self._platform.id, self._platform.issuer, self._platform.client_id,
                      str(body[CLAIM + "deployment_id"]), str(body[CLAIM + "message_type"]), body)


def platform_key(platform: LtiPlatform, kid: str) -> Any:
    """The platform's public key for ``kid``: from the cached JWKS, else after exactly one refetch."""
    key = _find_key(platform.jwks_cache, kid)
    if key is None:
        platform.jwks_cache = fetch_jwks(platform)
        platform.jwks_fetched_at = utcnow()
        db.session.commit()
        key = _find_key(platform.jwks_cache, kid)
    if key is None:
        raise LtiRejected("unknown_kid", f"the platform's JWKS has no key {kid!r}")
    return key


def _find_key(jwks: dict[str, Any] | None, kid: str) -> Any:
    for entry in (jwks or {}).get("keys", []):
        if isinstance(entry, dict) and entry.get("kid") == kid:
            if entry.get("kty") != "RSA" or entry.get("alg", "RS256") != "RS256":
                raise LtiRejected("bad_key", f"platform key {kid!r} is not an RS256 RSA key")
            key = jwt.PyJWK(entry).key
            if key.key_size < lti_registry.MIN_KEY_BITS:
                raise LtiRejected("bad_key", f"platform key {kid!r} has fewer than 2048 bits")
            return key
    return None


def fetch_jwks(platform: LtiPlatform) -> dict[str, Any]:
    session = lti_http.session_for(platform, float(_cfg("KIWAME_LTI_HTTP_TIMEOUT_S", 10)))
    try:
        resp = session.get(platform.jwks_url)
        resp.raise_for_status()
        data = resp.json()
    except Exception as exc:  # network, HTTP status, JSON: the launch cannot be verified
        raise LtiRejected("jwks_unavailable", f"could not fetch the platform's keys: {exc}", 502) from exc
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise LtiRejected("jwks_unavailable", "the platform's JWKS is not a key set", 502)
    return data


def validate_launch(id_token: str, state: str, state_cookie: str | None, base_url: str, secure: bool) -> Launch:
    """Every check of a launch, or ``LtiRejected``; on success the nonce is spent."""
    if not id_token:
        raise LtiRejected("id_token_missing", "the launch carries no id_token")
    launch = KiwameLaunch(id_token, state, state_cookie, base_url, secure)
    try:
        launch.validate()
    except LtiRejected as exc:
        db.session.rollback()
        # The platform this login was begun for (known once the state checked out) hears about it.
        record_error(launch._row.platform_id if launch._row is not None else None, f"{exc.code}: {exc.message}")
        raise
    return launch.result()


def record_error(platform_id: int | None, message: str) -> None:
    """Remember a platform's last refused launch for the admin page."""
    if platform_id is None:
        return
    platform = db.session.get(LtiPlatform, platform_id)
    if platform is not None:
        platform.last_error, platform.last_error_at = message[:1000], utcnow()
        db.session.commit()

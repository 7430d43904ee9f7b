"""Outbound HTTP to LTI platforms: timeouts always, no redirects, and only to a registration's origins."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests

from service.persistence import LtiPlatform

USER_AGENT = "kiwame-lti"


class BlockedURL(requests.RequestException):
    """A URL outside the registration's origins (a claim or a ``next`` link pointing elsewhere)."""


def origin(url: str) -> str:
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    port = f":{parts.port}" if parts.port and parts.port != default else ""
    return f"{parts.scheme}://{(parts.hostname or '').lower()}{port}"


def platform_origins(platform: LtiPlatform) -> list[str]:
    """The origins an admin registered: the issuer's, the three URLs' and any extra ones (Canvas' host)."""
    found: list[str] = []
    for url in (platform.issuer, platform.auth_url, platform.token_url, platform.jwks_url,
                *(platform.extra_origins or [])):
        o = origin(url)
        if urlsplit(url).scheme in ("http", "https") and o not in found:
            found.append(o)
    return found


class GuardedSession(requests.Session):
    """A ``requests`` session that refuses unregistered origins and always applies a timeout.

    Why here and not per call: pylti1p3's service connector calls ``session.get/post`` without a timeout and
    follows ``Link: rel=next`` wherever it points; one chokepoint covers the library's calls and ours.
    """

    def __init__(self, allowed_origins: list[str], timeout: float) -> None:
        super().__init__()
        self.allowed = set(allowed_origins)
        self.timeout = timeout
        self.headers["User-Agent"] = USER_AGENT
        self.max_redirects = 0

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        text = url.decode() if isinstance(url, bytes) else url
        if origin(text) not in self.allowed or urlsplit(text).scheme not in ("http", "https"):
            raise BlockedURL(f"refusing to call {text!r}: not one of the registered origins {sorted(self.allowed)}")
        kwargs.setdefault("timeout", self.timeout)
        kwargs["allow_redirects"] = False  # a redirect could lead the bearer token anywhere
        return super().request(method, text, *args, **kwargs)  # type: ignore[arg-type]


def session_for(platform: LtiPlatform, timeout: float) -> GuardedSession:
    return GuardedSession(platform_origins(platform), timeout)

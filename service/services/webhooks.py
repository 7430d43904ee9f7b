"""Signed webhooks (Standard Webhooks: HMAC-SHA256 over ``id.timestamp.body``): the outbox's ``webhook`` kind."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import time
import urllib.error
import urllib.parse
import urllib.request

from flask import current_app

from service.config import settings
from service.persistence import SubmissionRow, WebhookDelivery, db
from service.persistence.models import utcnow
from service.services import outbox
from service.services.submission_views import to_json, view
from service.services.tokens import token_webhook_secret

log = logging.getLogger(__name__)


def secret_bytes(secret: str) -> bytes:
    """``whsec_<base64>`` secrets decode to their bytes (the Standard Webhooks form); others are used as UTF-8."""
    if secret.startswith("whsec_"):
        return base64.b64decode(secret[len("whsec_"):])
    return secret.encode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret_bytes(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def verify(secret: str, headers: dict[str, str], body: bytes, tolerance_s: int = 300) -> bool:
    """What a receiver does: recompute the signature and check the timestamp is fresh."""
    lowered = {k.lower(): v for k, v in headers.items()}
    timestamp = int(lowered["webhook-timestamp"])
    if abs(time.time() - timestamp) > tolerance_s:
        return False
    expected = sign(secret, lowered["webhook-id"], timestamp, body)
    return any(hmac.compare_digest(expected, sig) for sig in lowered["webhook-signature"].split())


def _secret(row: SubmissionRow) -> str:
    return (token_webhook_secret(row.token_id) or settings(current_app).webhook_secret
            or hmac.new(current_app.config["SECRET_KEY"].encode(), b"webhooks", hashlib.sha256).hexdigest())


def create(row: SubmissionRow) -> list[WebhookDelivery]:
    """The delivery a graded submission with a callback URL gets (none without one)."""
    if not row.callback_url:
        return []
    return [WebhookDelivery(submission_id=row.id, url=row.callback_url, status="pending", next_attempt_at=utcnow())]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect could point the signed POST at an internal address: treat 3xx as a failed attempt."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


class BlockedDestination(Exception):
    pass


def check_destination(url: str, allow_private: bool) -> None:
    """Refuse callbacks to loopback, private, link-local and other non-public addresses (SSRF).

    Why: the service sits inside a network an LMS user should not be able to probe through us. The
    name is resolved here; the small window before urllib resolves it again is accepted and documented.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise BlockedDestination(f"not an http(s) URL: {url!r}")
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80),
                                   proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise BlockedDestination(f"cannot resolve {parts.hostname}: {exc}") from exc
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not address.is_global:
            raise BlockedDestination(f"{parts.hostname} resolves to the non-public address {address} "
                                     "(set KIWAME_WEBHOOK_ALLOW_PRIVATE=1 to allow it)")


def perform(delivery: WebhookDelivery) -> outbox.Outcome:
    """One signed POST of the submission, in the API's shape, to its callback URL."""
    row = db.session.get(SubmissionRow, delivery.submission_id)
    assert row is not None
    now = utcnow()
    payload = {"type": delivery.event, "timestamp": now.isoformat(), "data": to_json(view(row))}
    body = json.dumps(payload, default=str).encode()
    msg_id, timestamp = f"msg_{delivery.id}", int(time.time())
    request = urllib.request.Request(delivery.url, data=body, method="POST", headers={
        "content-type": "application/json", "user-agent": "kiwame-webhooks",
        "webhook-id": msg_id, "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(_secret(row), msg_id, timestamp, body),
    })
    config = settings(current_app)
    try:
        check_destination(delivery.url, config.webhook_allow_private)
        with _OPENER.open(request, timeout=config.webhook_timeout_s) as resp:
            return outbox.delivered(resp.status)
    except BlockedDestination as exc:  # retrying cannot help: fail the delivery at once
        return outbox.give_up(f"blocked: {exc}")
    except urllib.error.HTTPError as exc:
        return outbox.retry(f"HTTP {exc.code}", exc.code)
    except Exception as exc:  # network errors of every kind count as a failed attempt
        return outbox.retry(f"{type(exc).__name__}: {exc}")


KIND = outbox.Kind("webhook", WebhookDelivery, create, perform)

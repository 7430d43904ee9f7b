"""Signed webhooks (Standard Webhooks: HMAC-SHA256 over ``id.timestamp.body``): the outbox's ``webhook`` kind."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time

from flask import current_app

from service.config import settings
from service.persistence import SubmissionRow, WebhookDelivery, db
from service.persistence.models import utcnow
from service.services import outbox
from service.services.destinations import BlockedDestination, Destination, post, resolve
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


def check_destination(url: str, allow_private: bool) -> Destination:
    """Refuse callbacks to loopback, private, special-purpose and IPv4-in-IPv6 forms of those (SSRF).

    Why: the service sits inside a network an LMS user should not be able to probe through us. The
    name is resolved once, here, and the request connects to exactly the addresses checked.
    """
    return resolve(url, allow_private)


def perform(delivery: WebhookDelivery) -> outbox.Outcome:
    """One signed POST of the submission, in the API's shape, to its callback URL."""
    row = db.session.get(SubmissionRow, delivery.submission_id)
    assert row is not None
    now = utcnow()
    payload = {"type": delivery.event, "timestamp": now.isoformat(), "data": to_json(view(row))}
    body = json.dumps(payload, default=str).encode()
    msg_id, timestamp = f"msg_{delivery.id}", int(time.time())
    headers = {
        "content-type": "application/json", "user-agent": "kiwame-webhooks",
        "webhook-id": msg_id, "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(_secret(row), msg_id, timestamp, body),
    }
    config = settings(current_app)
    try:
        dest = check_destination(delivery.url, config.webhook_allow_private)
        status = post(dest, body, headers, config.webhook_timeout_s)
    except BlockedDestination as exc:  # retrying cannot help: fail the delivery at once
        return outbox.give_up(f"blocked: {exc}")
    except Exception as exc:  # network errors of every kind count as a failed attempt
        return outbox.retry(f"{type(exc).__name__}: {exc}")
    # 3xx is a failed attempt too: a redirect could point the signed POST at an internal address.
    return outbox.delivered(status) if 200 <= status < 300 else outbox.retry(f"HTTP {status}", status)


KIND = outbox.Kind("webhook", WebhookDelivery, create, perform)

"""Signed webhooks (Standard Webhooks: HMAC-SHA256 over ``id.timestamp.body``) with bounded retries."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import time
from datetime import timedelta

import sqlalchemy as sa
from flask import Flask, current_app

from service.persistence import SubmissionRow, WebhookDelivery, db
from service.persistence.models import utcnow
from service.services.destinations import BlockedDestination, Destination, post, resolve
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
    return (token_webhook_secret(row.token_id) or current_app.config.get("KIWAME_WEBHOOK_SECRET")
            or hmac.new(current_app.config["SECRET_KEY"].encode(), b"webhooks", hashlib.sha256).hexdigest())


def create_delivery(row: SubmissionRow) -> int:
    """Add a pending delivery for a graded submission (in the caller's transaction)."""
    delivery = WebhookDelivery(submission_id=row.id, url=row.callback_url or "", status="pending",
                               next_attempt_at=utcnow())
    db.session.add(delivery)
    db.session.flush()
    return delivery.id


def check_destination(url: str, allow_private: bool) -> Destination:
    """Refuse callbacks to loopback, private, special-purpose and IPv4-in-IPv6 forms of those (SSRF).

    Why: the service sits inside a network an LMS user should not be able to probe through us. The
    name is resolved once, here, and the request connects to exactly the addresses checked.
    """
    return resolve(url, allow_private)


class _HTTPStatus(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def deliver(delivery_id: int) -> float | None:
    """One attempt; returns the delay before the next one, or None when finished (delivered or failed)."""
    from service.services.submissions import view

    delivery = db.session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.status != "pending":
        return None
    row = db.session.get(SubmissionRow, delivery.submission_id)
    assert row is not None
    now = utcnow()
    payload = {"type": delivery.event, "timestamp": now.isoformat(), "data": view(row).to_dict()}
    body = json.dumps(payload, default=str).encode()
    msg_id, timestamp = f"msg_{delivery.id}", int(time.time())
    headers = {
        "content-type": "application/json", "user-agent": "kiwame-webhooks",
        "webhook-id": msg_id, "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(_secret(row), msg_id, timestamp, body),
    }
    delivery.attempts += 1
    try:
        dest = check_destination(delivery.url, bool(current_app.config.get("KIWAME_WEBHOOK_ALLOW_PRIVATE")))
        # 3xx is a failed attempt: a redirect could point the signed POST at an internal address.
        status = post(dest, body, headers, float(current_app.config["KIWAME_WEBHOOK_TIMEOUT_S"]))
        delivery.last_status_code = status
        if not 200 <= status < 300:
            raise _HTTPStatus(status)
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = "delivered", utcnow(), None
        delivery.last_error = None
        db.session.commit()
        return None
    except BlockedDestination as exc:  # retrying cannot help: fail the delivery at once
        delivery.status, delivery.next_attempt_at, delivery.last_error = "failed", None, f"blocked: {exc}"
        db.session.commit()
        return None
    except _HTTPStatus as exc:
        delivery.last_error = f"HTTP {exc.status}"
    except Exception as exc:  # network errors of every kind count as a failed attempt
        delivery.last_error = f"{type(exc).__name__}: {exc}"
    if delivery.attempts >= int(current_app.config["KIWAME_WEBHOOK_MAX_ATTEMPTS"]):
        delivery.status, delivery.next_attempt_at = "failed", None
        db.session.commit()
        return None
    delay = float(current_app.config["KIWAME_WEBHOOK_BACKOFF_S"]) * 2 ** (delivery.attempts - 1)
    delivery.next_attempt_at = utcnow() + timedelta(seconds=delay)
    db.session.commit()
    return delay


class Dispatcher:
    """Runs deliveries on timer threads so retries never hold a grading worker."""

    def __init__(self, app: Flask) -> None:
        self._app = app
        self._timers: set[threading.Timer] = set()
        self._lock = threading.Lock()

    def schedule(self, delivery_id: int, delay: float) -> None:
        timer = threading.Timer(delay, self._fire, args=(delivery_id,))
        timer.daemon = True
        with self._lock:
            self._timers.add(timer)
        timer.start()

    def _fire(self, delivery_id: int) -> None:
        with self._lock:
            self._timers = {t for t in self._timers if t.is_alive() and t is not threading.current_thread()}
        with self._app.app_context():
            try:
                delay = deliver(delivery_id)
            except Exception:
                log.exception("webhook delivery %s crashed", delivery_id)
                db.session.rollback()
                delay = None
            finally:
                db.session.remove()
        if delay is not None:
            self.schedule(delivery_id, delay)

    def resume(self) -> int:
        """Schedule the pending deliveries a previous process left behind."""
        pending = db.session.execute(sa.select(WebhookDelivery.id, WebhookDelivery.next_attempt_at)
                                     .where(WebhookDelivery.status == "pending")).all()
        now = utcnow()
        for delivery_id, due in pending:
            self.schedule(delivery_id, max(0.0, (due - now).total_seconds()) if due else 0.0)
        return len(pending)

    def cancel_all(self) -> None:
        with self._lock:
            for timer in self._timers:
                timer.cancel()
            self._timers.clear()


def get_dispatcher(app: Flask | None = None) -> Dispatcher:
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    return app.extensions.setdefault("kiwame.webhooks", Dispatcher(app))

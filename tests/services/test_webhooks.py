"""Signed webhooks reach a real local HTTP server, failures are retried with backoff and recorded."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from service.persistence import WebhookDelivery, db
from service.services.webhooks import sign, verify

SECRET = "whsec_" + "c2VjcmV0LWZvci10ZXN0cw=="
# The same delivery settings for every test (but the private-address one, last): in queue mode the worker
# delivers, and it is restarted whenever a test asks for other ones (tests/conftest.py, QueueWorker).
HOOKS = {"KIWAME_WEBHOOK_SECRET": SECRET, "KIWAME_WEBHOOK_MAX_ATTEMPTS": "3"}


class Receiver:
    def __init__(self, fail_first: int) -> None:
        self.fail_first = fail_first
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.event = threading.Event()


@pytest.fixture
def receiver(request: pytest.FixtureRequest) -> Iterator[tuple[Receiver, str]]:
    state = Receiver(getattr(request, "param", 0))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.calls.append(({k: v for k, v in self.headers.items()}, body))
            ok = len(state.calls) > state.fail_first
            self.send_response(200 if ok else 500)
            self.end_headers()
            if ok:
                state.event.set()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


def _deliveries(app: Flask) -> list[WebhookDelivery]:
    with app.app_context():
        return list(db.session.scalars(sa.select(WebhookDelivery)))


def _wait_finished(app: Flask, timeout: float = 10) -> WebhookDelivery:
    """The first delivery once it is delivered or failed (retries keep it pending)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        deliveries = _deliveries(app)
        if deliveries and deliveries[0].status != "pending":
            return deliveries[0]
        time.sleep(0.05)
    raise AssertionError("delivery never finished")


def test_signature_roundtrip() -> None:
    body = b'{"a": 1}'
    now = int(time.time())
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(now), "webhook-signature": sign(SECRET, "msg_1", now, body)}
    assert headers["webhook-signature"].startswith("v1,")
    assert verify(SECRET, headers, body)
    assert not verify(SECRET, headers, b'{"a": 2}')
    assert not verify("whsec_b3RoZXI=", headers, body)


@pytest.mark.parametrize("receiver", [2], indirect=True)
def test_webhook_signed_retried_and_recorded(make_app: Callable[..., Flask], auth: Callable[..., dict[str, str]],
                                             receiver: tuple[Receiver, str]) -> None:
    state, url = receiver
    app = make_app(**HOOKS)
    client: FlaskClient = app.test_client()
    response = client.post("/api/v1/submissions?wait=5", headers=auth("ana"),
                           json={"exercise_id": "permute-shape-quiz", "answer": [7, 4], "callback_url": url})
    submission = response.get_json()
    assert state.event.wait(10), "webhook never delivered"
    assert len(state.calls) == 3  # two 500s, then success
    headers, body = state.calls[-1]
    assert verify(SECRET, headers, body)
    payload = json.loads(body)
    assert payload["type"] == "submission.graded"
    assert payload["data"]["id"] == submission["id"] and payload["data"]["passed"] is True
    # One API shape: the webhook carries exactly what GET /api/v1/submissions/<id> answers.
    assert payload["data"] == client.get(f"/api/v1/submissions/{submission['id']}", headers=auth("ana")).get_json()
    _wait_finished(app, timeout=5)
    [delivery] = _deliveries(app)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 3, 200)


@pytest.mark.parametrize("receiver", [100], indirect=True)
def test_webhook_gives_up_after_max_attempts(make_app: Callable[..., Flask],
                                             auth: Callable[..., dict[str, str]],
                                             receiver: tuple[Receiver, str]) -> None:
    state, url = receiver
    app = make_app(**HOOKS)
    app.test_client().post("/api/v1/submissions?wait=5", headers=auth("ana"),
                           json={"exercise_id": "permute-shape-quiz", "answer": [7, 4], "callback_url": url})
    _wait_finished(app)
    [delivery] = _deliveries(app)
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("failed", 3, "HTTP 500")
    assert len(state.calls) == 3


def test_webhook_redirects_are_not_followed(make_app: Callable[..., Flask], auth: Callable[..., dict[str, str]],
                                            receiver: tuple[Receiver, str]) -> None:
    state, target = receiver

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.send_response(307)
            self.send_header("Location", target)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        app = make_app(**HOOKS)
        app.test_client().post("/api/v1/submissions?wait=5", headers=auth("ana"), json={
            "exercise_id": "permute-shape-quiz", "answer": [7, 4],
            "callback_url": f"http://127.0.0.1:{server.server_address[1]}/hook"})
        delivery = _wait_finished(app)
    finally:
        server.shutdown()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("failed", 3, "HTTP 307")
    assert state.calls == []  # every attempt stopped at the redirect


def test_webhook_to_a_private_address_is_blocked_by_default(make_app: Callable[..., Flask],
                                                             auth: Callable[..., dict[str, str]],
                                                             receiver: tuple[Receiver, str]) -> None:
    state, url = receiver
    app = make_app(**HOOKS, KIWAME_WEBHOOK_ALLOW_PRIVATE="0")  # the production default
    app.test_client().post("/api/v1/submissions?wait=5", headers=auth("ana"),
                           json={"exercise_id": "permute-shape-quiz", "answer": [7, 4], "callback_url": url})
    delivery = _wait_finished(app)
    assert delivery.status == "failed" and delivery.attempts == 1  # no retries against a blocked host
    assert delivery.last_error.startswith("blocked: 127.0.0.1 resolves to the non-public address 127.0.0.1")
    assert state.calls == []  # nothing ever reached the loopback receiver

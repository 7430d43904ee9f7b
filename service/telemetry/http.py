"""``/metrics`` for the web process, request ids, and per-request HTTP metrics.

Multiprocess mode: when ``PROMETHEUS_MULTIPROC_DIR`` is set (before the process starts), counters and
histograms are written to files there and /metrics sums every process's files, as prometheus_client
documents for gunicorn; ``kiwame serve`` then marks exited workers dead. Readings (gauges from the database
and the sandbox pool) are computed by the process answering the scrape.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess

from service.config import settings
from service.telemetry.metrics import HTTP_REQUESTS, HTTP_SECONDS, Reading, ReadingsCollector

READINGS = "kiwame.metric_readings"
REQUEST_ID_HEADER = "X-Request-ID"
# A proxy's id is kept when it looks like one (no spaces or control characters to smuggle into logs).
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

bp = Blueprint("telemetry", __name__)


def add_reading(app: Flask, name: str, reading: Reading) -> None:
    """Register a scrape-time reading for this app's /metrics."""
    app.extensions.setdefault(READINGS, {})[name] = reading


def request_id() -> str | None:
    return g.get("request_id") if g else None


def exposition(readings: dict[str, Reading]) -> bytes:
    """The Prometheus text: this process's (or every worker's) metrics, then the readings."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = REGISTRY
    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(ReadingsCollector(readings))  # type: ignore[arg-type]
    return generate_latest(registry) + generate_latest(scrape)


@bp.route("/metrics")
def metrics() -> Any:
    if not settings(current_app).metrics:
        return Response("metrics are off (KIWAME_METRICS=0)\n", status=404, mimetype="text/plain")
    body = exposition(current_app.extensions.get(READINGS, {}))
    return Response(body, mimetype=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})


def _start() -> None:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = incoming if _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
    g.request_started = time.perf_counter()


def _finish(response: Response) -> Response:
    response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
    started = g.get("request_started")
    if started is not None and request.endpoint != "telemetry.metrics":
        endpoint = request.endpoint or "unmatched"  # endpoint names, not paths: bounded label values
        HTTP_REQUESTS.labels(request.method, endpoint, str(response.status_code)).inc()
        HTTP_SECONDS.labels(request.method, endpoint).observe(time.perf_counter() - started)
    return response


def init_app(app: Flask) -> None:
    """Request ids and HTTP metrics on every request; /metrics."""
    app.before_request_funcs.setdefault(None, []).insert(0, _start)  # first, so every log line has the id
    app.after_request(_finish)
    app.register_blueprint(bp)

"""Operator telemetry: /livez, /readyz, /healthz on an unmigrated database, /metrics, request ids, JSON logs."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from service.persistence import WebhookDelivery
from service.services import outbox
from service.services.runtime import runtime
from service.telemetry.logs import JsonFormatter

CODE = "def solve(x):\n    return x.permute(1, 0)  # secret-marker-7\n"


def _sample(text: str, name: str, **labels: str) -> float:
    """One sample's value from Prometheus text (0.0 when absent)."""
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        match = re.match(r"^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
        if found == labels:
            return float(match.group(3))
    return 0.0


def test_livez(client: FlaskClient) -> None:
    response = client.get("/livez")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_readyz_checks_database_schema_sandbox_and_zygote(client: FlaskClient) -> None:
    response = client.get("/readyz")
    body = response.get_json()
    assert set(body["checks"]) == {"database", "schema", "sandbox", "zygote"}
    assert body["checks"]["database"]["ok"] and body["checks"]["schema"]["ok"]
    assert body["checks"]["schema"]["current"] == body["checks"]["schema"]["head"]
    ready = all(check["ok"] for check in body["checks"].values())
    assert response.status_code == (200 if ready else 503)
    assert body["status"] == ("ready" if ready else "not_ready")
    if body["checks"]["sandbox"]["ok"]:  # the zygote is this app's own pool's, started by the probe
        assert body["checks"]["zygote"]["ok"] and body["checks"]["zygote"]["zygote_alive"]


def test_unmigrated_database_is_neither_healthy_nor_ready(tmp_path: Path, engine: Any) -> None:
    from service.app import create_app

    app = create_app({"KIWAME_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}",
                      "KIWAME_INSTANCE_DIR": str(tmp_path), "KIWAME_AUTO_MIGRATE": "0"})
    runtime(app).engine = engine
    client = app.test_client()
    health = client.get("/healthz")
    assert health.status_code == 503 and health.get_json()["status"] == "unhealthy"
    assert health.get_json()["database"]["schema"]["ok"] is False
    ready = client.get("/readyz")
    assert ready.status_code == 503
    schema = ready.get_json()["checks"]["schema"]
    assert schema["ok"] is False and schema["current"] is None and "kiwame db upgrade" in schema["error"]


def test_metrics_count_a_graded_submission(app: Flask, client: FlaskClient,
                                           auth: Callable[..., dict[str, str]]) -> None:
    before = client.get("/metrics").get_data(as_text=True)
    labels = {"diagnosis": "none", "passed": "true", "status": "graded"}
    response = client.post("/api/v1/submissions?wait=20", headers=auth("ana"),
                           json={"exercise_id": "permute-2d", "code": CODE})
    assert response.get_json()["passed"] is True
    scrape = client.get("/metrics")
    assert scrape.status_code == 200 and scrape.mimetype == "text/plain"
    after = scrape.get_data(as_text=True)
    assert _sample(after, "kiwame_submissions_total", **labels) == _sample(before, "kiwame_submissions_total",
                                                                           **labels) + 1
    assert _sample(after, "kiwame_grading_duration_seconds_count") == \
        _sample(before, "kiwame_grading_duration_seconds_count") + 1
    assert "kiwame_queue_depth{status=\"queued\"} 0.0" in after
    assert "kiwame_outbox_backlog{kind=\"webhook\"} 0.0" in after
    assert _sample(after, "kiwame_sandbox_zygote_up") == 1.0
    for name in ("kiwame_sandbox_spares", "kiwame_sandbox_busy", "kiwame_sandbox_zygote_restarts_total"):
        assert re.search(rf"^{name} \d", after, re.M), name
    assert _sample(after, "kiwame_metrics_reading_up", reading="queue") == 1.0
    assert "secret-marker-7" not in after


def test_every_outbox_kind_reports_its_backlog(client: FlaskClient) -> None:
    """A kind registered the way LTI score passback will be shows up with no metrics wiring of its own."""
    outbox.register(outbox.Kind("lti-test", WebhookDelivery, lambda row: [], lambda delivery: outbox.delivered()))
    try:
        text = client.get("/metrics").get_data(as_text=True)
        assert "kiwame_outbox_backlog{kind=\"lti-test\"} 0.0" in text
        assert "kiwame_outbox_backlog{kind=\"webhook\"} 0.0" in text
    finally:
        outbox.KINDS.pop("lti-test")


def test_metrics_can_be_turned_off(make_app: Callable[..., Flask]) -> None:
    assert make_app(KIWAME_METRICS="0").test_client().get("/metrics").status_code == 404


def test_request_ids(client: FlaskClient) -> None:
    generated = client.get("/livez").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert client.get("/livez", headers={"X-Request-ID": "edge-abc.123"}).headers["X-Request-ID"] == "edge-abc.123"
    smuggled = client.get("/livez", headers={"X-Request-ID": "a b\tc"}).headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", smuggled)


def test_one_json_log_line_per_graded_submission_without_the_code(
        client: FlaskClient, auth: Callable[..., dict[str, str]], caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="service.services.queue"):
        sub = client.post("/api/v1/submissions?wait=20", headers=auth("ana"),
                          json={"exercise_id": "permute-2d", "code": CODE}).get_json()
    records = [r for r in caplog.records if getattr(r, "event", None) == "submission_graded"]
    assert len(records) == 1
    line = json.loads(JsonFormatter().format(records[0]))
    assert {"time", "level", "submission_id", "exercise", "user_id", "status", "score", "duration_ms"} <= set(line)
    assert line["submission_id"] == sub["id"] and line["exercise"] == "permute-2d" and line["score"] == 1.0
    assert line["level"] == "INFO" and line["time"].endswith("Z")
    assert "secret-marker-7" not in json.dumps(line)


def test_json_log_lines_carry_the_request_id(app: Flask) -> None:
    formatter = JsonFormatter()
    record = logging.LogRecord("kiwame.test", logging.WARNING, __file__, 1, "hello %s", ("there",), None)
    with app.test_request_context(headers={"X-Request-ID": "req-42"}):
        from service.telemetry.http import _start

        _start()
        line = json.loads(formatter.format(record))
    assert line["message"] == "hello there" and line["level"] == "WARNING" and line["request_id"] == "req-42"


def test_multiprocess_mode_sums_every_process(tmp_path: Path) -> None:
    """With PROMETHEUS_MULTIPROC_DIR set before start, /metrics adds up the counts of all worker processes."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    worker = ("from service.telemetry.metrics import observe_graded\n"
              "observe_graded('graded', 'reshape_instead_of_permute', False, 0.05, 0.1)\n")
    for _ in range(2):  # two processes, as two gunicorn workers would be
        subprocess.run([sys.executable, "-c", worker], env=env, check=True, timeout=120)
    scrape = subprocess.run([sys.executable, "-c", "from service.telemetry.http import exposition\n"
                             "import sys; sys.stdout.write(exposition({}).decode())"],
                            env=env, check=True, capture_output=True, text=True, timeout=120).stdout
    assert _sample(scrape, "kiwame_submissions_total", diagnosis="reshape_instead_of_permute", passed="false",
                   status="graded") == 2.0
    assert _sample(scrape, "kiwame_grading_duration_seconds_count") == 2.0

"""Queue mode's web tier (real Redis and worker): ``?wait=`` woken by the pub/sub notification, not by the
database poll; exercise pages get their expected outputs from a worker; no sandbox starts in the web tier."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from service.persistence import SubmissionRow, db

BROKER = os.environ.get("KIWAME_TEST_BROKER_URL")
pytestmark = pytest.mark.skipif(not BROKER, reason="KIWAME_TEST_BROKER_URL is not set (queue-mode tests)")


def test_wait_wakes_on_the_notification_long_before_the_poll(app: Flask, make_user: Callable) -> None:
    from service.services.celery_queue import Notifier

    assert BROKER
    ana = make_user("ana").id
    with app.app_context():
        # Running under someone's lease: no worker claims it; this test plays the grader.
        row = SubmissionRow(user_id=ana, exercise_id="permute-shape-quiz", answer=[7, 4], status="running",
                            source="api", lease_token="t")
        db.session.add(row)
        db.session.commit()
        row_id = row.id
    waiter, grader = Notifier(BROKER, poll_s=60), Notifier(BROKER, poll_s=60)

    def grade() -> None:
        time.sleep(1.0)
        with app.app_context():
            db.session.execute(sa.update(SubmissionRow).where(SubmissionRow.id == row_id).values(status="graded"))
            db.session.commit()
            db.session.remove()
        grader.publish(row_id)

    thread = threading.Thread(target=grade)
    with app.app_context():
        started = time.monotonic()
        thread.start()
        waiter.wait(row_id, 45)
        elapsed = time.monotonic() - started
        status = db.session.scalar(sa.select(SubmissionRow.status).where(SubmissionRow.id == row_id))
    thread.join()
    waiter.close()
    assert status == "graded"
    assert elapsed < 30, f"woken after {elapsed:.1f} s: by the 60 s poll's deadline, not the notification"


def test_web_tier_shows_expected_outputs_without_a_sandbox(app: Flask, client: Any, auth: Callable) -> None:
    from service.services.runtime import runtime

    detail = client.get("/api/v1/exercises/permute-2d", headers=auth("ana")).get_json()
    assert detail["visible_cases"] and all(case.get("expected") is not None for case in detail["visible_cases"])
    assert client.get("/healthz").get_json()["sandbox"]["mode"] == "queue"
    assert not runtime(app).engine_started  # computed by the worker, published over Redis


def test_a_worker_computes_expected_outputs_in_the_framework_the_learner_picked(app: Flask) -> None:
    from service.services import exercises
    from service.services.runtime import runtime

    ex = runtime(app).catalog.get("einops-batch-into-width")  # framework: [torch, numpy]
    assert ex is not None
    with app.app_context():
        shown = {fw: exercises.expected_outputs(ex.for_framework(fw)) for fw in ("torch", "numpy")}
    name = ex.visible_cases[0].name
    torch_case, numpy_case = shown["torch"][name]["expected"], shown["numpy"][name]["expected"]
    assert (torch_case["kind"], numpy_case["kind"]) == ("tensor", "ndarray")  # the reference ran in each
    assert torch_case["values"] == numpy_case["values"]
    assert not runtime(app).engine_started  # both computed by a worker, published over Redis

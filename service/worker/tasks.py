"""Tasks: ``kiwame.grade_submission`` (the fair claim, then ``grade_claimed``) and ``kiwame.sweep``."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from flask import Flask

from service.extensions import db
from service.services import catalog as catalog_service
from service.services import exercises as exercise_service
from service.services import health, leases, queue
from service.services.celery_queue import (
    EXPECTED_TASK,
    GRADE_TASK,
    SWEEP_TASK,
    CeleryQueue,
    Notifier,
    report_worker,
    store_expected,
)
from service.services.runtime import runtime
from service.worker.celery_app import _state, celery, flask_app

log = logging.getLogger(__name__)


@celery.task(name=GRADE_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def grade_submission(submission_id: int) -> int:
    """Grade submissions in fair order until none is free; the message is a wake-up, the row the truth.

    The message names one submission, but the claim takes the next learner in turn, so a learner who
    floods the queue does not delay anyone else, and a row skipped because its learner had a grading in
    flight is taken by the grader that finishes that grading (it claims again before returning).
    """
    app = flask_app()
    graded = 0
    with app.app_context():
        rt = runtime(app)
        settings = rt.settings
        notifier = _notifier(rt.queue)
        try:
            while True:
                claim = leases.with_retry(
                    f"claiming (woken by submission {submission_id})",
                    lambda: leases.claim_next(_state["queues"], settings.grading_lease_s), settings.db_retry_s)
                if claim is None:
                    return graded
                if queue.grade_claimed(claim) is not None:
                    graded += 1
                    if notifier is not None:
                        notifier.publish(claim.submission_id)
        finally:
            db.session.remove()


@celery.task(name=EXPECTED_TASK, ignore_result=True)
def expected(exercise_id: str, framework: str | None = None, variant_seed: int | None = None) -> None:
    """Compute an exercise's expected outputs for the web tier (which runs no sandbox) and publish them:
    for the learner's variant (rebuilt from its seed) in the framework they picked."""
    app = flask_app()
    with app.app_context():
        exercise = runtime(app).catalog.get(exercise_id)
        if exercise is not None and exercise.kind == "code":
            exercise = catalog_service.for_seed(exercise, variant_seed).for_framework(framework)
            _publish_expected(app, exercise)


def _publish_expected(app: Flask, exercise: Any) -> None:  # a catalog Exercise
    url = runtime(app).settings.broker_url
    assert url
    data = exercise_service.expected_outputs(exercise)
    if data:
        store_expected(url, exercise, data)


def publish_all_expected(app: Flask) -> threading.Thread:
    """At start-up: every code exercise's expected outputs, so exercise pages never wait for a worker."""

    def run() -> None:
        with app.app_context():
            for exercise in list(runtime(app).catalog.exercises.values()):
                if exercise.kind == "code":
                    try:
                        for framework in exercise.offered:  # the default variant, in every framework offered
                            _publish_expected(app, exercise.for_framework(framework))
                    except Exception as exc:  # the broker is down: pages ask again on demand
                        log.warning("could not publish expected outputs of %s: %s", exercise.id, exc)
                        return

    thread = threading.Thread(target=run, name="kiwame-expected", daemon=True)
    thread.start()
    return thread


@celery.task(name=SWEEP_TASK, ignore_result=True)
def sweep() -> int:
    """Re-queue expired leases and re-send lost messages (also run by every worker's own timer)."""
    app = flask_app()
    with app.app_context():
        try:
            return leases.sweep(runtime(app).queue, runtime(app).settings.requeue_after_s)
        finally:
            db.session.remove()


def _notifier(grading: object) -> Notifier | None:
    return grading.notifier if isinstance(grading, CeleryQueue) else None


def heartbeat(app: Flask, name: str) -> None:
    """Publish this worker's sandbox self-check (cached a minute) for the web tier's /healthz."""
    rt = runtime(app)
    assert rt.settings.broker_url
    try:
        with app.app_context():
            report = health.process_sandbox_check()
        report_worker(rt.settings.broker_url, name, {**report, "queues": _state["queues"]},
                      3 * rt.settings.sweep_interval_s + 30)
    except Exception as exc:  # the broker is down: the next round tries again
        log.warning("worker heartbeat failed: %s", exc)


def start_heartbeat(app: Flask, name: str) -> threading.Thread:
    interval = runtime(app).settings.sweep_interval_s

    def loop() -> None:
        while True:
            heartbeat(app, name)
            time.sleep(interval)

    thread = threading.Thread(target=loop, name="kiwame-heartbeat", daemon=True)
    thread.start()
    return thread


def start_sweeper(app: Flask) -> leases.Sweeper:
    rt = runtime(app)
    # The sweep re-sends on this thread (send_now): a broker outage then shows up as a failed sweep round.
    return leases.Sweeper(app, lambda: _Direct(rt.queue), rt.settings.sweep_interval_s,
                          rt.settings.requeue_after_s).start()


class _Direct:
    """The worker's queue for the sweep: sends synchronously, so a failed send is retried next round."""

    def __init__(self, target: object) -> None:
        self._target = target

    def enqueue(self, submission_id: int, name: str = "cpu", learner: int | None = None) -> None:
        assert isinstance(self._target, CeleryQueue)
        self._target.send_now(submission_id, name)

    def wait(self, submission_id: int, timeout: float) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass

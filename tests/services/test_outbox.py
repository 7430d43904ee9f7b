"""The outbox: a second delivery kind plugs in with a register call and shares the one retry model."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from service.persistence import SubmissionRow, WebhookDelivery, db
from service.services import outbox, submissions
from service.services.runtime import runtime

QUIZ = "permute-shape-quiz"


class Probe:
    """A delivery kind whose attempts answer from a script (it borrows the webhook table's columns)."""

    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers
        self.calls: list[int] = []

    def create(self, row: SubmissionRow) -> list[WebhookDelivery]:
        return [WebhookDelivery(submission_id=row.id, url="probe:", event="probe")] if not row.callback_url else []

    def perform(self, delivery: WebhookDelivery) -> outbox.Outcome:
        self.calls.append(delivery.attempts)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[no-any-return]


@pytest.fixture
def probe() -> Iterator[Callable[[list[Any]], Probe]]:
    made: list[Probe] = []

    def register(answers: list[Any]) -> Probe:
        kind = Probe(answers)
        outbox.register(outbox.Kind("probe", WebhookDelivery, kind.create, kind.perform,
                                    policy=lambda s: outbox.RetryPolicy(3, 0.02)))
        made.append(kind)
        return kind

    yield register
    outbox.KINDS.pop("probe", None)


def _graded_with_delivery(app: Flask, user_id: int) -> WebhookDelivery:
    with app.test_request_context():
        view = submissions.submit(submissions.SubmitRequest(user_id=user_id, exercise_id=QUIZ, answer=[7, 4]))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with app.app_context():
            found = db.session.scalars(sa.select(WebhookDelivery).where(
                WebhookDelivery.submission_id == view.id)).all()
            if found and found[0].status != "pending":
                return found[0]
        time.sleep(0.02)
    raise AssertionError("the probe delivery never finished")


def test_a_new_kind_is_retried_with_backoff_until_delivered(app: Flask, make_user: Callable, probe: Any) -> None:
    kind = probe([outbox.retry("HTTP 503", 503), ConnectionError("reset"), outbox.delivered(201)])
    delivery = _graded_with_delivery(app, make_user("ana").id)
    assert kind.calls == [1, 2, 3]  # attempts are counted before each one runs
    assert delivery.status == "delivered" and delivery.attempts == 3 and delivery.last_status_code == 201
    assert delivery.last_error is None and delivery.delivered_at is not None and delivery.next_attempt_at is None


def test_a_new_kind_gives_up_at_once_or_after_max_attempts(app: Flask, make_user: Callable, probe: Any) -> None:
    probe([outbox.give_up("no line item")])
    failed_now = _graded_with_delivery(app, make_user("ana").id)
    assert (failed_now.status, failed_now.attempts, failed_now.last_error) == ("failed", 1, "no line item")
    probe([outbox.retry("down")] * 3)
    exhausted = _graded_with_delivery(app, make_user("bo").id)
    assert (exhausted.status, exhausted.attempts, exhausted.last_error) == ("failed", 3, "down")  # the kind's policy


def test_resume_schedules_every_kinds_pending_rows(app: Flask, make_user: Callable, probe: Any,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    kind = probe([outbox.delivered(200)])
    monkeypatch.delitem(outbox.KINDS, "webhook")  # the probe borrows the webhook table: only one may read it
    ana = make_user("ana")
    with app.app_context():
        row = SubmissionRow(user_id=ana.id, exercise_id=QUIZ, answer=[7, 4], status="graded", source="api")
        db.session.add(row)
        db.session.flush()
        db.session.add(WebhookDelivery(submission_id=row.id, url="probe:", event="probe", status="pending"))
        db.session.commit()
        assert outbox.resume(runtime(app).outbox) == 1
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not kind.calls:
        time.sleep(0.02)
    assert kind.calls == [1]


def test_backoff_doubles_per_attempt() -> None:
    policy = outbox.RetryPolicy(max_attempts=5, backoff_s=2.0)
    assert [policy.delay(n) for n in (1, 2, 3)] == [2.0, 4.0, 8.0]


def test_two_processes_firing_the_same_row_post_it_once(app: Flask, make_user: Callable, probe: Any,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Two processes that both resumed a row (or a resume racing a live timer) must not both deliver it."""
    monkeypatch.delitem(outbox.KINDS, "webhook")  # the probe borrows the webhook table: only one may read it
    kind = probe([])
    seen_by_rival: list[float | None] = []

    def perform(delivery: WebhookDelivery) -> outbox.Outcome:
        kind.calls.append(delivery.attempts)
        # While this attempt is in flight, a rival fires the same row, as a second process's timer would.
        rival = threading.Thread(target=lambda: seen_by_rival.append(_attempt_elsewhere(app, delivery.id)))
        rival.start()
        rival.join()
        return outbox.delivered(200)

    outbox.register(outbox.Kind("probe", WebhookDelivery, lambda row: [], perform))  # the fixture removes it
    ana = make_user("ana")
    with app.app_context():
        row = SubmissionRow(user_id=ana.id, exercise_id=QUIZ, answer=[7, 4], status="graded", source="api")
        db.session.add(row)
        db.session.flush()
        delivery = WebhookDelivery(submission_id=row.id, url="probe:", event="probe", status="pending")
        db.session.add(delivery)
        db.session.commit()
        delivery_id = delivery.id
        assert outbox.attempt("probe", delivery_id) is None
        assert _attempt_elsewhere(app, delivery_id) is None  # and once delivered, a late timer does nothing
        done = db.session.get(WebhookDelivery, delivery_id)
        assert done is not None and (done.status, done.attempts) == ("delivered", 1)
    assert kind.calls == [1]
    assert seen_by_rival and seen_by_rival[0] is not None  # the rival looked again later instead of posting


def _attempt_elsewhere(app: Flask, delivery_id: int) -> float | None:
    with app.app_context():
        try:
            return outbox.attempt("probe", delivery_id)
        finally:
            db.session.remove()

"""Grading claims on the real database: fair cross-worker claim, leases, store once, the sweep, retries."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from service.persistence import Progress, SubmissionRow, db
from service.persistence.models import utcnow
from service.results import fallback
from service.services import leases, queue

QUIZ = "permute-shape-quiz"


class Recorder:
    """A GradingQueue that only records what the sweep sends (the sweep's contract is what it sends)."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, str]] = []

    def enqueue(self, submission_id: int, queue: str = "cpu", learner: int | None = None) -> None:
        self.sent.append((submission_id, queue))

    def wait(self, submission_id: int, timeout: float) -> None:
        raise AssertionError("not used")

    def close(self) -> None:
        pass


def _rows(app: Flask, *specs: tuple[int, str]) -> list[int]:
    with app.app_context():
        rows = [SubmissionRow(user_id=user, exercise_id=QUIZ, answer=[7, 4], status=status, source="api")
                for user, status in specs]
        db.session.add_all(rows)
        db.session.commit()
        return [r.id for r in rows]


def test_claim_next_is_round_robin_with_one_in_flight_per_learner(app: Flask, make_user: Callable) -> None:
    ana, ben, cho = (make_user(n).id for n in ("ana", "ben", "cho"))
    a1, a2, a3, b1, b2, c1 = _rows(app, (ana, "queued"), (ana, "queued"), (ana, "queued"), (ben, "queued"),
                                   (ben, "queued"), (cho, "queued"))
    with app.app_context():
        order = []
        while (claim := leases.claim_next(["cpu"], 60)) is not None:
            order.append(claim.submission_id)
        # Each learner's first row, in arrival order; then nothing: each has one grading in flight.
        assert order == [a1, b1, c1]
        db.session.execute(sa.update(SubmissionRow).where(SubmissionRow.id.in_([a1, b1]))
                           .values(status="graded", lease_token=None))
        db.session.commit()
        assert [leases.claim_next(["cpu"], 60).submission_id for _ in range(2)] == [a2, b2]  # type: ignore[union-attr]
        assert leases.claim_next(["cpu"], 60) is None  # a3 waits for a2, cho has c1 running
        assert leases.claim_next(["gpu"], 60) is None
    assert a3


def test_two_graders_never_hold_two_rows_of_one_learner(app: Flask, make_user: Callable) -> None:
    ana = make_user("ana").id
    _rows(app, *[(ana, "queued")] * 6)
    claims: list[Any] = []

    def grader() -> None:
        with app.app_context():
            for _ in range(3):
                claims.append(leases.claim_next(["cpu"], 60))
            db.session.remove()

    threads = [threading.Thread(target=grader) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len([c for c in claims if c is not None]) == 1


def test_a_result_is_stored_once_whoever_wins(app: Flask, make_user: Callable) -> None:
    ana = make_user("ana").id
    (row_id,) = _rows(app, (ana, "queued"))
    with app.app_context():
        slow = leases.claim(row_id, 60)
        assert slow is not None and leases.claim(row_id, 60) is None  # already claimed
        # The slow grader's lease expires; the sweep re-queues the row and a second grader claims it.
        db.session.execute(sa.update(SubmissionRow).values(lease_expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        sent = Recorder()
        assert leases.sweep(sent, 30) == 1 and sent.sent == [(row_id, "cpu")]
        fast = leases.claim(row_id, 60)
        assert fast is not None
        result = fallback(QUIZ, "", {"en": "x", "ja": "x"})
        row = db.session.get(SubmissionRow, row_id)
        assert queue.store_result(row, result, 1.0, fast) is not None  # type: ignore[arg-type]
        row = db.session.get(SubmissionRow, row_id)
        assert queue.store_result(row, result, 1.0, slow) is None  # type: ignore[arg-type]
        stored = db.session.get(SubmissionRow, row_id)
        assert stored is not None and stored.status == "error" and stored.claims == 2


def test_grading_counts_one_attempt_per_submission(app: Flask, make_user: Callable) -> None:
    ana = make_user("ana").id
    (row_id,) = _rows(app, (ana, "queued"))
    with app.app_context():
        assert queue.grade_one(row_id) is not None
        assert queue.grade_one(row_id) is None  # a redelivered message: nothing to claim
        attempts = db.session.scalar(sa.select(Progress.attempts).where(Progress.user_id == ana))
    assert attempts == 1


def test_sweep_resends_lost_messages_but_not_fresh_ones(app: Flask, make_user: Callable) -> None:
    ana = make_user("ana").id
    old, fresh, live = _rows(app, (ana, "queued"), (ana, "queued"), (ana, "running"))
    with app.app_context():
        now = utcnow()
        db.session.execute(sa.update(SubmissionRow).where(SubmissionRow.id == old)
                           .values(enqueued_at=now - timedelta(seconds=60)))
        db.session.execute(sa.update(SubmissionRow).where(SubmissionRow.id == fresh).values(enqueued_at=now))
        db.session.execute(sa.update(SubmissionRow).where(SubmissionRow.id == live)
                           .values(lease_expires_at=now + timedelta(seconds=60), lease_token="t"))
        db.session.commit()
        sent = Recorder()
        assert leases.sweep(sent, 30) == 1
        assert sent.sent == [(old, "cpu")]  # the live lease is left alone, the fresh message too
        assert db.session.get(SubmissionRow, live).status == "running"  # type: ignore[union-attr]


def test_with_retry_retries_a_lost_connection_then_gives_up(app: Flask) -> None:
    # A real unreachable database: the error is what a PostgreSQL restart raises.
    down = sa.create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", poolclass=sa.pool.NullPool)
    calls = []

    def write() -> None:
        calls.append(1)
        with down.connect():
            pass

    with app.app_context(), pytest.raises(sa.exc.OperationalError):
        leases.with_retry("test write", write, budget_s=0.5)
    assert len(calls) >= 3


def test_gpu_exercises_go_to_the_gpu_queue(app: Flask) -> None:
    from service.services.runtime import runtime

    catalog = runtime(app).catalog
    cuda = [e for e in catalog.exercises.values() if "cuda" in e.devices]
    assert all(leases.queue_of(e) == "gpu" for e in cuda)
    assert leases.queue_of(catalog.get("permute-2d")) == "cpu"


def test_an_in_process_sweep_resends_only_what_it_re_queued(app: Flask, make_user: Callable) -> None:
    ana = make_user("ana").id
    waiting, dead = _rows(app, (ana, "queued"), (ana, "running"))
    with app.app_context():
        db.session.execute(sa.update(SubmissionRow).values(enqueued_at=utcnow() - timedelta(seconds=600),
                                                           lease_expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        sent = Recorder()
        assert leases.sweep(sent, 30, resend_lost=False) == 1
        assert sent.sent == [(dead, "cpu")]  # the waiting row is still in the in-process queue
    assert waiting

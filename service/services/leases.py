"""Grading claims in the database, which is the truth: leases, the fair claim, the sweep, write retries.

A grader claims a submission by flipping it ``queued -> running`` with a fresh ``lease_token`` and a
``lease_expires_at``; it stores the result only while that token is still the row's (``release``), so a
result is stored once whoever wins a race (a slow grader whose lease expired, a redelivered message). The
sweep (every ``KIWAME_SWEEP_INTERVAL_S`` in each grading process) re-queues running rows whose lease
expired and re-sends queued rows whose message was sent more than ``KIWAME_REQUEUE_AFTER_S`` ago (lost
with a broker restart), so nothing stays stuck. ``claim_next`` is the cross-worker fair claim: at most one
running row per learner, and a learner's n-th queued row comes after every learner's (n-1)-th (round-robin
over learners, oldest first within a learner), like the in-process fair scheduler but held in the database.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from flask import Flask

from service.domain import Exercise
from service.persistence import SubmissionRow, User, db
from service.persistence.models import utcnow

if TYPE_CHECKING:
    from service.services.queue import GradingQueue

log = logging.getLogger(__name__)
T = TypeVar("T")
QUEUES = ("cpu", "gpu")


def queue_of(exercise: Exercise | None) -> str:
    """``gpu`` when the exercise has CUDA cases to run (graded only where a GPU is), else ``cpu``."""
    return "gpu" if exercise is not None and "cuda" in exercise.devices else "cpu"


@dataclass(frozen=True)
class Claim:
    submission_id: int
    token: str
    row: SubmissionRow = field(compare=False)  # as claimed, detached (its user, exercise and code never change)
    attempt: int  # which graded try this is


def _claim_params(submission_id: int, lease_s: float) -> dict[str, object]:
    now = utcnow()
    return {"sid": submission_id, "now": now, "token": uuid.uuid4().hex, "expires": now + timedelta(seconds=lease_s)}


def _param(name: str, column: str) -> sa.BindParameter[Any]:
    # Typed as the column, so its processing applies (UTC datetimes, JSON).
    return sa.bindparam(name, type_=SubmissionRow.__table__.c[column].type)


# Built once, run with parameters: building a statement costs more than SQLite takes to run it. RETURNING
# only the row itself: SQLite renders RETURNING columns unqualified, which would turn a correlated
# subquery there into a comparison of its own columns (the attempt count is a statement of its own).
_CLAIM = (sa.update(SubmissionRow)
          .where(SubmissionRow.id == sa.bindparam("sid"), SubmissionRow.status == "queued")
          .values(status="running", started_at=_param("now", "started_at"), lease_token=sa.bindparam("token"),
                  lease_expires_at=_param("expires", "lease_expires_at"), claims=SubmissionRow.claims + 1)
          .returning(SubmissionRow).execution_options(synchronize_session=False))
# The learner's graded tries at this exercise before this one (hints escalate; errors do not count).
_EARLIER = sa.select(sa.func.count()).select_from(SubmissionRow).where(
    SubmissionRow.user_id == sa.bindparam("uid"), SubmissionRow.exercise_id == sa.bindparam("eid"),
    SubmissionRow.status == "graded", SubmissionRow.id < sa.bindparam("sid"))


def _claimed(statement: sa.Update, params: dict[str, object]) -> Claim | None:
    """One UPDATE ... RETURNING flips the row to running and reads it; the attempt count; one commit."""
    row = db.session.execute(statement, params).scalar()
    if row is None:
        db.session.commit()
        return None
    earlier = db.session.scalar(_EARLIER, {"uid": row.user_id, "eid": row.exercise_id, "sid": row.id})
    db.session.expunge(row)  # detached as claimed: the commit does not expire it, storing re-attaches it
    db.session.commit()
    return Claim(row.id, str(params["token"]), row, int(earlier or 0) + 1)


def claim(submission_id: int, lease_s: float) -> Claim | None:
    """Claim this queued row (the in-process queue's unit); None when someone else has it or it is final."""
    return _claimed(_CLAIM, _claim_params(submission_id, lease_s))


def _busy_learners(now: object) -> sa.Select[Any]:
    return sa.select(SubmissionRow.user_id).where(SubmissionRow.status == "running",
                                                  SubmissionRow.lease_expires_at > now)


# Still no running row of the same learner (checked again in the UPDATE, under the learner's row lock).
_CLAIM_FAIR = _CLAIM.where(SubmissionRow.user_id.not_in(_busy_learners(_param("now", "lease_expires_at"))))


def claim_next(queues: Iterable[str], lease_s: float) -> Claim | None:
    """Claim the next row in fair order from ``queues`` (any grader, any process); None when none is free."""
    now = utcnow()
    rank = sa.func.row_number().over(partition_by=SubmissionRow.user_id, order_by=SubmissionRow.id)
    ranked = (sa.select(SubmissionRow.id, SubmissionRow.user_id, rank.label("turn"))
              .where(SubmissionRow.status == "queued", SubmissionRow.queue.in_(list(queues))).subquery())
    candidates = db.session.execute(
        sa.select(ranked.c.id, ranked.c.user_id).where(ranked.c.user_id.not_in(_busy_learners(now)))
        .order_by(ranked.c.turn, ranked.c.id).limit(8)).all()
    db.session.rollback()
    for submission_id, user_id in candidates:
        # Claims for one learner are serialised on the learner's row (FOR NO KEY UPDATE: inserts that only
        # reference the user are not blocked), so two graders never both see "nothing running".
        db.session.execute(sa.select(User.id).where(User.id == user_id).with_for_update(key_share=True))
        got = _claimed(_CLAIM_FAIR, _claim_params(submission_id, lease_s))
        if got is not None:
            return got
    return None


def _stored_values(statement: sa.Update) -> sa.Update:
    return statement.values({name: _param(f"v_{name}", name) for name in STORED})


# The columns storing a result writes, given as ``v_<column>`` parameters of these statements.
STORED = ("result", "status", "score", "passed", "graded_at", "duration_ms", "diagnosis", "staff_detail")
# With a claim: only while its lease is still the row's (matching no row means another grader won, and
# nothing is written), and the lease ends with the stored result. Without one: by id (a crash's result).
STORE_HELD = _stored_values(sa.update(SubmissionRow).where(
    SubmissionRow.id == sa.bindparam("sid"), SubmissionRow.status == "running",
    SubmissionRow.lease_token == sa.bindparam("token"),
).values(lease_token=None, lease_expires_at=None).execution_options(synchronize_session=False))
STORE_ANY = _stored_values(sa.update(SubmissionRow).where(SubmissionRow.id == sa.bindparam("sid"))
                           .execution_options(synchronize_session=False))


def sweep(queue: GradingQueue, requeue_after_s: float, *, all_running: bool = False,
          resend_lost: bool = True) -> int:
    """Re-queue expired leases (every running row with ``all_running``: the only grader restarted) and
    re-send queued rows whose message is older than ``requeue_after_s`` (only with ``resend_lost``: an
    in-process queue loses no message); returns how many were sent."""
    now = utcnow()
    expired = SubmissionRow.status == "running"
    if not all_running:
        expired = expired & sa.or_(SubmissionRow.lease_expires_at.is_(None), SubmissionRow.lease_expires_at < now)
    stale = list(db.session.scalars(sa.select(SubmissionRow.id).where(expired)))
    if stale:
        log.warning("re-queueing %d submissions whose grading lease expired: %s", len(stale), stale[:20])
        db.session.execute(sa.update(SubmissionRow).where(SubmissionRow.id.in_(stale), expired).values(
            status="queued", started_at=None, lease_token=None, lease_expires_at=None, enqueued_at=None))
    unsent: sa.ColumnElement[bool] = SubmissionRow.enqueued_at.is_(None)  # just re-queued above, or a previous process's rows
    if resend_lost:
        unsent = unsent | (SubmissionRow.enqueued_at < now - timedelta(seconds=requeue_after_s))
    lost = db.session.execute(sa.select(SubmissionRow.id, SubmissionRow.queue).where(
        SubmissionRow.status == "queued", unsent).order_by(SubmissionRow.id)).all()
    if lost:
        db.session.execute(sa.update(SubmissionRow).where(SubmissionRow.id.in_([i for i, _ in lost]))
                           .values(enqueued_at=now))
    db.session.commit()
    for submission_id, name in lost:
        queue.enqueue(submission_id, name)
    return len(lost)


def _transient(exc: BaseException) -> bool:
    """A lost connection or a locked database: worth retrying (a constraint violation is not)."""
    return isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError) or (
        isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated)


def with_retry(what: str, fn: Callable[[], T], budget_s: float) -> T:
    """Run ``fn`` (a unit of database work), retrying transient failures with backoff for ``budget_s``."""
    deadline, delay, attempt = time.monotonic() + budget_s, 0.1, 1
    while True:
        try:
            return fn()
        except sa.exc.SQLAlchemyError as exc:
            try:
                db.session.rollback()
            except sa.exc.SQLAlchemyError:
                pass
            if not _transient(exc) or time.monotonic() + delay > deadline:
                log.error("%s: database write failed after %d attempts: %s", what, attempt, exc)
                raise
            log.warning("%s: database unavailable (attempt %d, %s); retrying in %.1f s",
                        what, attempt, type(exc).__name__, delay)
            time.sleep(delay)
            delay, attempt = min(delay * 2, 5.0), attempt + 1


class Sweeper:
    """A daemon thread running ``sweep`` every ``interval`` seconds in one grading process."""

    def __init__(self, app: Flask, queue: Callable[[], GradingQueue], interval: float, requeue_after: float,
                 *, resend_lost: bool = True) -> None:
        self._app, self._queue, self._interval, self._requeue_after = app, queue, interval, requeue_after
        self._resend_lost = resend_lost
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="kiwame-sweep", daemon=True)

    def start(self) -> Sweeper:
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            with self._app.app_context():
                try:
                    sweep(self._queue(), self._requeue_after, resend_lost=self._resend_lost)
                except Exception:  # the database or the broker is down: the next round tries again
                    log.warning("sweep failed; retrying in %.0f s", self._interval, exc_info=True)
                    db.session.rollback()
                finally:
                    db.session.remove()

    def stop(self) -> None:
        self._stop.set()

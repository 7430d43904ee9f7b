"""The outbox: everything that leaves the service after a grading, with one retry model and one resume.

How it works: ``queue.store_result`` calls ``graded(row)`` inside its transaction; every registered kind
adds its delivery rows there, so a delivery exists exactly when the grade was committed. After the commit
``dispatch`` hands the new rows to the runtime's scheduler (``runtime().outbox``), which runs ``attempt``
on timer threads, never on a grading worker. ``attempt`` owns the retry model for every kind: attempts are
counted, a failed attempt is retried after ``backoff_s * 2 ** (attempts - 1)`` seconds until
``max_attempts`` (KIWAME_WEBHOOK_MAX_ATTEMPTS / KIWAME_WEBHOOK_BACKOFF_S by default), and ``resume`` (called
once at start-up by ``kiwame serve``) reschedules every kind's pending rows a previous process left behind.

Adding a kind (e.g. LTI AGS score passback):
1. A table: a model that inherits ``service.persistence.models.DeliveryState`` (the columns ``status``
   pending/delivered/failed, ``attempts``, ``last_error``, ``last_status_code``, ``next_attempt_at``,
   ``created_at``, ``delivered_at``) plus ``id`` and its own columns (e.g. ``submission_id``, the line item
   URL), and an Alembic migration for it.
2. ``create(row: SubmissionRow) -> list[model]``: the new, unsaved rows for a graded submission ([] when the
   kind does not apply to it); ``graded`` adds and flushes them.
3. ``perform(delivery) -> Outcome``: one attempt, in an app context, without committing. Return
   ``delivered(status_code)``, ``retry(error, status_code)`` (counted; retried with backoff) or
   ``give_up(error)`` (failed at once: retrying cannot help). An exception counts as ``retry``.
4. Register it once in the app's wiring (``service/app.py: _register_outbox_kinds``):
   ``outbox.register(outbox.Kind("lti_score", LtiScoreDelivery, create, perform, policy))``, where the
   optional ``policy(settings) -> RetryPolicy`` gives the kind its own attempt count and backoff.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from flask import Flask

from service.config import Settings
from service.persistence import SubmissionRow, db
from service.persistence.models import DeliveryState, utcnow
from service.services.runtime import Runtime, runtime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What one attempt of a kind's ``perform`` came to."""

    delivered: bool
    retry: bool = True  # when not delivered: try again later (False: fail the delivery now)
    error: str | None = None
    status_code: int | None = None  # the receiver's HTTP status, when it answered


def delivered(status_code: int | None = None) -> Outcome:
    return Outcome(True, status_code=status_code)


def retry(error: str, status_code: int | None = None) -> Outcome:
    return Outcome(False, True, error, status_code)


def give_up(error: str, status_code: int | None = None) -> Outcome:
    return Outcome(False, False, error, status_code)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    backoff_s: float  # the first retry's delay; doubled for every further attempt

    def delay(self, attempts: int) -> float:
        return self.backoff_s * 2 ** (attempts - 1)


def default_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(settings.webhook_max_attempts, settings.webhook_backoff_s)


@dataclass(frozen=True)
class Kind:
    """One kind of delivery: its table, the rows a grading adds, and how one attempt is made."""

    name: str
    model: type[Any]  # a mapped class with DeliveryState's columns and an integer ``id``
    create: Callable[[SubmissionRow], Sequence[Any]]
    perform: Callable[[Any], Outcome]
    policy: Callable[[Settings], RetryPolicy] = default_policy


KINDS: dict[str, Kind] = {}


def register(kind: Kind) -> None:
    """Add (or replace, by name) a delivery kind; idempotent, so every ``create_app`` may call it."""
    KINDS[kind.name] = kind


Pending = list[tuple[str, int]]  # (kind name, delivery id) added by ``graded``, scheduled by ``dispatch``


def graded(row: SubmissionRow) -> Pending:
    """Add every kind's deliveries for a graded submission, in the caller's transaction (not committed)."""
    pending: Pending = []
    for kind in KINDS.values():
        for delivery in kind.create(row):
            db.session.add(delivery)
            db.session.flush()
            pending.append((kind.name, delivery.id))
    return pending


def dispatch(pending: Pending) -> None:
    """Start the first attempt of deliveries ``graded`` added, once their transaction committed."""
    if pending:
        scheduler = runtime().outbox
        for kind, delivery_id in pending:
            scheduler.schedule(kind, delivery_id, 0.0)


# How long a claimed attempt keeps other processes off the row: longer than any one attempt's HTTP calls
# (each capped by its kind's timeout, at most tens of seconds); a process that dies mid-attempt leaves the
# row to ``resume`` after this.
CLAIM_S = 120.0
# A timer may fire a little before the row's due time (clocks differ between processes): tolerate that much.
EARLY_SLACK_S = 0.5


def _claim(kind: Kind, delivery_id: int) -> tuple[bool, float | None]:
    """Take the next attempt of a pending row for this process: (taken, else when to look again or None).

    Why: the same row can be scheduled by two processes at once (two web processes or workers both ran
    ``resume``, or a resume raced a live timer). Without a claim both would post, and a receiver would see
    the same grade twice. The claim is a compare-and-set on ``attempts`` (only one UPDATE can move it from
    n to n+1), committed before the attempt's HTTP calls so no transaction is held open across them.
    """
    model = kind.model
    row = db.session.execute(sa.select(model.status, model.attempts, model.next_attempt_at)
                             .where(model.id == delivery_id)).first()
    if row is None or row.status != "pending":
        return False, None
    now = utcnow()
    if row.next_attempt_at is not None and (row.next_attempt_at - now).total_seconds() > EARLY_SLACK_S:
        return False, (row.next_attempt_at - now).total_seconds()  # not due (or claimed elsewhere): look then
    taken = db.session.execute(
        sa.update(model).where(model.id == delivery_id, model.status == "pending", model.attempts == row.attempts)
        .values(attempts=row.attempts + 1, next_attempt_at=now + timedelta(seconds=CLAIM_S)))
    db.session.commit()
    return getattr(taken, "rowcount", 0) == 1, None  # not taken: another process took this very attempt


def attempt(kind_name: str, delivery_id: int) -> float | None:
    """One attempt; returns the delay before the next one, or None when finished (delivered or failed)."""
    kind = KINDS[kind_name]
    taken, later = _claim(kind, delivery_id)
    if not taken:
        return later
    delivery: DeliveryState | None = db.session.get(kind.model, delivery_id)
    if delivery is None:
        return None
    try:
        outcome = kind.perform(delivery)
    except Exception as exc:  # a failure of any kind counts as a failed attempt
        log.warning("%s delivery %s: attempt failed", kind_name, delivery_id, exc_info=True)
        outcome = retry(f"{type(exc).__name__}: {exc}")
    if outcome.status_code is not None:
        delivery.last_status_code = outcome.status_code
    if outcome.delivered:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = "delivered", utcnow(), None
        delivery.last_error = None
        db.session.commit()
        return None
    delivery.last_error = outcome.error
    policy = kind.policy(runtime().settings)
    if not outcome.retry or delivery.attempts >= policy.max_attempts:
        delivery.status, delivery.next_attempt_at = "failed", None
        db.session.commit()
        return None
    delay = policy.delay(delivery.attempts)
    delivery.next_attempt_at = utcnow() + timedelta(seconds=delay)
    db.session.commit()
    return delay


def resume(scheduler: Scheduler) -> int:
    """Schedule the pending deliveries of every kind a previous process left behind; returns how many."""
    now, count = utcnow(), 0
    for kind in KINDS.values():
        pending = db.session.execute(sa.select(kind.model.id, kind.model.next_attempt_at)
                                     .where(kind.model.status == "pending")).all()
        for delivery_id, due in pending:
            scheduler.schedule(kind.name, delivery_id, max(0.0, (due - now).total_seconds()) if due else 0.0)
        count += len(pending)
    return count


class Scheduler(Protocol):
    """Runs ``attempt`` for a delivery after ``delay`` seconds (timer threads here; a task queue later)."""

    def schedule(self, kind: str, delivery_id: int, delay: float) -> None: ...

    def close(self) -> None: ...


class TimerScheduler:
    """Runs attempts on timer threads so retries never hold a grading worker."""

    def __init__(self, app: Flask) -> None:
        self._app = app
        self._timers: set[threading.Timer] = set()
        self._lock = threading.Lock()

    def schedule(self, kind: str, delivery_id: int, delay: float) -> None:
        timer = threading.Timer(delay, self._fire, args=(kind, delivery_id))
        timer.daemon = True
        with self._lock:
            self._timers.add(timer)
        timer.start()

    def _fire(self, kind: str, delivery_id: int) -> None:
        with self._lock:
            self._timers = {t for t in self._timers if t.is_alive() and t is not threading.current_thread()}
        with self._app.app_context():
            try:
                delay = attempt(kind, delivery_id)
            except Exception:
                log.exception("%s delivery %s crashed", kind, delivery_id)
                db.session.rollback()
                delay = None
            finally:
                db.session.remove()
        if delay is not None:
            self.schedule(kind, delivery_id, delay)

    def close(self) -> None:
        with self._lock:
            for timer in self._timers:
                timer.cancel()
            self._timers.clear()


def make_scheduler(rt: Runtime) -> Scheduler:
    """The scheduler this process uses (the runtime calls it on first use, after the fork)."""
    return TimerScheduler(rt.app)

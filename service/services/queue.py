"""The grading queue: the ``GradingQueue`` seam, its in-process implementation and the unit of work.

Submissions talk to ``runtime().queue`` only (``enqueue``, ``wait``). ``InProcessQueue`` grades on worker
threads of this process; ``services/celery_queue.CeleryQueue`` (queue mode, ``KIWAME_BROKER_URL``) sends a
task by name to ``kiwame worker`` processes. Both share the claim (``services/leases.py``), ``grade_claimed``,
``store_result`` (stored once, under the claim's lease), ``is_final`` (the database read ``wait`` falls back
on) and ``recover`` (the embedded server's start-up sweep).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Protocol

import sqlalchemy as sa
from flask import Flask
from sqlalchemy import orm

from service.domain import FINAL_STATUSES, Submission
from service.exercises import personalize
from service.persistence import SubmissionRow, db
from service.persistence.models import utcnow
from service.results import GradeResult, fallback
from service.services import catalog as catalog_service
from service.services import leases, outbox
from service.services import progress as progress_service
from service.services.fairness import FairQueue
from service.services.runtime import Runtime, runtime
from service.telemetry.metrics import observe_graded

log = logging.getLogger(__name__)


class GradingQueue(Protocol):
    """Where submissions go to be graded; ``wait`` returns when graded or after ``timeout`` seconds."""

    def enqueue(self, submission_id: int, queue: str = "cpu", learner: int | None = None) -> None:
        """``learner``: the submission's user id when the caller knows it (the fairness key; else read)."""

    def wait(self, submission_id: int, timeout: float) -> Stored | None:
        """``Stored`` when this process stored the result (what changed: the caller needs no read)."""

    def close(self) -> None: ...


# What storing a result changed on the submission (SubmissionView field names): a waiter in the process
# that stored it answers from these and the submission it already has, without reading the row again.
Stored = dict[str, Any]


class _Grading(threading.Event):
    """Set when this process's grading of a submission ended; ``stored``: what it committed, if it did."""

    stored: Stored | None = None


class InProcessQueue:
    """Owns the worker threads, the per-learner fair queue they drain (fairness.py) and one Event per
    submission in flight (what ``wait`` blocks on)."""

    def __init__(self, app: Flask, workers: int) -> None:
        self._app = app
        self._workers = max(1, workers)
        self._threads: list[threading.Thread] = []
        self._queue: FairQueue[int] = FairQueue()
        self._lock = threading.Lock()
        self._events: dict[int, _Grading] = {}

    def _start(self) -> None:
        # Started on first use: threads do not survive a fork, so none may exist before gunicorn forks.
        with self._lock:
            if not self._threads:
                self._queue = FairQueue()
                self._threads = [threading.Thread(target=self._work, name=f"kiwame-grade-{i}", daemon=True)
                                 for i in range(self._workers)]
                for t in self._threads:
                    t.start()

    def _work(self) -> None:
        queue = self._queue
        while (got := queue.get()) is not None:
            learner, submission_id = got
            try:
                self._run(submission_id)
            finally:
                queue.done(learner)

    def enqueue(self, submission_id: int, queue: str = "cpu", learner: int | None = None) -> None:
        """Queue behind the same learner's earlier submissions; learners are served round-robin."""
        # One process grades every queue here (CUDA cases run when this machine has a GPU, as before).
        with self._lock:
            self._events.setdefault(submission_id, _Grading())
        self._start()
        key = ("user", learner) if learner is not None else _learner(submission_id)
        self._queue.put(key, submission_id)

    def wait(self, submission_id: int, timeout: float) -> Stored | None:
        """Wait on the submission's event (set the moment its grading here ends): what that grading stored,
        or else read the database once; poll it only when this process is not grading the submission."""
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            event = self._events.get(submission_id)
            waited = event is not None and not event.is_set()
            # No read before the event: it is set only after the grading ended; when that grading stored
            # the result (committed), no read after it either.
            if event is not None and waited and event.wait(max(0.0, min(deadline - time.monotonic(), 1.0))) \
                    and event.stored is not None:
                return event.stored
            if is_final(submission_id) or deadline - time.monotonic() <= 0:
                return None
            if not waited:
                time.sleep(max(0.0, min(deadline - time.monotonic(), 0.2)))

    def close(self) -> None:
        with self._lock:
            threads, self._threads = self._threads, []
            self._queue.close()
        for t in threads:
            t.join()

    def _run(self, submission_id: int) -> None:
        stored: Stored | None = None
        with self._app.app_context():
            try:
                stored = grade_one(submission_id)
            except Exception:  # the last line of defence: never leave a submission queued or running
                log.exception("grading submission %s crashed", submission_id)
                db.session.rollback()
                _store_crash(submission_id)
            finally:
                db.session.remove()
                with self._lock:
                    event = self._events.pop(submission_id, None)
                if event is not None:
                    event.stored = stored
                    event.set()


def make_queue(rt: Runtime) -> GradingQueue:
    """The embedded default's queue (the runtime calls it on first use, after the fork)."""
    return InProcessQueue(rt.app, rt.settings.grading_workers)


def is_final(submission_id: int) -> bool:
    """Whether the submission is graded (or gone), as the database says now."""
    db.session.rollback()  # end any open read so the next select sees other threads' commits
    status = db.session.scalar(sa.select(SubmissionRow.status).where(SubmissionRow.id == submission_id))
    # Give the connection back while we wait: dozens of waiting requests must not hold the whole
    # connection pool, or the grading workers block on it (seen as multi-second waits under load).
    db.session.rollback()
    return status is None or status in FINAL_STATUSES


def recover(queue: GradingQueue) -> int:
    """The embedded server's start-up: it is the only grader, so every running row is a dead claim."""
    # Nothing of a previous process is in memory: every queued row is sent again, every running one re-queued.
    return leases.sweep(queue, 0.0, all_running=True)


def _learner(submission_id: int) -> object:
    """Whose submission this is (the fairness key); the submission itself if it cannot be read."""
    try:  # its own connection: the caller's session (and what it has loaded) is left alone
        with db.engine.connect() as conn:
            user_id = conn.scalar(sa.select(SubmissionRow.user_id).where(SubmissionRow.id == submission_id))
    except Exception:  # the grading itself will report a database problem; queue it anyway
        user_id = None
    return ("user", user_id) if user_id is not None else ("submission", submission_id)


def grade_one(submission_id: int) -> Stored | None:
    """Claim this submission, grade it and store the result (in the current app context)."""
    settings = runtime().settings
    claim = leases.with_retry(f"claiming submission {submission_id}",
                              lambda: leases.claim(submission_id, settings.grading_lease_s), settings.db_retry_s)
    return grade_claimed(claim) if claim is not None else None


def grade_claimed(claim: leases.Claim) -> Stored | None:
    """Grade a claimed submission and store the result (None: another grader stored it first); database
    writes are retried with backoff (an outage)."""
    rt = runtime()
    submission_id, loaded = claim.submission_id, claim.row
    exercise_id, code, answer, user_id, reveal, framework = (
        loaded.exercise_id, loaded.code, loaded.answer, loaded.user_id, bool(loaded.reveal), loaded.framework)
    exercise = rt.catalog.get(exercise_id)
    if exercise is not None:
        exercise = personalize.for_learner(exercise, user_id)  # graded on the learner's own variant
    attempt = claim.attempt
    started = time.perf_counter()
    result: GradeResult
    if exercise is None:
        result = fallback(exercise_id, "", {
            "en": f"exercise {exercise_id!r} is no longer in the catalog",
            "ja": f"演習 {exercise_id!r} はカタログにありません"})
    else:
        try:
            result = rt.engine.grade(exercise, Submission(exercise.id, code=code, answer=answer,
                                                          attempt=attempt, reveal=reveal, framework=framework))
        except Exception as exc:  # the engine promises a result; if it breaks that promise, explain
            log.exception("engine failed on submission %s", submission_id)
            failure = f"{type(exc).__name__}: {exc}"
            result = fallback(exercise.id, exercise.content_hash, {
                "en": f"the grader failed: {failure}", "ja": f"採点器でエラーが発生しました: {failure}"})
    duration_ms = (time.perf_counter() - started) * 1000

    def store() -> Stored | None:
        row = db.session.merge(loaded, load=False)
        # Graded against the exercise as it is now: if it changed since the submit, so does the version.
        current = catalog_service.version_id(exercise) if exercise is not None else None
        if current is not None and exercise is not None and current != row.exercise_version_id:
            current = catalog_service.version_id(exercise, fresh=True)  # before writing: never a stale id
        changed = current is not None and current != row.exercise_version_id
        if changed:
            row.exercise_version_id = current
        stored = store_result(row, result, duration_ms, claim)
        if stored is not None and changed and exercise is not None:
            stored["exercise_version"] = exercise.content_hash
        return stored

    return leases.with_retry(f"storing the result of submission {submission_id}", store, rt.settings.db_retry_s)


def store_result(row: SubmissionRow, result: GradeResult, duration_ms: float,
                 claim: leases.Claim | None = None) -> Stored | None:
    """Store the result, count the attempt and add the outbox's deliveries in one transaction; with a
    ``claim``, only while its lease is still the row's (None: another grader stored it, nothing written)."""
    now = utcnow()
    values: dict[str, Any] = {
        "result": result.to_dict(), "status": "error" if result.status == "error" else "graded",
        "score": float(result.score), "passed": bool(result.passed), "graded_at": now, "duration_ms": duration_ms,
        "diagnosis": result.diagnoses[0].code if result.diagnoses else None,
        "staff_detail": result.staff or None}  # hidden cases' detail: staff pages only, never in `result`
    # One UPDATE stores the result and, with a claim, ends the lease only if it is still ours.
    params = {"sid": row.id, "token": claim.token if claim is not None else None,
              **{f"v_{name}": values[name] for name in leases.STORED}}
    done = db.session.execute(leases.STORE_HELD if claim is not None else leases.STORE_ANY, params)
    if getattr(done, "rowcount", 0) != 1:
        db.session.rollback()
        log.warning("submission %s: lease lost before storing (or the row is gone); the other grader's result "
                    "stands", row.id)
        return None
    for key, value in values.items():  # the row as stored, without a second write
        orm.attributes.set_committed_value(row, key, value)
    if row.status == "graded":  # infrastructure errors are not the learner's attempts
        progress_service.record_attempt(row.user_id, row.exercise_id, values["score"], values["passed"], now)
    graded = _graded_fields(row, duration_ms)  # read before the commit expires the row
    stored: Stored = {"status": values["status"], "score": values["score"], "passed": values["passed"],
                      "graded_at": now, "started_at": row.started_at, "diagnosis": values["diagnosis"],
                      "result": values["result"]}
    pending = outbox.graded(row)
    db.session.commit()
    outbox.dispatch(pending)  # after the commit: a delivery never describes a grade that was rolled back
    latency = graded.pop("latency_s")
    observe_graded(graded["status"], graded["diagnosis"], graded["passed"], duration_ms / 1000, latency)
    log.info("submission graded", extra=graded)
    return stored


def _graded_fields(row: SubmissionRow, duration_ms: float) -> dict[str, Any]:
    """The one log line per graded submission: who, what, how it went (never the code: it is the learner's)."""
    latency = (row.graded_at - row.created_at).total_seconds() if row.graded_at and row.created_at else None
    return {"event": "submission_graded", "submission_id": row.id, "exercise": row.exercise_id,
            "user_id": row.user_id, "status": row.status, "score": row.score, "passed": row.passed,
            "diagnosis": row.diagnosis, "duration_ms": round(duration_ms, 2), "source": row.source,
            "latency_s": latency}


def _store_crash(submission_id: int) -> None:
    row = db.session.get(SubmissionRow, submission_id)
    if row is None or row.status in FINAL_STATUSES:
        return
    store_result(row, fallback(row.exercise_id, "", {
        "en": "grading crashed unexpectedly; please resubmit",
        "ja": "採点が予期せず停止しました。もう一度提出してください"}), 0.0)

"""AGS grade passback as an outbox kind: one score row per improvement, delivered with retries and backoff.

Rows are written in the grading transaction (``graded``), so a crash between grading and posting loses
nothing; ``Dispatcher.resume`` picks pending rows up after a restart. Only ``graded`` results count, and
the score is the stored best (``progress.best_score``), never anything the browser sent.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
import sqlalchemy as sa
from flask import Flask, current_app
from pylti1p3.assignments_grades import AssignmentsGradesService
from pylti1p3.exception import LtiServiceException
from pylti1p3.grade import Grade

from service.persistence import (
    LtiLaunch,
    LtiPlatform,
    LtiScoreDelivery,
    Progress,
    ResourceLink,
    SubmissionRow,
    db,
)
from service.persistence.models import utcnow
from service.services import lti_tool
from service.services.lti_http import BlockedURL

log = logging.getLogger(__name__)
SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"


def _cfg(key: str, default: float) -> float:
    value = current_app.config.get(key)
    return float(default if value is None else value)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def graded(row: SubmissionRow) -> list[int]:
    """In the grading transaction: queue the learner's new best score for every line item it belongs to."""
    if row.status != "graded":
        return []  # infrastructure errors and unfinished runs are never posted
    best = db.session.scalar(sa.select(Progress.best_score).where(Progress.user_id == row.user_id,
                                                                  Progress.exercise_id == row.exercise_id))
    if best is None:
        return []
    links = db.session.execute(
        sa.select(ResourceLink.id, LtiLaunch.sub)
        .join(LtiLaunch, LtiLaunch.resource_link_id == ResourceLink.id)
        .where(LtiLaunch.user_id == row.user_id, ResourceLink.exercise_id == row.exercise_id,
               ResourceLink.lineitem_url.is_not(None))).all()
    created = []
    for link_id, sub in links:
        previous = db.session.execute(
            sa.select(sa.func.max(LtiScoreDelivery.score_key), sa.func.max(LtiScoreDelivery.timestamp))
            .where(LtiScoreDelivery.resource_link_id == link_id, LtiScoreDelivery.user_id == row.user_id)).one()
        key = round(float(best) * 10000)
        if previous[0] is not None and key <= previous[0]:
            continue  # not an improvement: the gradebook already has (or will get) this score
        stamp = utcnow()
        if previous[1] is not None:  # strictly increasing per (line item, user), whatever the clocks do
            stamp = max(stamp, datetime.fromisoformat(previous[1]) + timedelta(microseconds=1))
        delivery = LtiScoreDelivery(resource_link_id=link_id, user_id=row.user_id, submission_id=row.id, sub=sub,
                                    score_given=float(best), score_key=key, timestamp=_iso(stamp),
                                    status="pending", next_attempt_at=utcnow())
        try:
            with db.session.begin_nested():  # a concurrent grader may have queued this improvement first
                db.session.add(delivery)
        except sa.exc.IntegrityError:
            continue
        created.append(delivery.id)
    return created


def deliver(delivery_id: int) -> float | None:
    """One attempt; returns the delay before the next one, or None when finished (sent, failed, superseded)."""
    if not _claim(delivery_id):
        return None  # not due, finished, or another process holds it right now
    delivery = db.session.get(LtiScoreDelivery, delivery_id)
    if delivery is None or delivery.status != "pending":
        return None
    newer = db.session.scalar(sa.select(LtiScoreDelivery.id).where(
        LtiScoreDelivery.resource_link_id == delivery.resource_link_id,
        LtiScoreDelivery.user_id == delivery.user_id, LtiScoreDelivery.score_key > delivery.score_key,
        LtiScoreDelivery.status.in_(("pending", "sent"))).limit(1))
    if newer is not None:  # a better score is on its way: posting this one late could only confuse
        delivery.status, delivery.next_attempt_at = "superseded", None
        db.session.commit()
        return None
    link = db.session.get(ResourceLink, delivery.resource_link_id)
    platform = db.session.get(LtiPlatform, link.platform_id) if link is not None else None
    if link is None or platform is None or not link.lineitem_url:
        return _finish(delivery, "failed", "the resource link or its registration is gone")
    delivery.attempts += 1
    connector = lti_tool.connector(platform, _cfg("KIWAME_LTI_HTTP_TIMEOUT_S", 10))
    grade = (Grade().set_score_given(delivery.score_given).set_score_maximum(1).set_user_id(delivery.sub)
             .set_timestamp(delivery.timestamp).set_activity_progress("Completed")
             .set_grading_progress("FullyGraded"))
    scopes: Any = [SCORE_SCOPE, *link.ags_scopes]  # the claim's scopes, whatever the platform listed
    ags = AssignmentsGradesService(connector, {"scope": scopes, "lineitem": link.lineitem_url})
    try:
        ags.put_grade(grade)
        delivery.last_status_code, delivery.last_error = 200, None
        return _finish(delivery, "sent", None)
    except BlockedURL as exc:  # retrying cannot make an unregistered URL registered
        return _finish(delivery, "failed", f"blocked: {exc}")
    except LtiServiceException as exc:
        code = getattr(exc, "response", None)
        status = int(code.status_code) if isinstance(code, requests.Response) else None
        delivery.last_status_code = status
        delivery.last_error = (str(exc) + (f": {code.text[:500]}" if isinstance(code, requests.Response) else ""))
        if status == 401:
            lti_tool.CachingConnector.forget(connector._registration)
        elif status is not None and 400 <= status < 500 and status not in (408, 429):
            return _finish(delivery, "failed", delivery.last_error)  # the platform refused this score
    except Exception as exc:  # timeouts, refused connections, bad JSON: all worth another try
        delivery.last_status_code, delivery.last_error = None, f"{type(exc).__name__}: {exc}"[:1000]
    if delivery.attempts >= int(_cfg("KIWAME_LTI_MAX_ATTEMPTS", 20)):
        return _finish(delivery, "failed", delivery.last_error)
    delay = min(_cfg("KIWAME_LTI_BACKOFF_S", 5.0) * 2 ** (delivery.attempts - 1), _cfg("KIWAME_LTI_BACKOFF_MAX_S", 300))
    delivery.next_attempt_at = utcnow() + timedelta(seconds=delay)
    db.session.commit()
    return delay


def _claim(delivery_id: int) -> bool:
    """Take a lease on a due delivery: one UPDATE, so two processes resuming the outbox never both post."""
    now = utcnow()
    lease = timedelta(seconds=2 * _cfg("KIWAME_LTI_HTTP_TIMEOUT_S", 10) + 5)
    claimed = db.session.execute(sa.update(LtiScoreDelivery).where(
        LtiScoreDelivery.id == delivery_id, LtiScoreDelivery.status == "pending",
        sa.or_(LtiScoreDelivery.next_attempt_at.is_(None),
               LtiScoreDelivery.next_attempt_at <= now + timedelta(milliseconds=50)),
    ).values(next_attempt_at=now + lease))
    db.session.commit()
    return getattr(claimed, "rowcount", 0) == 1


def _finish(delivery: LtiScoreDelivery, status: str, error: str | None) -> float | None:
    delivery.status, delivery.next_attempt_at = status, None
    if status == "sent":
        delivery.sent_at = utcnow()
    if error is not None:
        delivery.last_error = error[:2000]
    db.session.commit()
    if status == "failed":
        log.warning("LTI score delivery %s failed: %s", delivery.id, error)
    return None


class Dispatcher:
    """Runs deliveries on timer threads (never on a grading worker); ``resume`` after a restart."""

    def __init__(self, app: Flask) -> None:
        self._app = app
        self._timers: set[threading.Timer] = set()
        self._lock = threading.Lock()
        self._closed = False

    def schedule(self, delivery_id: int, delay: float) -> None:
        timer = threading.Timer(delay, self._fire, args=(delivery_id,))
        timer.daemon = True
        with self._lock:
            if self._closed:
                return
            self._timers.add(timer)
        timer.start()

    def _fire(self, delivery_id: int) -> None:
        with self._lock:
            self._timers = {t for t in self._timers if t.is_alive() and t is not threading.current_thread()}
        with self._app.app_context():
            try:
                delay = deliver(delivery_id)
            except Exception:
                log.exception("LTI score delivery %s crashed", delivery_id)
                db.session.rollback()
                delay = _cfg("KIWAME_LTI_BACKOFF_MAX_S", 300)
            finally:
                db.session.remove()
        if delay is not None:
            self.schedule(delivery_id, delay)

    def resume(self) -> int:
        """Schedule the pending deliveries a previous process left behind."""
        pending = db.session.execute(sa.select(LtiScoreDelivery.id, LtiScoreDelivery.next_attempt_at)
                                     .where(LtiScoreDelivery.status == "pending")
                                     .order_by(LtiScoreDelivery.id)).all()
        now = utcnow()
        for delivery_id, due in pending:
            self.schedule(delivery_id, max(0.0, (due - now).total_seconds()) if due else 0.0)
        return len(pending)

    def cancel_all(self) -> None:
        with self._lock:
            self._closed = True
            for timer in self._timers:
                timer.cancel()
            self._timers.clear()


def get_dispatcher(app: Flask | None = None) -> Dispatcher:
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    return app.extensions.setdefault("kiwame.lti_scores", Dispatcher(app))


def schedule(ids: list[int]) -> None:
    for delivery_id in ids:
        get_dispatcher().schedule(delivery_id, 0.0)


def deliveries(course_id: int | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """Passback rows for instructors and admins: pending, sent, failed with the platform's answer."""
    query = (sa.select(LtiScoreDelivery, ResourceLink.exercise_id, ResourceLink.course_id)
             .join(ResourceLink, ResourceLink.id == LtiScoreDelivery.resource_link_id)
             .order_by(LtiScoreDelivery.id.desc()).limit(limit))
    if course_id is not None:
        query = query.where(ResourceLink.course_id == course_id)
    return [{"id": d.id, "user_id": d.user_id, "exercise_id": ex, "course_id": cid, "score": d.score_given,
             "status": d.status, "attempts": d.attempts, "last_status_code": d.last_status_code,
             "last_error": d.last_error, "timestamp": d.timestamp, "sent_at": d.sent_at}
            for d, ex, cid in db.session.execute(query)]

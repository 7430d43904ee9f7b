"""AGS grade passback, the outbox's ``lti_score`` kind: one score row per improvement, posted with retries.

``create`` runs in the grading transaction (``outbox.graded``), so a crash between grading and posting loses
nothing and ``outbox.resume`` picks pending rows up after a restart. Only ``graded`` results count, and the
score is the stored best (``progress.best_score``), never anything the browser sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
import sqlalchemy as sa
from flask import current_app
from pylti1p3.assignments_grades import AssignmentsGradesService
from pylti1p3.exception import LtiServiceException
from pylti1p3.grade import Grade

from service.config import Settings
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
from service.services import lti_tool, outbox
from service.services.lti_http import BlockedURL

SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


# Asked at every graded submission (built once): the learner's LMS line items for the exercise.
_LINKS = (sa.select(ResourceLink.id, LtiLaunch.sub).join(LtiLaunch, LtiLaunch.resource_link_id == ResourceLink.id)
          .where(LtiLaunch.user_id == sa.bindparam("uid"), ResourceLink.exercise_id == sa.bindparam("eid"),
                 ResourceLink.lineitem_url.is_not(None)))


def create(row: SubmissionRow) -> list[LtiScoreDelivery]:
    """In the grading transaction: the learner's new best score for every line item the exercise is in."""
    if row.status != "graded":
        return []  # infrastructure errors and unfinished runs are never posted
    links = db.session.execute(_LINKS, {"uid": row.user_id, "eid": row.exercise_id}).all()
    if not links:  # the usual case (no LMS line item for this learner and exercise): one query, not two
        return []
    best = db.session.scalar(sa.select(Progress.best_score).where(Progress.user_id == row.user_id,
                                                                  Progress.exercise_id == row.exercise_id))
    if best is None:
        return []
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
        # A better score is on its way: an older one still waiting would only be overwritten.
        db.session.execute(sa.update(LtiScoreDelivery).where(
            LtiScoreDelivery.resource_link_id == link_id, LtiScoreDelivery.user_id == row.user_id,
            LtiScoreDelivery.status == "pending", LtiScoreDelivery.id != delivery.id,
        ).values(status="superseded", next_attempt_at=None))
        created.append(delivery)
    return created


def perform(delivery: LtiScoreDelivery) -> outbox.Outcome:
    """One POST of the score to the line item's ``/scores`` (the outbox counts, retries and commits)."""
    link = db.session.get(ResourceLink, delivery.resource_link_id)
    platform = db.session.get(LtiPlatform, link.platform_id) if link is not None else None
    if link is None or platform is None or not link.lineitem_url:
        return outbox.give_up("the resource link or its registration is gone")
    timeout = float(current_app.config.get("KIWAME_LTI_HTTP_TIMEOUT_S") or 10)
    connector = lti_tool.connector(platform, timeout)
    grade = (Grade().set_score_given(delivery.score_given).set_score_maximum(1).set_user_id(delivery.sub)
             .set_timestamp(delivery.timestamp).set_activity_progress("Completed")
             .set_grading_progress("FullyGraded"))
    scopes: Any = [SCORE_SCOPE, *link.ags_scopes]  # the claim's scopes, whatever the platform listed
    ags = AssignmentsGradesService(connector, {"scope": scopes, "lineitem": link.lineitem_url})
    try:
        ags.put_grade(grade)
    except BlockedURL as exc:  # retrying cannot make an unregistered URL registered
        return outbox.give_up(f"blocked: {exc}")
    except LtiServiceException as exc:
        resp = getattr(exc, "response", None)
        status = int(resp.status_code) if isinstance(resp, requests.Response) else None
        error = (str(exc) + (f": {resp.text[:500]}" if isinstance(resp, requests.Response) else ""))[:2000]
        if status == 401:  # the cached token was revoked early: fetch a new one next time
            lti_tool.CachingConnector.forget(connector._registration)
        elif status is not None and 400 <= status < 500 and status not in (408, 429):
            return outbox.give_up(error, status)  # the platform refused this score: say why
        return outbox.retry(error, status)
    return outbox.delivered(200)


@dataclass(frozen=True)
class CappedPolicy(outbox.RetryPolicy):
    """Doubling backoff with a ceiling: a platform down for hours is retried every few minutes, not days."""

    cap_s: float = 300.0

    def delay(self, attempts: int) -> float:
        return min(super().delay(attempts), self.cap_s)


def policy(settings: Settings) -> outbox.RetryPolicy:
    return CappedPolicy(settings.lti_max_attempts, settings.lti_backoff_s, settings.lti_backoff_max_s)


KIND = outbox.Kind("lti_score", LtiScoreDelivery, create, perform, policy)


def deliveries(course_id: int | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """Passback rows for instructors and admins: pending, delivered, failed with the platform's answer."""
    query = (sa.select(LtiScoreDelivery, ResourceLink.exercise_id, ResourceLink.course_id)
             .join(ResourceLink, ResourceLink.id == LtiScoreDelivery.resource_link_id)
             .order_by(LtiScoreDelivery.id.desc()).limit(limit))
    if course_id is not None:
        query = query.where(ResourceLink.course_id == course_id)
    return [{"id": d.id, "user_id": d.user_id, "exercise_id": ex, "course_id": cid, "score": d.score_given,
             "status": d.status, "attempts": d.attempts, "last_status_code": d.last_status_code,
             "last_error": d.last_error, "timestamp": d.timestamp, "delivered_at": d.delivered_at}
            for d, ex, cid in db.session.execute(query)]

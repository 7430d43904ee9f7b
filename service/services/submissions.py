"""Submissions: validate, deduplicate by idempotency key, store, hand to the grader, read back."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import orm

from service.config import settings
from service.errors import Forbidden, Invalid, KiwameError, NotFound
from service.persistence import ExerciseVersion, SubmissionRow, User, db
from service.persistence.models import SOURCES, utcnow
from service.services import catalog as catalog_service
from service.services import leases
from service.services.runtime import runtime
from service.services.submission_views import SubmissionView, view

log = logging.getLogger(__name__)
__all__ = ["SubmissionView", "SubmitRequest", "get_submission", "list_submissions", "submit", "view", "wait_for"]


@dataclass(frozen=True)
class SubmitRequest:
    user_id: int
    exercise_id: str
    code: str | None = None
    answer: Any = None
    source: str = "api"
    idempotency_key: str | None = None
    callback_url: str | None = None
    token_id: int | None = None
    reveal: bool = False  # "show me" / "give up": the full feedback at once (see grading/staging.py)
    user_name: str | None = None  # the caller's name when known (the answer then reads no user row)
    framework: str | None = None  # the learner's pick among the exercise's frameworks; None: its first


def _request_hash(req: SubmitRequest) -> str:
    body = {"exercise_id": req.exercise_id, "code": req.code, "answer": req.answer,
            "callback_url": req.callback_url, "reveal": req.reveal}
    if req.framework is not None:  # only when sent: keys of requests stored before the pick keep their hash
        body["framework"] = req.framework
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def validate(req: SubmitRequest) -> Any:
    """The exercise the request targets, after checking kind, size and callback URL."""
    if req.source not in SOURCES:
        raise Invalid(f"source must be one of {', '.join(SOURCES)}")
    exercise = catalog_service.get_servable(req.exercise_id)
    if exercise is None:
        raise NotFound(f"no exercise {req.exercise_id!r}", code="exercise_not_found")
    if exercise.kind == "code":
        if not isinstance(req.code, str) or req.answer is not None:
            raise Invalid(f"{exercise.id} is a code exercise: send `code`, not `answer`",
                          code="wrong_submission_kind")
        if "\x00" in req.code:  # PostgreSQL text cannot store NUL; no Python source needs one
            raise Invalid("code must not contain NUL characters", code="validation_error")
        limit = settings(current_app).max_code_bytes
        size = len(req.code.encode())
        if size > limit:
            raise KiwameError(f"code is {size} bytes, the limit is {limit}", code="code_too_large",
                              status=413, details={"size": size, "limit": limit})
    elif (req.answer is None and not req.reveal) or req.code is not None:
        # A quiz answer may only be left out when giving up (reveal): then the answer is what is asked for.
        raise Invalid(f"{exercise.id} is a {exercise.kind} quiz: send `answer`, not `code`",
                      code="wrong_submission_kind")
    if req.framework is not None and req.framework not in exercise.offered:
        raise Invalid(f"{exercise.id} is offered in {', '.join(exercise.offered)}, not {req.framework!r}",
                      code="framework_not_offered", details={"offered": list(exercise.offered)})
    if req.callback_url is not None:
        parsed = urlparse(req.callback_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise Invalid("callback_url must be an absolute http(s) URL", code="invalid_callback_url")
    return exercise


def submit(req: SubmitRequest) -> SubmissionView:
    """Store a queued submission and hand it to the grader; an idempotent retry returns the original."""
    exercise = validate(req)
    digest = _request_hash(req)
    if req.idempotency_key:
        earlier = _by_key(req.user_id, req.idempotency_key, digest)
        if earlier is not None:
            return earlier
    version_id = catalog_service.version_id(exercise)
    now = utcnow()
    values: dict[str, Any] = {
        "user_id": req.user_id, "exercise_id": exercise.id, "exercise_version_id": version_id,
        "token_id": req.token_id, "code": req.code, "answer": req.answer, "reveal": req.reveal, "status": "queued",
        "source": req.source, "framework": req.framework or exercise.framework,
        "idempotency_key": req.idempotency_key or None, "request_hash": digest, "callback_url": req.callback_url,
        "queue": leases.queue_of(exercise), "enqueued_at": now, "created_at": now}
    for fresh in (False, True):
        try:
            new_id = db.session.execute(_INSERT, values).scalar_one()
            user_name = req.user_name or db.session.scalar(sa.select(User.name).where(User.id == req.user_id))
            db.session.commit()
            break
        except sa.exc.IntegrityError:
            # A concurrent retry with the same key won the insert: answer with its submission.
            db.session.rollback()
            if req.idempotency_key:
                earlier = _by_key(req.user_id, req.idempotency_key, digest)
                if earlier is not None:
                    return earlier
            if fresh:
                raise
            # Else perhaps a remembered version id the database no longer has (restored or reset): once more.
            version_id = values["exercise_version_id"] = catalog_service.version_id(exercise, fresh=True)
    # From what is known: answering needs no database again.
    created = SubmissionView(
        id=new_id, exercise_id=exercise.id, user_id=req.user_id, user=str(user_name), status="queued", score=None,
        passed=None, source=req.source, code=req.code, answer=req.answer, created_at=now, started_at=None,
        graded_at=None, exercise_version=exercise.content_hash if version_id is not None else None,
        diagnosis=None, callback_url=req.callback_url, result=None, reveal=req.reveal, framework=values["framework"])
    try:
        runtime().queue.enqueue(created.id, values["queue"], learner=req.user_id)
    except Exception:  # the row is stored: the sweep sends it later; the client gets its 202 and id
        log.exception("could not enqueue submission %s; the sweep will", created.id)
    return created


# Built once (every submission runs it); the returned id is all the answer needs from the database.
_INSERT = sa.insert(SubmissionRow).returning(SubmissionRow.id)


def _by_key(user_id: int, key: str, digest: str) -> SubmissionView | None:
    row = db.session.scalar(sa.select(SubmissionRow).where(SubmissionRow.user_id == user_id,
                                                           SubmissionRow.idempotency_key == key))
    if row is None:
        return None
    if row.request_hash != digest:
        raise Invalid("this Idempotency-Key was already used with a different request body",
                      code="idempotency_conflict", details={"submission_id": row.id})
    return view(row, replayed=True)


_VIEW_JOINS = (orm.joinedload(SubmissionRow.user).load_only(User.name),
               orm.joinedload(SubmissionRow.exercise_version).load_only(ExerciseVersion.content_hash))


def get_submission(submission_id: int, *, viewer_id: int, staff: bool) -> SubmissionView:
    db.session.expire_all()  # a worker thread may have graded it since this session last looked
    # Ids beyond the INTEGER column range cannot exist (and would overflow the driver or the cast).
    # One query: the user's name and the version's hash that the answer shows come joined.
    row = db.session.get(SubmissionRow, submission_id, options=_VIEW_JOINS) if 0 < submission_id < 2**31 else None
    if row is None:
        raise NotFound(f"no submission {submission_id}", code="submission_not_found")
    if not staff and row.user_id != viewer_id:
        # Why 403 and not 404: the API contract says another learner's data is forbidden, not hidden.
        raise Forbidden("you can only read your own submissions")
    return view(row)


def list_submissions(*, user_id: int | None, exercise_id: str | None, status: str | None,
                     page: int, per_page: int) -> tuple[list[SubmissionView], int]:
    query = sa.select(SubmissionRow, User.name).join(User, User.id == SubmissionRow.user_id)
    if user_id is not None:
        query = query.where(SubmissionRow.user_id == user_id)
    if exercise_id:
        query = query.where(SubmissionRow.exercise_id == exercise_id)
    if status:
        query = query.where(SubmissionRow.status == status)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0
    rows = db.session.execute(query.order_by(SubmissionRow.id.desc())
                              .offset((page - 1) * per_page).limit(per_page)).all()
    return [view(row, name) for row, name in rows], total


def wait_for(submission_id: int, timeout: float, *, viewer_id: int, staff: bool,
             fallback: SubmissionView | None = None) -> SubmissionView:
    """Block until the submission is graded or ``timeout`` seconds passed, then return it; with the
    database down, ``fallback`` (what the caller already has: a stored submission is never a 5xx)."""
    try:
        stored = runtime().queue.wait(submission_id, timeout)
        if stored is not None and fallback is not None and fallback.id == submission_id:
            # This process stored the result: the submission as the caller has it, plus what changed.
            return dataclasses.replace(fallback, **stored)
        db.session.rollback()  # a read begun before the wait must not hide the result (a snapshot's view)
        return get_submission(submission_id, viewer_id=viewer_id, staff=staff)
    except sa.exc.SQLAlchemyError:
        if fallback is None:
            raise
        log.warning("database unavailable while waiting for submission %s", submission_id, exc_info=True)
        db.session.rollback()
        return fallback

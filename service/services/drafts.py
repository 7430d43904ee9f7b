"""Drafts and the last verdict per learner and exercise, so a reload or another device resumes the work."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from service.errors import Invalid
from service.persistence import Draft, SubmissionRow, db
from service.persistence.models import utcnow

MAX_DRAFT = 64_000  # characters; the submit endpoint's own code limit is of the same order


@dataclass(frozen=True)
class Resume:
    code: str | None  # the draft, else the last submitted code, else None (the page shows the starter)
    result: dict[str, Any] | None  # the last graded verdict
    submission_id: int | None
    framework: str | None = None  # the framework the last verdict was graded in


def draft_key(exercise_id: str, framework: str | None) -> str:
    """Where a draft lives: the exercise id for its first framework, ``id@numpy`` for another one.
    Exercise ids never contain "@"; drafts saved before the learner could pick keep their key."""
    return f"{exercise_id}@{framework}" if framework else exercise_id


def save_draft(user_id: int, exercise_id: str, code: object, framework: str | None = None) -> None:
    """Insert or replace the learner's draft (one row per learner, exercise and non-first framework)."""
    if not isinstance(code, str) or len(code) > MAX_DRAFT:
        raise Invalid(f"a draft is text of at most {MAX_DRAFT} characters", code="bad_draft")
    exercise_id = draft_key(exercise_id, framework)
    row = db.session.scalar(sa.select(Draft).where(Draft.user_id == user_id, Draft.exercise_id == exercise_id))
    if row is None:
        try:
            # Why a savepoint: two tabs saving the first draft at once both try to insert.
            with db.session.begin_nested():
                db.session.add(Draft(user_id=user_id, exercise_id=exercise_id, code=code, updated_at=utcnow()))
        except sa.exc.IntegrityError:
            row = db.session.scalar(sa.select(Draft).where(Draft.user_id == user_id,
                                                           Draft.exercise_id == exercise_id))
    if row is not None:
        row.code = code
        row.updated_at = utcnow()
    db.session.commit()


def resume(user_id: int, exercise_id: str, framework: str | None = None, *, first: bool = True) -> Resume:
    """What the exercise page opens with: the newest of draft and last submission's code, and the last verdict.
    With ``framework``, only that framework's draft and submissions (``first``: the exercise's first one,
    whose draft key is the plain id and which also owns submissions stored before the pick was recorded)."""
    key = draft_key(exercise_id, None if first else framework)
    draft = db.session.scalar(sa.select(Draft).where(Draft.user_id == user_id, Draft.exercise_id == key))
    query = sa.select(SubmissionRow).where(SubmissionRow.user_id == user_id, SubmissionRow.exercise_id == exercise_id,
                                           SubmissionRow.status.in_(("graded", "error")))
    if framework is not None:
        mine = SubmissionRow.framework == framework
        query = query.where(sa.or_(mine, SubmissionRow.framework.is_(None)) if first else mine)
    last = db.session.scalar(query.order_by(SubmissionRow.id.desc()).limit(1))
    code = None
    if last is not None:
        code = last.code
    if draft is not None and (last is None or draft.updated_at >= last.created_at):
        code = draft.code
    return Resume(code, last.result if last is not None else None, last.id if last is not None else None,
                  last.framework if last is not None else None)

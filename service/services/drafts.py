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


def save_draft(user_id: int, exercise_id: str, code: object) -> None:
    """Insert or replace the learner's draft (one row per learner and exercise)."""
    if not isinstance(code, str) or len(code) > MAX_DRAFT:
        raise Invalid(f"a draft is text of at most {MAX_DRAFT} characters", code="bad_draft")
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


def resume(user_id: int, exercise_id: str) -> Resume:
    """What the exercise page opens with: the newest of draft and last submission's code, and the last verdict."""
    draft = db.session.scalar(sa.select(Draft).where(Draft.user_id == user_id, Draft.exercise_id == exercise_id))
    last = db.session.scalar(
        sa.select(SubmissionRow)
        .where(SubmissionRow.user_id == user_id, SubmissionRow.exercise_id == exercise_id,
               SubmissionRow.status.in_(("graded", "error")))
        .order_by(SubmissionRow.id.desc()).limit(1))
    code = None
    if last is not None:
        code = last.code
    if draft is not None and (last is None or draft.updated_at >= last.created_at):
        code = draft.code
    return Resume(code, last.result if last is not None else None, last.id if last is not None else None)

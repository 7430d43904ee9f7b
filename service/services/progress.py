"""Per-user, per-exercise progress: best score, attempts, solved and when."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from service.persistence import Progress, db


@dataclass(frozen=True)
class ProgressView:
    exercise_id: str
    best_score: float
    attempts: int
    solved: bool
    solved_at: datetime | None
    last_attempt_at: datetime | None


def record_attempt(user_id: int, exercise_id: str, score: float, passed: bool, at: datetime) -> None:
    """Fold one graded attempt into the user's progress (inside the caller's transaction)."""
    row = db.session.scalar(sa.select(Progress).where(Progress.user_id == user_id,
                                                      Progress.exercise_id == exercise_id))
    if row is None:
        # Why a savepoint: two workers grading the same user's first attempts may both insert.
        try:
            with db.session.begin_nested():
                row = Progress(user_id=user_id, exercise_id=exercise_id, best_score=0.0, attempts=0,
                               solved=False)
                db.session.add(row)
        except sa.exc.IntegrityError:
            row = db.session.scalar(sa.select(Progress).where(Progress.user_id == user_id,
                                                              Progress.exercise_id == exercise_id))
            assert row is not None
    row.attempts = (row.attempts or 0) + 1
    row.best_score = max(row.best_score or 0.0, score)
    row.last_attempt_at = at
    if passed and not row.solved:
        row.solved = True
        row.first_solved_at = at


def list_progress(user_id: int, exercise_id: str | None = None) -> list[ProgressView]:
    query = sa.select(Progress).where(Progress.user_id == user_id).order_by(Progress.exercise_id)
    if exercise_id is not None:
        query = query.where(Progress.exercise_id == exercise_id)
    return [ProgressView(p.exercise_id, p.best_score, p.attempts, p.solved, p.first_solved_at, p.last_attempt_at)
            for p in db.session.scalars(query)]

"""Per-user, per-exercise progress: best score, attempts, solved and when."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from service.persistence import Progress, db
from service.persistence.models import UTCDateTime


@dataclass(frozen=True)
class ProgressView:
    exercise_id: str
    best_score: float
    attempts: int
    solved: bool
    solved_at: datetime | None
    last_attempt_at: datetime | None


def _upsert(dialect: str) -> Any:
    """The attempt's upsert for this database, built once (building it cost more than running it)."""
    if dialect not in _UPSERTS:
        insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Progress)
        new = insert.excluded
        _UPSERTS[dialect] = insert.values(
            user_id=sa.bindparam("uid"), exercise_id=sa.bindparam("eid"), best_score=sa.bindparam("score"),
            attempts=1, solved=sa.bindparam("passed"), first_solved_at=sa.bindparam("solved_at", type_=UTCDateTime()),
            last_attempt_at=sa.bindparam("at", type_=UTCDateTime()),
        ).on_conflict_do_update(index_elements=[Progress.user_id, Progress.exercise_id], set_={
            "attempts": Progress.attempts + 1,
            "best_score": sa.case((new.best_score > Progress.best_score, new.best_score), else_=Progress.best_score),
            "last_attempt_at": new.last_attempt_at,
            "solved": Progress.solved | new.solved,
            "first_solved_at": sa.case((Progress.solved, Progress.first_solved_at), else_=new.first_solved_at),
        })
    return _UPSERTS[dialect]


_UPSERTS: dict[str, Any] = {}


def record_attempt(user_id: int, exercise_id: str, score: float, passed: bool, at: datetime) -> None:
    """Fold one graded attempt into the user's progress (inside the caller's transaction): one upsert, so
    two graders storing the same learner's first attempts at once both count (no read, no savepoint)."""
    db.session.execute(_upsert(db.engine.dialect.name), {
        "uid": user_id, "eid": exercise_id, "score": score, "passed": passed,
        "solved_at": at if passed else None, "at": at})


def list_progress(user_id: int, exercise_id: str | None = None) -> list[ProgressView]:
    query = sa.select(Progress).where(Progress.user_id == user_id).order_by(Progress.exercise_id)
    if exercise_id is not None:
        query = query.where(Progress.exercise_id == exercise_id)
    return [ProgressView(p.exercise_id, p.best_score, p.attempts, p.solved, p.first_solved_at, p.last_attempt_at)
            for p in db.session.scalars(query)]

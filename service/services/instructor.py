"""Instructor views of a class as plain data: overview grid, per-exercise stats, submissions, grade CSV."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from service.persistence import Course, Progress, SubmissionRow, User, db


@dataclass(frozen=True)
class Cell:
    best: float
    attempts: int
    solved: bool


@dataclass(frozen=True)
class LearnerRow:
    user_id: int
    name: str
    display_name: str
    cells: dict[str, Cell] = field(default_factory=dict)

    @property
    def solved(self) -> int:
        return sum(1 for c in self.cells.values() if c.solved)

    @property
    def total(self) -> float:
        return sum(c.best for c in self.cells.values())


@dataclass(frozen=True)
class Overview:
    exercise_ids: tuple[str, ...]
    learners: tuple[LearnerRow, ...]

    def solve_rate(self, exercise_id: str) -> float:
        """Of the learners who tried the exercise, the share who solved it (as ``ExerciseStats.solve_rate``)."""
        tried = [c for row in self.learners if (c := row.cells.get(exercise_id)) is not None and c.attempts > 0]
        return sum(1 for c in tried if c.solved) / len(tried) if tried else 0.0


@dataclass(frozen=True)
class ExerciseStats:
    exercise_id: str
    attempts: int
    learners_tried: int
    learners_solved: int
    common_diagnoses: tuple[tuple[str, int], ...]  # (code, attempts showing it), most frequent first
    examples: dict[str, dict[str, str]] = field(default_factory=dict)  # code -> one message {en, ja}

    @property
    def solve_rate(self) -> float:
        return self.learners_solved / self.learners_tried if self.learners_tried else 0.0


@dataclass(frozen=True)
class SubmissionInfo:
    id: int
    user_id: int
    user_name: str
    exercise_id: str
    status: str
    score: float | None
    passed: bool | None
    diagnosis: str | None
    created_at: datetime
    code: str | None
    answer: Any
    result: dict[str, Any] | None
    staff_detail: list[dict[str, Any]] | None = None  # hidden cases, as the trusted side saw them
    framework: str | None = None  # the framework it was graded in (torch | numpy)


def class_overview(exercise_ids: Sequence[str], *, name: str | None = None,
                   user_ids: Sequence[int] | None = None) -> Overview:
    """Every learner (role ``learner``) against the given exercises, in the given order.

    ``name`` keeps learners whose user name or display name contains it; ``user_ids`` (a course's members,
    say) keeps only those learners.
    """
    wanted = set(exercise_ids)
    query = sa.select(User).where(User.role == "learner").order_by(User.name)
    if name:
        pattern = "%" + name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(sa.or_(User.name.ilike(pattern, escape="\\"),
                                   User.display_name.ilike(pattern, escape="\\")))
    if user_ids is not None:
        query = query.where(User.id.in_(list(user_ids)))
    users = db.session.scalars(query).all()
    progress: Sequence[Progress] = (
        db.session.scalars(sa.select(Progress).where(Progress.exercise_id.in_(wanted))).all() if wanted else [])
    by_user: dict[int, dict[str, Cell]] = {}
    for p in progress:
        by_user.setdefault(p.user_id, {})[p.exercise_id] = Cell(p.best_score or 0.0, p.attempts or 0, p.solved)
    rows = tuple(LearnerRow(u.id, u.name, u.display_name or u.name, by_user.get(u.id, {})) for u in users)
    return Overview(tuple(exercise_ids), rows)


def courses() -> list[tuple[int, str]]:
    """Every course (from LTI launches) as (id, title), for the class matrix's course filter."""
    rows = db.session.execute(sa.select(Course.id, Course.title, Course.label).order_by(Course.title, Course.id))
    return [(cid, title or label or f"#{cid}") for cid, title, label in rows]


def exercise_stats(exercise_id: str, top: int = 5, scan: int = 5000) -> ExerciseStats:
    """Attempts, how many learners tried and solved, and what the class most often gets wrong."""
    learners = sa.select(User.id).where(User.role == "learner")
    attempts = db.session.scalar(sa.select(sa.func.count(SubmissionRow.id)).where(
        SubmissionRow.exercise_id == exercise_id, SubmissionRow.user_id.in_(learners))) or 0
    tried, solved = db.session.execute(sa.select(
        sa.func.count(Progress.id), sa.func.coalesce(sa.func.sum(sa.case((Progress.solved, 1), else_=0)), 0),
    ).where(Progress.exercise_id == exercise_id, Progress.user_id.in_(learners), Progress.attempts > 0)).one()
    # Every diagnosis code of each attempt counts once: the primary code alone hides the specific findings
    # (a forbidden `reshape` is reported before "reshape instead of permute", which is the real lesson).
    rows = db.session.execute(
        sa.select(SubmissionRow.diagnosis, SubmissionRow.result)
        .where(SubmissionRow.exercise_id == exercise_id, SubmissionRow.user_id.in_(learners),
               sa.or_(SubmissionRow.passed.is_(False), SubmissionRow.passed.is_(None)))
        .order_by(SubmissionRow.id.desc()).limit(scan)
    ).all()
    counts: Counter[str] = Counter()
    examples: dict[str, dict[str, str]] = {}
    for primary, result in rows:
        found = {d.get("code"): d for d in (result or {}).get("diagnoses", []) if isinstance(d, dict)}
        if not found and primary:
            found = {primary: {}}
        for code, diag in found.items():
            if code:
                counts[code] += 1
                examples.setdefault(code, diag.get("messages") or {"en": diag.get("message", "")})
    common = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:top]
    return ExerciseStats(exercise_id, int(attempts), int(tried), int(solved),
                         tuple((str(code), int(n)) for code, n in common),
                         {code: examples[code] for code, _ in common})


def _info(row: SubmissionRow, user_name: str) -> SubmissionInfo:
    return SubmissionInfo(row.id, row.user_id, user_name, row.exercise_id, row.status, row.score, row.passed,
                          row.diagnosis, row.created_at, row.code, row.answer, row.result, row.staff_detail,
                          row.framework)


def _with_user_name() -> sa.Select[SubmissionRow, str]:
    return sa.select(SubmissionRow, User.name).join(User, User.id == SubmissionRow.user_id)


def submissions(user_id: int, exercise_id: str | None = None, limit: int = 200) -> list[SubmissionInfo]:
    """A user's submissions, newest first (the caller decides who may see them)."""
    query = (_with_user_name().where(SubmissionRow.user_id == user_id)
             .order_by(SubmissionRow.created_at.desc(), SubmissionRow.id.desc()).limit(limit))
    if exercise_id is not None:
        query = query.where(SubmissionRow.exercise_id == exercise_id)
    return [_info(row, name) for row, name in db.session.execute(query)]


def submission(submission_id: int) -> SubmissionInfo | None:
    found = db.session.execute(_with_user_name().where(SubmissionRow.id == submission_id)).first()
    return _info(*found) if found else None


def grades_csv(overview: Overview) -> str:
    """One row per learner: name, solved count, total, then best score (0–1) per exercise."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["learner", "display_name", "solved", "total_score", *overview.exercise_ids])
    for row in overview.learners:
        cells = [f"{row.cells[e].best:.2f}" if e in row.cells else "" for e in overview.exercise_ids]
        writer.writerow([_safe(row.name), _safe(row.display_name), row.solved, f"{row.total:.2f}", *cells])
    return out.getvalue()


def _safe(text: str) -> str:
    # Why: a spreadsheet executes cells starting with = + - @ (CSV injection); a leading quote defuses it.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text

"""Predict, then run: the question asked before the editor unlocks, its check, and the class's accuracy."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from service.domain import Exercise
from service.errors import Invalid
from service.persistence import Prediction, User, db
from service.services import exercises as exercises_service

TENSOR_KINDS = ("tensor", "ndarray")


@dataclass(frozen=True)
class Target:
    """What the learner predicts on the first visible case; ``marked``/``position`` are None for shape only."""

    case: str
    arg: str
    input: dict[str, Any]
    shape: tuple[int, ...]
    marked: list[int] | None  # index of the marked value in the input
    value: Any
    position: tuple[int, ...] | None  # where that value lands in the expected output
    expected: dict[str, Any]

    def public(self) -> dict[str, Any]:
        """What the page may know before the learner answers: never the expected shape or position."""
        return {"case": self.case, "arg": self.arg, "input": self.input, "marked": self.marked,
                "value": self.value}


def _cells(values: Any, shape: Sequence[int]) -> list[tuple[tuple[int, ...], Any]]:
    out: list[tuple[tuple[int, ...], Any]] = []

    def walk(v: Any, idx: tuple[int, ...]) -> None:
        if len(idx) == len(shape):
            out.append((idx, v))
            return
        for i, item in enumerate(v):
            walk(item, idx + (i,))

    walk(values, ())
    return out


def _key(v: Any) -> str:
    return json.dumps(v, sort_keys=True)


def target(exercise: Exercise) -> Target | None:
    """The first visible case's prediction question, or None when the output is not a drawable tensor."""
    if exercise.kind != "code" or not exercise.visible_cases:
        return None
    first = exercise.visible_cases[0].name
    case = exercises_service.expected_outputs(exercise).get(first)
    if not case:
        return None
    expected, inputs = case.get("expected") or {}, case.get("inputs") or {}
    if expected.get("kind") not in TENSOR_KINDS or expected.get("values") is None or not expected.get("shape"):
        return None
    arg = next((k for k, v in inputs.items() if v and v.get("shape") and v.get("values") is not None), None)
    if arg is None:
        return None
    src = _cells(inputs[arg]["values"], inputs[arg]["shape"])
    out = _cells(expected["values"], expected["shape"])
    seen_in: dict[str, int] = {}
    for _, v in src:
        seen_in[_key(v)] = seen_in.get(_key(v), 0) + 1
    where_out: dict[str, list[tuple[int, ...]]] = {}
    for idx, v in out:
        where_out.setdefault(_key(v), []).append(idx)
    # A value that occurs once on each side has one honest answer; prefer one that moves (more to picture).
    candidates = [(idx, v, where_out[_key(v)][0]) for idx, v in src
                  if seen_in[_key(v)] == 1 and len(where_out.get(_key(v), [])) == 1]
    moved = [c for c in candidates if c[0] != c[2]]
    pick = (moved or candidates)[0] if candidates else None
    shape = tuple(int(n) for n in expected["shape"])
    if pick is None:
        return Target(first, arg, inputs[arg], shape, None, None, None, expected)
    return Target(first, arg, inputs[arg], shape, list(pick[0]), pick[1], tuple(pick[2]), expected)


@dataclass(frozen=True)
class Checked:
    correct: bool
    shape_correct: bool
    position_correct: bool | None
    shape: tuple[int, ...]
    position: tuple[int, ...] | None
    expected: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"correct": self.correct, "shape_correct": self.shape_correct,
                "position_correct": self.position_correct, "shape": list(self.shape),
                "position": list(self.position) if self.position is not None else None, "expected": self.expected}


def _ints(raw: Any, name: str, limit: int = 8) -> tuple[int, ...]:
    if not isinstance(raw, list) or not 0 < len(raw) <= limit \
            or not all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n < 10_000 for n in raw):
        raise Invalid(f"{name} must be a list of 1 to {limit} non-negative integers", code="bad_prediction")
    return tuple(raw)


def check(user_id: int, exercise: Exercise, shape: Any, position: Any) -> Checked:
    """Check a prediction against the reference output, record it, and return the answer with the picture."""
    found = target(exercise)
    if found is None:
        raise Invalid("this exercise has no prediction question", code="no_prediction")
    stated = _ints(shape, "shape")
    placed = _ints(position, "position") if found.position is not None and position is not None else None
    shape_ok = stated == found.shape
    pos_ok = None if found.position is None else placed == found.position
    correct = shape_ok and pos_ok is not False
    db.session.add(Prediction(user_id=user_id, exercise_id=exercise.id, shape=list(stated),
                              position=list(placed) if placed is not None else None,
                              shape_correct=shape_ok, position_correct=pos_ok, correct=correct))
    db.session.commit()
    return Checked(correct, shape_ok, pos_ok, found.shape, found.position, found.expected)


@dataclass(frozen=True)
class Accuracy:
    learners: int
    predictions: int
    first_correct: int  # learners whose first prediction was right

    @property
    def rate(self) -> float:
        return self.first_correct / self.learners if self.learners else 0.0


def accuracy(exercise_ids: Sequence[str]) -> dict[str, Accuracy]:
    """Per exercise: learners who predicted, predictions made, and learners right at the first try."""
    if not exercise_ids:
        return {}
    learners = sa.select(User.id).where(User.role == "learner")
    rows = db.session.execute(
        sa.select(Prediction.exercise_id, Prediction.user_id, Prediction.correct)
        .where(Prediction.exercise_id.in_(list(exercise_ids)), Prediction.user_id.in_(learners))
        .order_by(Prediction.id)).all()
    first: dict[tuple[str, int], bool] = {}
    counts: dict[str, int] = {}
    for ex_id, uid, ok in rows:
        first.setdefault((ex_id, uid), bool(ok))
        counts[ex_id] = counts.get(ex_id, 0) + 1
    out: dict[str, Accuracy] = {}
    for ex_id in exercise_ids:
        mine = [ok for (e, _), ok in first.items() if e == ex_id]
        out[ex_id] = Accuracy(len(mine), counts.get(ex_id, 0), sum(mine))
    return out


def first_predictions(user_id: int) -> dict[str, bool]:
    """Per exercise, whether this learner's first prediction was right (their progress page shows it)."""
    out: dict[str, bool] = {}
    for ex_id, ok in db.session.execute(sa.select(Prediction.exercise_id, Prediction.correct)
                                        .where(Prediction.user_id == user_id).order_by(Prediction.id)):
        out.setdefault(ex_id, bool(ok))
    return out


def has_predicted(user_id: int, exercise_id: str) -> bool:
    return db.session.scalar(sa.select(sa.func.count(Prediction.id)).where(
        Prediction.user_id == user_id, Prediction.exercise_id == exercise_id)) != 0

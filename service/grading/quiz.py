"""Quiz kinds (``shape`` and ``choice``): graded in the trusted process, never through the sandbox."""

from __future__ import annotations

import re
from typing import Any

from service.domain import Exercise
from service.grading import messages as m
from service.results import CaseResult, DiagnosisCode, GradeResult

_SIZE = re.compile(r"^\s*(?:torch\.Size\s*\(\s*)?[\[(]?\s*(.*?)\s*[\])]?\s*\)?\s*$", re.S)


def parse_shape(answer: Any) -> tuple[int, ...] | None:
    """Accept (3, 2), "3,2", "[3, 2]", "torch.Size([3, 2])", "3", "()" or a list; None if unparsable."""
    if isinstance(answer, list | tuple):
        if all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in answer):
            return tuple(answer)
        return None
    if isinstance(answer, int) and not isinstance(answer, bool):
        return (answer,) if answer >= 0 else None
    if not isinstance(answer, str) or len(answer) > 200:
        return None
    match = _SIZE.match(answer)
    if match is None:
        return None
    body = match.group(1).strip().rstrip(",").strip()
    if not body:
        return ()
    parts = [p.strip() for p in body.split(",")]
    if not all(re.fullmatch(r"\d+", p) for p in parts):
        return None
    return tuple(int(p) for p in parts)


def parse_choices(answer: Any) -> frozenset[int] | None:
    """An int, a digit string, or a list of them (order-insensitive); None if unparsable."""
    items = answer if isinstance(answer, list | tuple) else [answer]
    out: set[int] = set()
    for item in items:
        if isinstance(item, bool):
            return None
        if isinstance(item, int):
            out.add(item)
        elif isinstance(item, str) and re.fullmatch(r"\s*\d+\s*", item):
            out.add(int(item))
        else:
            return None
    return frozenset(out) if out else None


def grade_quiz(exercise: Exercise, answer: Any) -> GradeResult:
    subject = {"en": "Your answer", "ja": "あなたの答え"}
    if exercise.kind == "shape":
        parsed_shape = parse_shape(answer)
        expected_text = m.fmt_shape(tuple(exercise.answer))
        if parsed_shape is None:
            msg = m.line(subject, {"en": "not a shape I can read, write it like (3, 2)",
                                   "ja": "形状として読み取れません。(3, 2) のように書いてください"})
            return _result(exercise, False, msg, "wrong_answer", {"reason": "unparsable"})
        good = list(parsed_shape) == list(exercise.answer)
        shown = m.fmt_shape(parsed_shape)
    else:
        parsed = parse_choices(answer)
        expected = parse_choices(exercise.answer) or frozenset()
        expected_text = ", ".join(str(i) for i in sorted(expected))
        if parsed is None or any(i < 0 or (exercise.choices and i >= len(exercise.choices)) for i in parsed):
            msg = m.line(subject, {"en": "not a valid choice", "ja": "有効な選択肢ではありません"})
            return _result(exercise, False, msg, "wrong_answer", {"reason": "unparsable"})
        good = parsed == expected
        shown = ", ".join(str(i) for i in sorted(parsed))
    if good:
        return _result(exercise, True, {"en": f"Your answer: correct, {shown}", "ja": f"あなたの答え: 正解です（{shown}）"})
    msg = m.line(subject, {"en": "wrong answer", "ja": "不正解です"}, expected_text, shown)
    return _result(exercise, False, msg, "wrong_answer", {"expected": expected_text, "got": shown})


def _result(exercise: Exercise, passed: bool, msg: m.Msg, code: DiagnosisCode | None = None,
            details: dict[str, Any] | None = None) -> GradeResult:
    return GradeResult(
        status="graded",
        score=1.0 if passed else 0.0,
        passed=passed,
        cases=[CaseResult(name="answer", visible=True, passed=passed, checks=[m.check("answer", passed, msg)])],
        diagnoses=[m.diagnosis(exercise, code, msg, details)] if code else [],
        exercise_id=exercise.id,
        exercise_version=exercise.content_hash,
        kind=exercise.kind,
        explanation=exercise.explanation.to_dict() if exercise.explanation else None,
    )

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


SUBJECT = {"en": "Your answer", "ja": "あなたの答え"}


def grade_quiz(exercise: Exercise, answer: Any, attempt: int = 1, reveal: bool = False) -> GradeResult:
    """Grade a quiz answer. A wrong one gets feedback about *that* answer and may be retried; the right answer
    and the explanation come once the quiz is solved, or when the learner gives up (``reveal``)."""
    if reveal and answer is None:
        return _result(exercise, False, _with_answer(exercise, _msg(m.both("you gave up on this one", "降参しました"))),
                       attempt, reveal, "wrong_answer", {"reason": "gave_up"})
    if exercise.kind == "shape":
        verdict = _shape(exercise, answer)
    else:
        verdict = _choice(exercise, answer)
    good, msg, details = verdict
    if good:
        return _result(exercise, True, msg, attempt, reveal)
    if reveal:
        msg = _with_answer(exercise, msg)
        details["expected"] = _answer_text(exercise)["en"]
    return _result(exercise, False, msg, attempt, reveal, "wrong_answer", details)


def _shape(exercise: Exercise, answer: Any) -> tuple[bool, m.Msg, dict[str, Any]]:
    parsed = parse_shape(answer)
    if parsed is None:
        return False, _msg({"en": "not a shape I can read; write it like (3, 2)",
                            "ja": "形状として読み取れません。(3, 2) のように書いてください"}), {"reason": "unparsable"}
    shown = m.fmt_shape(parsed)
    want = tuple(exercise.answer)
    if parsed == want:
        return True, _msg(m.both(f"correct, {shown}", f"{shown} で正解です")), {}
    authored = next((text for shape, text in exercise.shape_feedback if shape == parsed), None)
    if authored is not None:
        problem = {"en": f"{shown} is not it. {authored.en}", "ja": f"{shown} ではありません。{authored.ja}"}
        reason = "authored"
    elif len(parsed) != len(want):
        problem = {"en": f"{shown} has a different number of axes than the result",
                   "ja": f"{shown} は、結果と軸の数が違います"}
        reason = "ndim"
    elif sorted(parsed) == sorted(want):
        problem = {"en": f"{shown} has the right sizes in the wrong order. Picture each axis carrying its size "
                         "to its new seat",
                   "ja": f"{shown} はサイズは合っていますが、並び順が違います。各軸がサイズを持ったまま新しい席に移る"
                         "様子を思い浮かべてみましょう"}
        reason = "order"
    else:
        problem = {"en": f"{shown} is not the shape of the result", "ja": f"{shown} は結果の形状ではありません"}
        reason = "sizes"
    return False, _msg(problem), {"reason": reason, "got": shown}


def _choice(exercise: Exercise, answer: Any) -> tuple[bool, m.Msg, dict[str, Any]]:
    parsed = parse_choices(answer)
    if parsed is None or any(i < 0 or (exercise.choices and i >= len(exercise.choices)) for i in parsed):
        return False, _msg({"en": "not a valid choice", "ja": "有効な選択肢ではありません"}), {"reason": "unparsable"}
    expected = parse_choices(exercise.answer) or frozenset()
    if parsed == expected:
        return True, _msg(m.both("correct", "正解です")), {}
    picked = sorted(parsed)
    wrong = [i for i in picked if i not in expected]
    notes = [exercise.choice_feedback[i] for i in wrong
             if i < len(exercise.choice_feedback) and exercise.choice_feedback[i] is not None]
    en, ja = [], []
    for i in wrong:
        text = exercise.choices[i] if i < len(exercise.choices) else None
        if text is not None:
            en.append(f"“{text.en}” is not right.")
            ja.append(f"「{text.ja}」は正しくありません。")
    en += [n.en for n in notes if n is not None]
    ja += [n.ja for n in notes if n is not None]
    if not wrong:  # every pick is right, but one is missing: say so without saying which
        en.append("Each of your choices is right, but another one is right too.")
        ja.append("選んだものはどれも正しいのですが、ほかにも正しい選択肢があります。")
    return False, {"en": f"{SUBJECT['en']}: {' '.join(en)}", "ja": f"{SUBJECT['ja']}: {''.join(ja)}"}, {
        "reason": "choice", "got": picked}


def _answer_text(exercise: Exercise) -> m.Msg:
    if exercise.kind == "shape":
        return m.both(m.fmt_shape(tuple(exercise.answer)), m.fmt_shape(tuple(exercise.answer)))
    indices = sorted(parse_choices(exercise.answer) or ())
    texts = [exercise.choices[i] for i in indices if i < len(exercise.choices)]
    return {"en": ", ".join(f"“{t.en}”" for t in texts), "ja": "、".join(f"「{t.ja}」" for t in texts)}


def _with_answer(exercise: Exercise, msg: m.Msg) -> m.Msg:
    answer = _answer_text(exercise)
    en = msg["en"] if msg["en"].endswith((".", "?", "!")) else msg["en"] + "."
    return {"en": f"{en} The answer is {answer['en']}.", "ja": f"{msg['ja']}正解は {answer['ja']} です。"}


def _msg(problem: m.Msg) -> m.Msg:
    return m.line(SUBJECT, problem)


def _result(exercise: Exercise, passed: bool, msg: m.Msg, attempt: int, reveal: bool,
            code: DiagnosisCode | None = None,
            details: dict[str, Any] | None = None) -> GradeResult:
    diagnoses = [m.diagnosis(exercise, code, msg, details)] if code else []
    for d in diagnoses:
        d.primary = True
    return GradeResult(
        status="graded",
        score=1.0 if passed else 0.0,
        passed=passed,
        cases=[CaseResult(name="answer", visible=True, passed=passed, checks=[m.check("answer", passed, msg)])],
        diagnoses=diagnoses,
        exercise_id=exercise.id,
        exercise_version=exercise.content_hash,
        exercise_variant=exercise.variant,
        kind=exercise.kind,
        # The explanation teaches the answer: it waits until the quiz is solved or the learner gives up.
        explanation=exercise.explanation.to_dict() if exercise.explanation and (passed or reveal) else None,
        feedback={"attempt": max(1, int(attempt or 1)), "stage": 3 if (passed or reveal) else 1,
                  "revealed": bool(reveal), "primary": code, "next_stage_at": None,
                  "can_reveal": not passed and not reveal},
    )

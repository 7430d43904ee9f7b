"""Staged feedback: one primary diagnosis leads, and what a result reveals grows with the learner's attempts.

Stage 1 (first attempt): the kind of mistake and one traced value. Stage 2: which seats (axes) are wrong, and
the exercise's hints. Stage 3 (third attempt, or a "show me" request): the call that gives the answer.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from service.domain import Exercise
from service.grading.findings import ANSWER_DETAILS, FINDING_CODES, finding_message
from service.grading.messages import fmt_perm
from service.results import Diagnosis, GradeResult

FULL = 3  # the stage that shows everything
NOTE_CODES = ("gpu_skipped",)  # infrastructure notes: never the primary diagnosis
_SPACE = re.compile(r"\s+")


def stage_of(attempt: int, reveal: bool) -> int:
    return FULL if reveal else max(1, min(int(attempt or 1), FULL))


def _norm(text: str) -> str:
    return _SPACE.sub("", text).replace('"', "'")


def _call_name(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return node.func.id if isinstance(node.func, ast.Name) else None


def _constant(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.UnaryOp):
        return _constant(node.operand)
    return isinstance(node, ast.Tuple | ast.List) and all(_constant(e) for e in node.elts)


def answer_tokens(exercise: Exercise) -> set[str]:
    """What would hand the answer over, whitespace-free: the solution's calls with literal arguments
    (`permute(0,2,3,1)`), its einsum/einops patterns ('bhtd->bthd') and memory-format keywords."""
    tokens: set[str] = set()
    try:
        tree = ast.parse(exercise.solution)
    except SyntaxError:
        return tokens
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = _call_name(node)
            if name and node.args and all(_constant(a) for a in node.args):
                tokens.add(_norm(f"{name}({', '.join(ast.unparse(a) for a in node.args)})"))
            for kw in node.keywords:
                if kw.arg == "memory_format":
                    tokens.add(_norm(f"memory_format={ast.unparse(kw.value)}"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "->" in node.value:
            tokens.add(_norm(node.value))
    return tokens


def reveals(text: str, tokens: set[str]) -> bool:
    flat = _norm(text)
    return any(t in flat for t in tokens)


def _finding_tokens(diagnoses: list[Diagnosis]) -> set[str]:
    """The expected permutation of any finding, as it would be written (`permute(0,2,3,1)`)."""
    out: set[str] = set()
    for d in diagnoses:
        perm = d.details.get("expected") if d.code in FINDING_CODES else None
        if isinstance(perm, list) and perm and all(isinstance(i, int) for i in perm):
            out.add(_norm(f"permute{fmt_perm(perm)}"))
    return out


def _hint(d: Diagnosis, exercise: Exercise, stage: int, tokens: set[str]) -> dict[str, str] | None:
    ladder = exercise.hint_ladders.get(d.code)
    if ladder:
        # An author's ladder: rung n on try n (the last rung stays), each still held back if it gives the answer.
        for step in reversed(ladder[:stage]):
            if stage >= FULL or not any(reveals(v, tokens) for v in step.to_dict().values()):
                return step.to_dict()
        return None
    text = exercise.hints.get(d.code)
    if text is None:
        return None
    hint = text.to_dict()
    if stage < FULL and any(reveals(v, tokens) for v in hint.values()):
        return None  # this hint gives the answer away: it waits for the last rung (or "show me")
    if stage < 2 and d.code in FINDING_CODES:
        return None  # first the learner's own look at the traced value, then the author's hint
    return hint


def stage_code(exercise: Exercise, result: GradeResult, attempt: int, reveal: bool) -> GradeResult:
    """Order, fold and stage a code result in place (returned for chaining)."""
    stage = stage_of(attempt, reveal)
    tokens = answer_tokens(exercise) | _finding_tokens(result.diagnoses)
    main = [d for d in result.diagnoses if d.code not in NOTE_CODES]
    notes = [d for d in result.diagnoses if d.code in NOTE_CODES]
    for d in main:
        if d.code in FINDING_CODES:
            d.messages = finding_message(d.code, d.details, stage)
            d.message = d.messages["en"]
            if stage < FULL:
                d.details = {k: v for k, v in d.details.items() if k not in ANSWER_DETAILS}
        d.hint = _hint(d, exercise, stage, tokens)
        d.primary = False
    if main:
        main[0].primary = True
    result.diagnoses = main + notes
    result.feedback = _feedback(result, attempt, stage, reveal)
    return result


def _feedback(result: GradeResult, attempt: int, stage: int, reveal: bool) -> dict[str, Any]:
    primary = next((d.code for d in result.diagnoses if d.primary), None)
    return {
        "attempt": max(1, int(attempt or 1)),
        "stage": stage,
        "revealed": bool(reveal),
        "primary": primary,
        # A passed result has nothing left to reveal; otherwise say when the next rung comes.
        "next_stage_at": None if result.passed or stage >= FULL else max(1, int(attempt or 1)) + 1,
        "can_reveal": not result.passed and stage < FULL,
    }

"""The diagnosis codes are a closed vocabulary: every code the grader emits or ranks is declared once."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from service.grading import engine
from service.results import DIAGNOSIS_CODES, Diagnosis, fallback

SERVICE = Path(__file__).resolve().parents[2] / "service"
# Where a diagnosis code is written as a literal: callee name -> the position of its code argument.
CODE_ARGUMENT = {"diagnosis": 1, "Finding": 0, "diagnose": 0, "add": 3, "_result": 3, "_layout": 7,
                 "finding_message": 0}


def _callee(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _strings(node: ast.AST) -> set[str]:
    return {n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def emitted_codes() -> dict[str, set[str]]:
    """Every literal the grading code passes where a diagnosis code goes, with the files it is in."""
    found: dict[str, set[str]] = {}
    for path in [*(SERVICE / "grading").glob("*.py"), SERVICE / "results.py", SERVICE / "services" / "queue.py"]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            literals: set[str] = set()
            if isinstance(node, ast.Call):
                position = CODE_ARGUMENT.get(_callee(node))
                if position is not None and len(node.args) > position:
                    literals |= _strings(node.args[position])
                literals |= {s for kw in node.keywords if kw.arg == "code" for s in _strings(kw.value)}
            elif isinstance(node, ast.AnnAssign) and "DiagnosisCode" in ast.unparse(node.annotation) and node.value:
                literals |= _strings(node.value)
            for code in literals:
                found.setdefault(code, set()).add(path.name)
    return found


def test_every_emitted_code_is_in_the_vocabulary() -> None:
    found = emitted_codes()
    assert len(found) >= 20  # the scan sees the real call sites (a broken scan would find nothing)
    unknown = {code: files for code, files in found.items() if code not in DIAGNOSIS_CODES}
    assert not unknown, f"codes emitted but not declared in results.DiagnosisCode: {unknown}"


def test_the_ranking_covers_the_vocabulary_exactly() -> None:
    ranked = set(engine._SPECIFICITY)
    assert ranked == set(DIAGNOSIS_CODES), (
        f"unranked: {sorted(set(DIAGNOSIS_CODES) - ranked)}, not codes: {sorted(ranked - set(DIAGNOSIS_CODES))}")
    assert len(DIAGNOSIS_CODES) == len(set(DIAGNOSIS_CODES))


def test_an_undeclared_code_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown diagnosis code"):
        Diagnosis(code="made_up", message="x")  # type: ignore[arg-type]


def test_the_fallback_is_always_an_error_in_both_languages() -> None:
    result = fallback("ex", "v1", {"en": "the grader failed", "ja": "採点器が失敗しました"}, reason="test")
    assert result.status == "error" and result.score == 0.0 and result.passed is False
    (only,) = result.diagnoses
    assert only.code == "grader_error" and only.details == {"reason": "test"}
    assert only.messages == {"en": "the grader failed", "ja": "採点器が失敗しました"}
    with pytest.raises(ValueError, match="English and Japanese"):
        fallback("ex", "v1", {"en": "english only", "ja": ""})

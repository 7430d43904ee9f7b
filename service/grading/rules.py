"""Forbidden / required names, checked on the syntax tree: a learning aid, not a security measure."""

from __future__ import annotations

import ast

from service.domain import Exercise
from service.grading import messages as m
from service.grading.rules_authoring import AUTHORING_RULE_CODES, check_authoring_rules
from service.results import Diagnosis, DiagnosisCode


def _name_uses(tree: ast.AST) -> list[tuple[str, int]]:
    """(name, line) for every Name id, Attribute attr and imported name (``from a.b import c as d`` counts
    a, b, a.b, c and d). One walk serves both the rule check and the line numbers it reports."""
    uses: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Name):
            uses.append((node.id, line))
        elif isinstance(node, ast.Attribute):
            uses.append((node.attr, line))
        elif isinstance(node, ast.Import | ast.ImportFrom):
            if isinstance(node, ast.ImportFrom) and node.module:
                uses.extend((part, line) for part in node.module.split("."))
            for alias in node.names:
                uses.extend((part, line) for part in alias.name.split("."))
                uses.append((alias.name, line))
                if alias.asname:
                    uses.append((alias.asname, line))
    return uses


def used_names(tree: ast.AST) -> set[str]:
    """Every name the code uses (see ``_name_uses``)."""
    return {name for name, _ in _name_uses(tree)}


def _lines(tree: ast.AST, name: str) -> list[int]:
    return sorted({line for used, line in _name_uses(tree) if used == name and line})


# Rule violations keep the score but fail "passed".
RULE_CODES: tuple[DiagnosisCode, ...] = ("forbidden_name", "missing_required_name", *AUTHORING_RULE_CODES)


def has_authoring_rules(exercise: Exercise) -> bool:
    r = exercise.rules
    return r.allow is not None or r.max_lines is not None or r.single_expression


def check_rules(exercise: Exercise, code: str) -> list[Diagnosis]:
    """Diagnoses for rule violations; a syntax error yields none here (the sandbox reports it with context)."""
    rules = exercise.rules
    if not (rules.forbid or rules.require or has_authoring_rules(exercise)):
        return []
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return []
    names = used_names(tree)
    out: list[Diagnosis] = check_authoring_rules(exercise, tree, code)
    for name in rules.forbid:
        if name in names:
            lines = _lines(tree, name)
            at = f" (line {', '.join(map(str, lines))})" if lines else ""
            at_ja = f"（{', '.join(map(str, lines))} 行目）" if lines else ""
            msg = {"en": f"Your code: uses `{name}`{at}, which this exercise forbids; solve it without `{name}`",
                   "ja": f"コード: この問題では使えない `{name}` が使われています{at_ja}。`{name}` を使わずに解いてください"}
            out.append(m.diagnosis(exercise, "forbidden_name", msg, {"name": name, "lines": lines}))
    for name in rules.require:
        if name not in names:
            msg = {"en": f"Your code: does not use `{name}`, which this exercise requires; solve it with `{name}`",
                   "ja": f"コード: `{name}` が使われていません。この問題では `{name}` を使って解いてください"}
            out.append(m.diagnosis(exercise, "missing_required_name", msg, {"name": name}))
    return out

"""Forbidden / required names, checked on the syntax tree: a learning aid, not a security measure."""

from __future__ import annotations

import ast

from service.domain import Exercise
from service.grading import messages as m
from service.results import Diagnosis


def used_names(tree: ast.AST) -> set[str]:
    """Every Name id, Attribute attr and imported name (``import a.b as c`` counts a, a.b, b and c)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            if isinstance(node, ast.ImportFrom) and node.module:
                names.update(node.module.split("."))
            for alias in node.names:
                names.update(alias.name.split("."))
                names.add(alias.name)
                if alias.asname:
                    names.add(alias.asname)
    return names


def _lines(tree: ast.AST, name: str) -> list[int]:
    found = set()
    for node in ast.walk(tree):
        hit = (isinstance(node, ast.Name) and node.id == name) or (
            isinstance(node, ast.Attribute) and node.attr == name) or (
            isinstance(node, ast.Import | ast.ImportFrom) and any(
                name in a.name.split(".") or name in (a.name, a.asname) for a in node.names))
        if hit and hasattr(node, "lineno"):
            found.add(node.lineno)
    return sorted(found)


def check_rules(exercise: Exercise, code: str) -> list[Diagnosis]:
    """Diagnoses for rule violations; a syntax error yields none here (the sandbox reports it with context)."""
    rules = exercise.rules
    if not rules.forbid and not rules.require:
        return []
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return []
    names = used_names(tree)
    out: list[Diagnosis] = []
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

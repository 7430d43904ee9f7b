"""Allow-list and size rules (``rules.allow``, ``max_lines``, ``single_expression``), on the syntax tree.

Like forbid/require these are a learning aid (Tensor-Puzzles' "only arange, where, broadcasting and indexing;
one line"), checked on the learner's own code only: the exercise's ``helpers`` are exempt, and the names they
define may always be used.
"""

from __future__ import annotations

import ast
import builtins

from service.domain import Exercise
from service.grading import messages as m
from service.results import Diagnosis, DiagnosisCode

# Modules a learner may always import: the frameworks themselves are namespaces, not operations.
FRAMEWORK_MODULES = frozenset({"torch", "numpy", "einops"})
LOOPS: dict[type, str] = {ast.For: "for", ast.AsyncFor: "for", ast.While: "while", ast.ListComp: "comprehension",
                          ast.SetComp: "comprehension", ast.DictComp: "comprehension",
                          ast.GeneratorExp: "comprehension", ast.Lambda: "lambda"}
AUTHORING_RULE_CODES: tuple[DiagnosisCode, ...] = ("not_allowed_name", "too_many_lines", "not_single_expression")


def defined_names(tree: ast.AST) -> set[str]:
    """Names the code binds itself: functions, parameters, assignment and loop targets, import aliases."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            out.add(node.name)
        elif isinstance(node, ast.arg):
            out.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            out.add(node.id)
        elif isinstance(node, ast.alias):
            out.add((node.asname or node.name).split(".")[0])
    return out


def not_allowed(tree: ast.AST, allow: set[str], helper_names: set[str]) -> dict[str, list[int]]:
    """Every name, attribute, import or loop outside the allow-list, with its lines."""
    bound = defined_names(tree) | helper_names
    found: dict[str, list[tuple[int, int]]] = {}

    def add(name: str, node: ast.AST) -> None:
        if name not in allow:
            found.setdefault(name, []).append((getattr(node, "lineno", 0), getattr(node, "end_col_offset", 0) or 0))

    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in bound:
            add(node.id, node)
        elif isinstance(node, ast.Attribute):
            add(node.attr, node)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] not in FRAMEWORK_MODULES:
                    add(alias.name, node)
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                add(alias.name, node)
        elif type(node) in LOOPS:
            add(LOOPS[type(node)], node)
    # In reading order: a name's first use (line, then the column where its node ends: `a.b.c` reads b first).
    ordered = sorted(found.items(), key=lambda kv: min(kv[1]))
    return {name: sorted({line for line, _ in spots}) for name, spots in ordered}


def code_lines(tree: ast.Module, source: str) -> list[int]:
    """Lines holding code in function bodies and module-level statements (no docstrings, imports,
    ``def`` headers, comments or blank lines): what ``max_lines`` counts."""
    spans: set[int] = set()

    def body(stmts: list[ast.stmt]) -> None:
        for i, stmt in enumerate(stmts):
            if i == 0 and isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) \
                    and isinstance(stmt.value.value, str):
                continue  # a docstring
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                body(stmt.body)
            elif not isinstance(stmt, ast.Import | ast.ImportFrom):
                spans.update(range(stmt.lineno, (stmt.end_lineno or stmt.lineno) + 1))

    body(tree.body)
    lines = source.splitlines()
    return sorted(n for n in spans if 0 < n <= len(lines) and lines[n - 1].strip()
                  and not lines[n - 1].strip().startswith("#"))


def is_single_expression(tree: ast.Module, entry: str) -> bool:
    """Only imports and the entry at top level, and the entry's body is one ``return <expression>``."""
    func = None
    for stmt in tree.body:
        if isinstance(stmt, ast.FunctionDef) and stmt.name == entry and func is None:
            func = stmt
        elif not isinstance(stmt, ast.Import | ast.ImportFrom):
            return False
    if func is None:
        return True  # missing_function says it better
    stmts = func.body
    if stmts and isinstance(stmts[0], ast.Expr) and isinstance(stmts[0].value, ast.Constant):
        stmts = stmts[1:]
    return len(stmts) == 1 and isinstance(stmts[0], ast.Return) and stmts[0].value is not None


def _helper_names(exercise: Exercise) -> set[str]:
    try:
        return defined_names(ast.parse(exercise.helpers)) if exercise.helpers else set()
    except SyntaxError:
        return set()


def check_authoring_rules(exercise: Exercise, tree: ast.Module, code: str) -> list[Diagnosis]:
    """Diagnoses for ``rules.allow``, ``rules.max_lines`` and ``rules.single_expression``."""
    rules = exercise.rules
    out: list[Diagnosis] = []
    if rules.allow is not None:
        allow = set(rules.allow)
        bad = not_allowed(tree, allow, _helper_names(exercise))
        for name, lines in bad.items():
            at = f" (line {', '.join(map(str, lines))})" if any(lines) else ""
            at_ja = f"（{', '.join(map(str, lines))} 行目）" if any(lines) else ""
            shown = ", ".join(f"`{n}`" for n in rules.allow)
            kind = "builtin " if hasattr(builtins, name) else ""
            msg = {"en": f"Your code: uses {kind}`{name}`{at}; this exercise allows only {shown}, "
                         "indexing, arithmetic and comparison",
                   "ja": f"コード: `{name}` が使われています{at_ja}。この問題で使えるのは {shown} と"
                         "インデックス、算術演算、比較だけです"}
            out.append(m.diagnosis(exercise, "not_allowed_name", msg,
                                   {"name": name, "lines": lines, "allowed": list(rules.allow)}))
    if rules.max_lines is not None:
        counted = code_lines(tree, code)
        if len(counted) > rules.max_lines:
            msg = m.line({"en": "Your code", "ja": "コード"},
                         {"en": "too long for this exercise", "ja": "この問題には長すぎます"},
                         m.both(f"at most {rules.max_lines} line(s)", f"{rules.max_lines} 行以内"),
                         m.both(f"{len(counted)} lines", f"{len(counted)} 行"))
            out.append(m.diagnosis(exercise, "too_many_lines", msg,
                                   {"max_lines": rules.max_lines, "lines": len(counted)}))
    if rules.single_expression and not is_single_expression(tree, exercise.entry):
        msg = m.line({"en": "Your code", "ja": "コード"},
                     {"en": f"`{exercise.entry}` must be a single `return <expression>` (no statements before it, "
                            "no other functions)",
                      "ja": f"`{exercise.entry}` は 1 つの `return <式>` だけで書いてください（前に文を置かず、"
                            "ほかの関数も定義しません）"})
        out.append(m.diagnosis(exercise, "not_single_expression", msg, {}))
    return out

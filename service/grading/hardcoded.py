"""The "works on the example, fails on hidden cases" explanation: sizes the code writes as numbers.

Judged only from what the learner may know: their own code, the visible inputs, and which cases passed. The
hidden inputs, outputs and messages are never read, so the message cannot reveal a hidden shape.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Sequence

from service.domain import Exercise
from service.grading import messages as m
from service.results import CaseResult, Diagnosis
from service.sandbox.protocol import CaseIn

# Calls whose integer arguments are sizes (a literal there is a size the code assumes).
SIZE_CALLS = frozenset({
    "reshape", "view", "expand", "repeat", "unflatten", "split", "chunk", "narrow", "tile", "broadcast_to",
    "zeros", "ones", "empty", "full", "arange", "new_zeros", "new_ones", "new_empty", "new_full", "rearrange",
    "unfold", "resize", "array_split",
})


def _called(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return node.func.id if isinstance(node.func, ast.Name) else None


def _literal_sizes(code: str) -> list[tuple[int, int, str]]:
    """(size, line, call) for every integer literal >= 2 passed to a size-taking call."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return []
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or _called(node) not in SIZE_CALLS:
            continue
        for arg in [*node.args, *(k.value for k in node.keywords)]:
            for leaf in ast.walk(arg):
                if isinstance(leaf, ast.Constant) and type(leaf.value) is int and leaf.value >= 2:
                    out.append((leaf.value, leaf.lineno, str(_called(node))))
    return out


def _visible_sizes(cases: Sequence[CaseIn], visible: set[str]) -> set[int]:
    """Every axis size of the visible inputs, products of their axes, and visible integer arguments."""
    sizes: set[int] = set()
    for case in cases:
        if case.name not in visible:
            continue
        for arg in case.args:
            if arg.array is not None:
                shape = arg.array.shape
                for k in range(1, len(shape) + 1):
                    for combo in itertools.combinations(shape, k):
                        sizes.add(int(_prod(combo)))
            elif type(arg.value) is int:
                sizes.add(arg.value)
    return sizes


def _prod(values: Sequence[int]) -> int:
    out = 1
    for v in values:
        out *= int(v)
    return out


def hardcoded_shape(exercise: Exercise, code: str, results: Sequence[CaseResult], cases: Sequence[CaseIn]
                    ) -> Diagnosis | None:
    """A diagnosis when every visible case passed, a hidden one failed, and the code writes a visible size
    as a number that the reference solution does not (so it cannot be a constant of the exercise)."""
    shown = [r for r in results if r.visible]
    failed = [r for r in results if not r.visible and not r.passed]
    if not shown or not all(r.passed for r in shown) or not failed:
        return None
    allowed = {size for size, _, _ in _literal_sizes(exercise.solution)}
    sizes = _visible_sizes(cases, {c.name for c in exercise.cases if c.visible})
    written = [(size, line, call) for size, line, call in _literal_sizes(code) if size in sizes and size not in allowed]
    if not written:
        return None
    size, line, call = written[0]
    which = ", ".join(r.name for r in failed[:3])
    msg = {"en": f"Your code: passes the visible example but fails {which}. Line {line} writes the size {size} as a "
                 f"number (in `{call}`): the hidden cases use other sizes. Read the sizes from `x.shape` (or from "
                 "the arguments) instead.",
           "ja": f"コード: 公開ケースは通りますが、{which.replace('hidden case', '非公開ケース')} で失敗しています。"
                 f"{line} 行目の `{call}` でサイズ {size} を数値で書いています。非公開ケースでは別のサイズを使うので、"
                 "サイズは `x.shape`(または引数)から読み取りましょう。"}
    return m.diagnosis(exercise, "hardcoded_shape", msg, {
        "sizes": sorted({s for s, _, _ in written}), "lines": sorted({ln for _, ln, _ in written}),
        "cases": [r.name for r in failed]})

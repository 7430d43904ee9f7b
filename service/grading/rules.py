"""Forbidden / required operations, checked on the syntax tree: a learning aid, not a security measure.

``forbid`` covers every spelling of an operation (``T`` also forbids ``mT``, ``adjoint``...; a name written as
a string for ``getattr`` counts). ``require`` counts only a call or attribute use, not a variable named alike,
and only when the operation does the work: an identity use (``einsum('ij->ij', x)``, ``permute(0, 1)``) does
not count, and neither does an axis move whose real work another axis move does on its input or result.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

from service.domain import Exercise
from service.grading import messages as m
from service.grading.rules_authoring import AUTHORING_RULE_CODES, check_authoring_rules
from service.results import Diagnosis, DiagnosisCode

# Spellings of one operation: forbidding any of them forbids the whole group.
SPELLINGS: tuple[frozenset[str], ...] = (
    frozenset({"transpose", "swapaxes", "swapdims"}),
    frozenset({"T", "t", "mT", "mH", "H", "adjoint", "matrix_transpose"}),
    frozenset({"movedim", "moveaxis"}),
    frozenset({"permute", "permute_dims"}),
    frozenset({"reshape", "reshape_as", "flatten", "unflatten", "ravel"}),
    frozenset({"view", "view_as"}),
)
# Operations that move axes: the ones "doing the work" of a rearrangement exercise.
AXIS_MOVES = frozenset().union(*SPELLINGS[:4]) | {"einsum", "rearrange"}
RESHAPES = SPELLINGS[4] | SPELLINGS[5]
# True aliases (one function under two names): a ``require`` of one is met by the other. Wider spellings
# are not: a prompt that asks for `swapaxes` is not answered by `transpose`.
ALIASES: tuple[frozenset[str], ...] = (
    frozenset({"swapaxes", "swapdims"}), frozenset({"movedim", "moveaxis"}), frozenset({"permute", "permute_dims"}),
)
# ``require`` names judged on the result instead of the spelling (the check says what the tensor must be).
SEMANTIC = {"channels_last": "channels_last", "contiguous": "contiguous"}
_STRING_ATTR_CALLS = {"getattr", "attrgetter", "methodcaller", "__getattribute__"}


def spellings(name: str) -> frozenset[str]:
    """Every name of the operation ``name`` (just ``name`` when it has no other spelling)."""
    return next((group for group in SPELLINGS if name in group), frozenset({name}))


def _name_uses(tree: ast.AST) -> list[tuple[str, int]]:
    """(name, line) for every Name id, Attribute attr, imported name and getattr-style string
    (``from a.b import c as d`` counts a, b, a.b, c and d; ``getattr(x, "T")`` counts T)."""
    uses: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Name):
            uses.append((node.id, line))
        elif isinstance(node, ast.Attribute):
            uses.append((node.attr, line))
        elif isinstance(node, ast.Call) and _called(node) in _STRING_ATTR_CALLS:
            uses.extend((a.value, line) for a in node.args
                        if isinstance(a, ast.Constant) and isinstance(a.value, str))
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


def _called(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return node.func.id if isinstance(node.func, ast.Name) else None


def _op_uses(tree: ast.AST, name: str) -> list[ast.AST]:
    """Real uses of the operation ``name``: calls (``x.permute(...)``, ``einsum(...)``) and attribute
    reads (``x.T``), or getattr with the name as a string; never a bare variable of that name."""
    uses: list[ast.AST] = []
    funcs = _call_funcs(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            if _called(node) == name or (_called(node) in _STRING_ATTR_CALLS and any(
                    isinstance(a, ast.Constant) and a.value == name for a in node.args)):
                uses.append(node)
        elif isinstance(node, ast.Attribute) and node.attr == name and id(node) not in funcs:
            uses.append(node)
    return uses


def _call_funcs(tree: ast.AST) -> set[int]:
    """The ``x.permute`` parts of ``x.permute(...)``: judged with their call, never on their own."""
    return {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}


def _ints(nodes: Iterable[ast.AST]) -> list[int] | None:
    out = []
    for n in nodes:
        sign = 1
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub):
            sign, n = -1, n.operand
        if not isinstance(n, ast.Constant) or type(n.value) is not int:
            return None
        out.append(sign * n.value)
    return out


def _is_range_of_ndim(node: ast.AST) -> bool:
    """``range(x.ndim)`` / ``range(x.dim())`` / ``range(len(x.shape))``: every axis in its own place."""
    return (isinstance(node, ast.Call) and _called(node) == "range" and len(node.args) == 1
            and any(isinstance(n, ast.Attribute) and n.attr in ("ndim", "dim", "shape") for n in ast.walk(node.args[0])))


def _identity(node: ast.AST) -> bool:
    """A use that leaves the tensor exactly as it was (so it cannot be doing the exercise's work)."""
    if isinstance(node, ast.Attribute):
        # x.T.T, x.mT.mT: two transposes undo each other
        return isinstance(node.value, ast.Attribute) and node.value.attr in spellings(node.attr) and node.attr in SPELLINGS[1]
    if not isinstance(node, ast.Call):
        return False
    name, args = _called(node), list(node.args)
    if name in ("t", "adjoint", "matrix_transpose") and isinstance(node.func, ast.Attribute):
        inner = node.func.value
        return isinstance(inner, ast.Call) and _called(inner) == name
    if name == "einsum":
        first = args[0] if args else None
        if not isinstance(first, ast.Constant) or not isinstance(first.value, str):
            return False
        spec = first.value.replace(" ", "")
        if "," in spec.split("->")[0]:
            return False  # a contraction of several operands always does work
        if "->" in spec:
            src, dst = spec.split("->", 1)
            return src == dst
        return list(spec.replace("...", "")) == sorted(spec.replace("...", ""))  # implicit mode: sorted labels
    # Method calls put the tensor in front; torch.permute(x, ...) / np.transpose(x, ...) pass it first.
    rest = args if isinstance(node.func, ast.Attribute) and not _module_call(node) else args[1:]
    if name in ("permute", "permute_dims", "transpose") and len(rest) == 1 and isinstance(rest[0], ast.Starred):
        return _is_range_of_ndim(rest[0].value)
    if name in ("permute", "permute_dims") or (name == "transpose" and len(rest) != 2):
        seq = rest[0].elts if len(rest) == 1 and isinstance(rest[0], ast.Tuple | ast.List) else rest
        perm = _ints(seq)
        return perm is not None and len(perm) > 0 and perm == list(range(len(perm)))
    if name in ("transpose", "swapaxes", "swapdims", "movedim", "moveaxis") and len(rest) == 2:
        pair = _ints(rest)
        if pair is not None:
            return pair[0] == pair[1]
        return ast.dump(rest[0]) == ast.dump(rest[1])
    if name in ("reshape", "view") and len(rest) == 1:
        shape = rest[0].value if isinstance(rest[0], ast.Starred) else rest[0]
        return isinstance(shape, ast.Attribute) and shape.attr == "shape"
    return False


def _inner(node: ast.AST) -> ast.AST | None:
    if isinstance(node, ast.Attribute):
        return node.value
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.value
    return None


def _module_call(node: ast.Call) -> bool:
    """``torch.permute(x, ...)`` / ``np.transpose(x, ...)``: a function of a module, not a method."""
    return isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name) and \
        node.func.value.id in ("torch", "np", "numpy", "einops")


def _contains(node: ast.AST, targets: list[ast.AST]) -> bool:
    ids = {id(t) for t in targets}
    return any(id(n) in ids for n in ast.walk(node))


def _tainted_names(tree: ast.AST, uses: list[ast.AST]) -> set[str]:
    """Variables that hold (something computed from) the required operation's result."""
    names: set[str] = set()
    for _ in range(3):  # a short fixpoint: y = einsum(...); z = y + 0; w = z...
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
                value = node.value
                if _contains(value, uses) or any(isinstance(n, ast.Name) and n.id in names for n in ast.walk(value)):
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return names


def _undone_by(tree: ast.AST, name: str, uses: list[ast.AST], required: set[str]) -> tuple[str, int] | None:
    """Another axis move applied to the required operation's input or result: it does (part of) the work."""
    tainted = _tainted_names(tree, uses)
    inputs = [a for u in uses if isinstance(u, ast.Call) for a in u.args]
    funcs = _call_funcs(tree)
    for node in ast.walk(tree):
        if id(node) in funcs:
            continue
        other = node.attr if isinstance(node, ast.Attribute) else None
        if isinstance(node, ast.Call) and _called(node) in AXIS_MOVES:
            other = _called(node)
        if other is None or other not in AXIS_MOVES or other in required or other in spellings(name):
            continue
        target = node.func.value if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) else node
        if isinstance(node, ast.Attribute):
            target = node.value
        on_result = _contains(target, uses) or any(isinstance(n, ast.Name) and n.id in tainted
                                                  for n in ast.walk(target))
        on_input = any(_contains(arg, [node]) for arg in inputs)
        if (on_result or on_input) and not _identity(node):
            return other, getattr(node, "lineno", 0)
    return None


def _lines(tree: ast.AST, names: Iterable[str]) -> list[int]:
    wanted = set(names)
    return sorted({line for used, line in _name_uses(tree) if used in wanted and line})


# Rule violations keep the cases' credit but fail "passed" (the engine then caps the score below 1).
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
    reported: set[str] = set()
    for name in rules.forbid:
        used = sorted(s for s in spellings(name) if s in names and s not in reported and s not in rules.require)
        for spelled in used:
            reported.add(spelled)
            lines = _lines(tree, [spelled])
            at = f" (line {', '.join(map(str, lines))})" if lines else ""
            at_ja = f"({', '.join(map(str, lines))} 行目)" if lines else ""
            alias = f", another spelling of `{name}`" if spelled != name else ""
            alias_ja = f"(`{name}` の別の書き方)" if spelled != name else ""
            msg = {"en": f"Your code: uses `{spelled}`{at}{alias}, which this exercise forbids; "
                         f"solve it without `{spelled}`",
                   "ja": f"コード: この問題では使えない `{spelled}`{alias_ja}が使われています{at_ja}。"
                         f"`{spelled}` を使わずに解いてください。"}
            out.append(m.diagnosis(exercise, "forbidden_name", msg, {"name": spelled, "rule": name, "lines": lines}))
    required = set(rules.require)
    for name in rules.require:
        check = SEMANTIC.get(name)
        if check is not None and getattr(exercise.check, check, None) is True:
            continue  # judged on what the result is (e.g. channels_last strides), not on how it is spelled
        out += _require(exercise, tree, name, required)
    return out


def _require(exercise: Exercise, tree: ast.AST, name: str, required: set[str]) -> list[Diagnosis]:
    aliases = next((group for group in ALIASES if name in group), frozenset({name}))
    uses = [u for alias in sorted(aliases) for u in _op_uses(tree, alias)]
    # x.T.T: the outer use is an identity, and so is the inner one it undoes.
    undone = {id(_inner(u)) for u in uses if _identity(u)}
    working = [u for u in uses if not _identity(u) and id(u) not in undone]
    if not uses:
        msg = {"en": f"Your code: does not use `{name}`, which this exercise requires; solve it with `{name}`",
               "ja": f"コード: `{name}` が使われていません。この問題では `{name}` を使って解いてください。"}
        return [m.diagnosis(exercise, "missing_required_name", msg, {"name": name, "reason": "missing"})]
    if not working:
        lines = sorted({getattr(u, "lineno", 0) for u in uses})
        msg = {"en": f"Your code: uses `{name}` only in a form that changes nothing (line {', '.join(map(str, lines))}); "
                     f"this exercise asks `{name}` itself to do the work",
               "ja": f"コード: `{name}` を何も変えない形でしか使っていません({', '.join(map(str, lines))} 行目)。"
                     f"この問題では `{name}` 自身で変換してください。"}
        return [m.diagnosis(exercise, "missing_required_name", msg, {"name": name, "reason": "identity",
                                                                     "lines": lines})]
    if name in AXIS_MOVES:
        moved = _undone_by(tree, name, working, required)
        if moved is not None:
            other, line = moved
            msg = {"en": f"Your code: moves axes with `{other}` (line {line}) on the input or result of `{name}`; "
                         f"this exercise asks `{name}` to do all of the moving",
                   "ja": f"コード: `{name}` の入力か結果の軸を `{other}` でも動かしています({line} 行目)。"
                         f"この問題では、軸の移動をすべて `{name}` で行ってください。"}
            return [m.diagnosis(exercise, "missing_required_name", msg,
                                {"name": name, "reason": "other_op", "other": other, "lines": [line]})]
    return []

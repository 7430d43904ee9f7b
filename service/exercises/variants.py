"""Per-learner variants: ``params:`` in the YAML, one assignment per learner, ``${name}`` substituted everywhere."""

from __future__ import annotations

import ast
import hashlib
import itertools
import operator
import random
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

# Keys a variant never changes: identity, ordering and the parameters themselves.
FIXED_KEYS = ("id", "kind", "framework", "difficulty", "tags", "order", "params")
MAX_CHECKED = 16  # variants validated per exercise (all of them when there are fewer): bounds load and reload time
_REF = re.compile(r"\$\{([^{}]+)\}")
_OPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}

Assignment = dict[str, Any]


class VariantError(ValueError):
    """A ``${...}`` reference that names no parameter, or an expression outside the small allowed grammar."""


def learner_seed(exercise_id: str, learner: int | str) -> int:
    """The learner's variant seed for one exercise: stable, and different per exercise (so no shared pattern)."""
    digest = hashlib.sha256(f"kiwame-variant:{exercise_id}:{learner}".encode()).hexdigest()
    return int(digest[:16], 16)


def assignment(params: Mapping[str, tuple[Any, ...]], seed: int | None) -> Assignment:
    """One value per parameter: the first ones for ``seed=None`` (the default variant), else drawn from the seed."""
    if seed is None:
        return {name: options[0] for name, options in params.items()}
    rng = random.Random(seed)
    return {name: options[rng.randrange(len(options))] for name, options in params.items()}


def all_assignments(params: Mapping[str, tuple[Any, ...]], limit: int = MAX_CHECKED) -> list[Assignment]:
    """The default variant first, then every other combination, up to ``limit`` (a deterministic sample above)."""
    names = list(params)
    combos = itertools.product(*(range(len(params[n])) for n in names))
    total = 1
    for n in names:
        total *= len(params[n])
    picked: Iterator[tuple[int, ...]]
    if total <= limit:
        picked = combos
    else:
        rng = random.Random(0)
        chosen = sorted(rng.sample(range(1, total), limit - 1))
        picked = itertools.chain([tuple(0 for _ in names)], (_nth(params, names, i) for i in chosen))
    return [{n: params[n][i] for n, i in zip(names, idx, strict=True)} for idx in picked]


def _nth(params: Mapping[str, tuple[Any, ...]], names: list[str], index: int) -> tuple[int, ...]:
    out = []
    for n in reversed(names):
        index, i = divmod(index, len(params[n]))
        out.append(i)
    return tuple(reversed(out))


def key(values: Assignment) -> str:
    """A short, readable variant key for results and caches: ``B=3,axis=2`` (mappings by their items)."""
    return ",".join(f"{name}={_show(v)}" for name, v in values.items())


def _show(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k}:{_show(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_show(v) for v in value) + "]"
    return str(value)


def _lookup(expr: str, values: Assignment) -> Any:
    """``B``, ``layout.perm`` or a small integer expression such as ``H*W`` or ``C // 2``."""
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError:
        raise VariantError(f"cannot read ${{{expr}}}: expected a parameter name or an expression like H*W") from None
    return _eval(tree.body, values, expr)


def _eval(node: ast.AST, values: Assignment, expr: str) -> Any:
    if isinstance(node, ast.Name):
        if node.id not in values:
            raise VariantError(f"${{{expr}}} names no parameter (params: {', '.join(values) or 'none'})")
        return values[node.id]
    if isinstance(node, ast.Attribute):
        base = _eval(node.value, values, expr)
        if not isinstance(base, Mapping) or node.attr not in base:
            raise VariantError(f"${{{expr}}}: the parameter has no field {node.attr!r}")
        return base[node.attr]
    if isinstance(node, ast.Subscript):
        base, index = _eval(node.value, values, expr), _eval(node.slice, values, expr)
        try:
            return base[index]
        except (TypeError, IndexError, KeyError):
            raise VariantError(f"${{{expr}}}: index {index!r} does not exist") from None
    if isinstance(node, ast.Constant) and isinstance(node.value, int | str):
        return node.value
    if isinstance(node, ast.List | ast.Tuple):  # e.g. a shape per option: ${[[B, 4], [4, B]][axis]}
        return [_eval(item, values, expr) for item in node.elts]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_int(_eval(node.operand, values, expr), expr)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        left, right = _int(_eval(node.left, values, expr), expr), _int(_eval(node.right, values, expr), expr)
        if isinstance(node.op, ast.FloorDiv | ast.Mod) and right == 0:
            raise VariantError(f"${{{expr}}} divides by zero")
        return _OPS[type(node.op)](left, right)
    raise VariantError(f"${{{expr}}}: only names, fields, indices, lists and + - * // % on integers are allowed")


def _int(value: Any, expr: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise VariantError(f"${{{expr}}}: arithmetic needs integers, got {value!r}")
    return value


def _text(value: Any) -> str:
    # Embedded in text, a list reads as its items: `permute(${perm})` -> `permute(2, 0, 1)`.
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value)
    return str(value)


def substitute(value: Any, values: Assignment) -> Any:
    """Replace ``${...}`` in every string of ``value``; a string that is only ``${x}`` becomes x's value (typed)."""
    if isinstance(value, str):
        whole = _REF.fullmatch(value.strip())
        if whole is not None:
            return _lookup(whole.group(1), values)
        return _REF.sub(lambda m: _text(_lookup(m.group(1), values)), value)
    if isinstance(value, list):
        return [substitute(v, values) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, values) for k, v in value.items()}
    return value


def substitute_document(doc: Mapping[str, Any], values: Assignment) -> dict[str, Any]:
    """The exercise document with one variant's values filled in (identity and ordering keys untouched)."""
    return {k: (v if k in FIXED_KEYS else substitute(v, values)) for k, v in doc.items()}

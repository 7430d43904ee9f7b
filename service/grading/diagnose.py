"""Pure diagnosis over numpy arrays: which rearrangement of the input did the learner actually compute?"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from service.grading.render import json_scalar
from service.results import DiagnosisCode

MAX_NDIM = 6  # 6! = 720 candidate permutations: cheap on the small, coordinate-coded inputs exercises use
MAX_ELEMENTS = 1 << 16  # with up to 720 permutations per input, this bounds the search to ~50M compares
MAX_CANDIDATES = 4096
T_WARNING = "The use of `x.T` on tensors of dimension other than 2"


@dataclass(frozen=True)
class Finding:
    code: DiagnosisCode
    details: dict[str, Any] = field(default_factory=dict)


def same(a: np.ndarray, b: np.ndarray) -> bool:
    """Exact, shape-strict equality with NaN == NaN (rearrangements copy bytes, so exact is right)."""
    if a.shape != b.shape:
        return False
    nan_ok = a.dtype.kind in "fc" and b.dtype.kind in "fc"
    return bool(np.array_equal(a, b, equal_nan=nan_ok))


def _multiset(a: np.ndarray) -> np.ndarray:
    flat = a.ravel()
    if flat.dtype.kind == "c":
        return np.sort_complex(flat)
    return np.sort(flat)


def is_rearrangement(x: np.ndarray, y: np.ndarray) -> bool:
    """Same elements, possibly moved: the precondition for every finding below."""
    return x.size == y.size and same(_multiset(x), _multiset(y))


def _call(name: str, method: str, args: Sequence[int]) -> str:
    return f"{name}.{method}(" + ", ".join(str(int(a)) for a in args) + ")"


def find_permutation(x: np.ndarray, y: np.ndarray) -> tuple[int, ...] | None:
    """The axis permutation q with ``y == x.transpose(q)``, if any (searched over all q)."""
    if x.ndim != y.ndim or x.size != y.size or x.ndim > MAX_NDIM:
        return None
    for q in itertools.permutations(range(x.ndim)):
        if tuple(x.shape[i] for i in q) == y.shape and same(np.transpose(x, q), y):
            return q
    return None


def _refinements(shape: Sequence[int], parts: list[int]) -> Iterator[tuple[int, ...]]:
    """Ways to split each axis of ``shape`` into consecutive factors that together use up ``parts``."""
    if not shape:
        if not parts:
            yield ()
        return
    head, rest = shape[0], shape[1:]
    for k in range(1, len(parts) + 1):
        for combo in set(itertools.permutations(parts, k)):
            if int(np.prod(combo)) != head:
                continue
            remaining = list(parts)
            for c in combo:
                remaining.remove(c)
            for tail in _refinements(rest, remaining):
                yield (*combo, *tail)


def _groups_into(shape: Sequence[int], target: Sequence[int]) -> bool:
    """True when consecutive runs of ``shape`` multiply to the axes of ``target`` (a pure merge)."""
    i = 0
    for t in target:
        prod = 1
        start = i
        while i < len(shape) and (prod < t or i == start):
            prod *= shape[i]
            i += 1
        if prod != t:
            return False
    return i == len(shape)


def split_merge_candidates(x: np.ndarray, out_shape: tuple[int, ...]) -> Iterator[tuple[str, np.ndarray]]:
    """Every "reshape then permute" (split) or "permute then reshape" (merge) of x that lands on out_shape."""
    count = 0
    if len(out_shape) > x.ndim:
        for inner in _refinements(x.shape, list(out_shape)):
            xr = x.reshape(inner)
            for q in itertools.permutations(range(len(inner))):
                if tuple(inner[i] for i in q) == out_shape:
                    count += 1
                    if count > MAX_CANDIDATES:
                        return
                    yield f"{_call('x', 'reshape', inner)}.permute{_perm(q)}", np.transpose(xr, q)
    elif len(out_shape) < x.ndim:
        for q in itertools.permutations(range(x.ndim)):
            moved = tuple(x.shape[i] for i in q)
            if _groups_into(moved, out_shape):
                count += 1
                if count > MAX_CANDIDATES:
                    return
                yield f"x.permute{_perm(q)}.reshape{_perm(out_shape)}", np.transpose(x, q).reshape(out_shape)


def _perm(q: Sequence[int]) -> str:
    return "(" + ", ".join(str(int(i)) for i in q) + ")"


def _match(x: np.ndarray, y: np.ndarray) -> str | None:
    for call, cand in split_merge_candidates(x, y.shape):
        if same(cand, y):
            return call
    return None


def _describe_expected(x: np.ndarray, expected: np.ndarray) -> str | None:
    p = find_permutation(x, expected)
    if p is not None:
        return f"x.permute{_perm(p)}"
    return _match(x, expected)


def rearrangement_finding(
    x: np.ndarray, expected: np.ndarray, out: np.ndarray, warnings: Sequence[str] = (),
) -> Finding | None:
    """Name the mistake when ``out`` is some rearrangement of the input ``x`` other than ``expected``.

    Order matters: a pure axis permutation is the most specific explanation, then "values still in memory
    order" (reshape instead of permute), then a head split/merge done in the wrong order.
    """
    if x.size > MAX_ELEMENTS or x.ndim > MAX_NDIM or out.ndim > MAX_NDIM or expected.ndim > MAX_NDIM:
        return None
    if same(out, expected) or not (is_rearrangement(x, expected) and is_rearrangement(x, out)):
        return None
    identity = tuple(range(x.ndim))
    q = find_permutation(x, out)
    p = find_permutation(x, expected)
    if q is not None and p is not None:
        if q == identity and out.shape == expected.shape:
            return _reshape_finding(x, expected, out)
        if q == tuple(reversed(identity)) and x.ndim > 2:
            seen = any(T_WARNING in w for w in warnings)
            return Finding("transpose_all_axes", {"applied": list(q), "expected": list(p), "ndim": x.ndim,
                                                  "warning_seen": seen})
        return Finding("wrong_axis_order", {"applied": list(q), "expected": list(p)})
    if out.shape == expected.shape and same(out.ravel(), x.ravel()):
        expected_call = _describe_expected(x, expected)
        # Only a split/merge we can spell out counts as a head split; anything else is a plain reshape mistake.
        if x.ndim != out.ndim and min(x.ndim, out.ndim) >= 3 and expected_call is not None:
            return Finding("heads_split_wrong", {
                "direction": "split" if out.ndim > x.ndim else "merge",
                "applied_call": _call("x", "reshape", out.shape),
                "expected_call": expected_call,
            })
        return _reshape_finding(x, expected, out)
    if x.ndim != out.ndim and min(x.ndim, out.ndim) >= 3:
        applied = _match(x, out)
        if applied is not None:
            return Finding("heads_split_wrong", {
                "direction": "split" if out.ndim > x.ndim else "merge",
                "applied_call": applied,
                "expected_call": _describe_expected(x, expected),
            })
    return None


def _reshape_finding(x: np.ndarray, expected: np.ndarray, out: np.ndarray) -> Finding:
    return Finding("reshape_instead_of_permute", {
        "applied_call": _call("x", "reshape", out.shape),
        "expected_call": _describe_expected(x, expected),
    })


def close_mask(expected: np.ndarray, actual: np.ndarray, rtol: float, atol: float) -> np.ndarray:
    """Elementwise "equal enough": |a-e| <= atol + rtol*|e|; NaN only matches NaN, inf only the same inf."""
    if expected.dtype.kind == "c" or actual.dtype.kind == "c":
        e = expected.astype(np.complex128)
        a = actual.astype(np.complex128)
        return close_mask(e.real, a.real, rtol, atol) & close_mask(e.imag, a.imag, rtol, atol)
    if expected.dtype.kind not in "fc" and actual.dtype.kind not in "fc":
        # Integers and bools: exact, and without float rounding (int64 above 2**53 stays exact).
        return np.asarray(expected == actual)
    e = expected.astype(np.float64)
    a = actual.astype(np.float64)
    both_nan = np.isnan(e) & np.isnan(a)
    with np.errstate(invalid="ignore", over="ignore"):
        finite = np.isfinite(e) & np.isfinite(a)
        near = np.abs(a - e) <= atol + rtol * np.abs(e)
    # Infinities compare with ==, so +inf only matches +inf; NaN fails everything except both_nan.
    return both_nan | (finite & near) | (~finite & (e == a))


def mismatch_details(expected: np.ndarray, actual: np.ndarray, mask: np.ndarray, reveal: bool) -> dict[str, Any]:
    """How many elements differ and, when values may be shown, where the first three are."""
    bad = np.argwhere(~mask)
    details: dict[str, Any] = {"mismatched": int(bad.shape[0]), "total": int(mask.size)}
    if reveal:
        first = []
        for idx in bad[:3]:
            key = tuple(int(i) for i in idx)
            first.append({"index": list(key), "expected": json_scalar(expected[key], None),
                          "got": json_scalar(actual[key], None)})
        details["first"] = first
    return details

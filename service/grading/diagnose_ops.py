"""Pure diagnosis beyond rearranging: reductions, keepdim, broadcasting, contractions and sliding windows.

Each finder re-computes a small family of plausible operations on the case's inputs and asks which one the
learner's output equals and which one the expected output equals: when both are found and differ only in
the axes, the index or the window, that difference is the mistake. Bounded: small inputs only.
"""

from __future__ import annotations

import itertools
import string
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from service.grading.diagnose import Finding

MAX_ELEMENTS = 1 << 14  # per input: every finder below computes a few hundred candidates
MAX_NDIM = 4
REDUCTIONS: dict[str, Callable[..., np.ndarray]] = {
    "sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min, "prod": np.prod,
}
WINDOW_OPS = ("sum", "mean", "max", "min")
MAX_EINSUM = 1 << 18  # product of all index sizes of one candidate contraction


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    """|a - b| <= 1e-6 + 1e-5 |b| elementwise, NaN matching NaN (np.allclose without its per-call overhead)."""
    if a.dtype.kind not in "fc" and b.dtype.kind not in "fc":
        return bool((a == b).all())
    with np.errstate(all="ignore"):
        a, b = a.astype(np.float64, copy=False), b.astype(np.float64, copy=False)
        ok = np.abs(a - b) <= 1e-6 + 1e-5 * np.abs(b)
        if ok.all():
            return True
        return bool((ok | (a == b) | (np.isnan(a) & np.isnan(b))).all())


def _equal(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal shapes and (nearly) equal values; a handful of sampled elements reject most candidates cheaply."""
    if a.shape != b.shape:
        return False
    if a.size > 16:
        step = a.size // 8
        if not _close(a.reshape(-1)[::step], b.reshape(-1)[::step]):
            return False
    return _close(a, b)


def _usable(x: np.ndarray) -> bool:
    return x.dtype.kind in "iuf" and 0 < x.size <= MAX_ELEMENTS and 1 <= x.ndim <= MAX_NDIM


def keepdim_finding(expected: np.ndarray, out: np.ndarray) -> Finding | None:
    """The same values with size-1 axes dropped (missing keepdim) or placed elsewhere (broadcast axes)."""
    if out.shape == expected.shape or out.size != expected.size:
        return None
    if tuple(n for n in out.shape if n != 1) != tuple(n for n in expected.shape if n != 1):
        return None
    if not _equal(out.reshape(-1), expected.reshape(-1)):
        return None
    details = {"expected_shape": list(expected.shape), "got_shape": list(out.shape)}
    if out.ndim < expected.ndim:
        lost = [i for i, n in enumerate(expected.shape) if n == 1]
        return Finding("missing_keepdim", details | {"axes": lost})
    return Finding("wrong_broadcast_axes", details)


def transposed_finding(expected: np.ndarray, out: np.ndarray) -> Finding | None:
    """The expected result with its axes in another order: a broadcast that paired the wrong axes (asked
    only when the result is larger than every input, i.e. it was built by broadcasting)."""
    if out.ndim != expected.ndim or out.ndim < 2 or out.ndim > MAX_NDIM or sorted(out.shape) != sorted(expected.shape):
        return None
    for q in itertools.permutations(range(out.ndim)):
        if q != tuple(range(out.ndim)) and _equal(np.transpose(expected, q), out):
            return Finding("wrong_broadcast_axes", {"expected_shape": list(expected.shape),
                                                    "got_shape": list(out.shape), "applied": list(q)})
    return None


def _sources(x: np.ndarray, target: tuple[int, ...]) -> Iterator[tuple[str, np.ndarray]]:
    """The input, and for 2-D inputs its block views (``x.reshape(h, H//h, w, W//w)``, both ways round)."""
    yield "x", x
    if x.ndim == 2 and len(target) == 2:
        (big_h, big_w), (h, w) = x.shape, target
        if h and w and big_h % h == 0 and big_w % w == 0 and (big_h, big_w) != (h, w):
            for shape in ((h, big_h // h, w, big_w // w), (big_h // h, h, big_w // w, w)):
                yield f"x.reshape{tuple(shape)}", x.reshape(shape)


def _reduced(src: np.ndarray) -> Iterator[tuple[str, tuple[int, ...], bool, str, np.ndarray]]:
    """(op, axes, keepdims, form, value): every reduction, also as ``x - r`` and ``x / r`` (centre, normalise),
    with the reduced axes kept, and without them where that still broadcasts (the missing-keepdim bug)."""
    for op, fn in REDUCTIONS.items():
        for k in range(1, src.ndim + 1):
            for axes in itertools.combinations(range(src.ndim), k):
                with np.errstate(all="ignore"):
                    kept = fn(src, axis=axes, keepdims=True)
                    dropped = kept.reshape([n for i, n in enumerate(src.shape) if i not in axes])
                    yield op, axes, False, "r", dropped
                    yield op, axes, True, "r", kept
                    yield op, axes, True, "x - r", src - kept
                    yield op, axes, True, "x / r", src / kept
                    if dropped.ndim and src.shape[-dropped.ndim:] == dropped.shape:
                        yield op, axes, False, "x - r", src - dropped
                        yield op, axes, False, "x / r", src / dropped


def reduction_finding(inputs: Sequence[tuple[str, np.ndarray]], expected: np.ndarray,
                      out: np.ndarray) -> Finding | None:
    """The learner reduced (or centred/normalised by) the same statistic over other axes than the reference,
    or over the same axes but dropped them before broadcasting (missing keepdim)."""
    for name, x in inputs:
        if not _usable(x):
            continue
        mine = theirs = None
        for label, src in _sources(x, expected.shape):
            for op, axes, keep, form, value in _reduced(src):
                if theirs is None and _equal(value, expected):
                    theirs = (op, form, label, axes, keep)
                elif mine is None and _equal(value, out):
                    mine = (op, form, label, axes, keep)
        if not (mine and theirs and mine[:2] == theirs[:2]):
            continue
        if mine[2:4] == theirs[2:4] and theirs[4] and not mine[4] and form_broadcasts(mine[1]):
            return Finding("missing_keepdim", {"input": name, "op": mine[0], "form": mine[1],
                                               "axes": list(mine[3]), "expected_shape": list(expected.shape),
                                               "got_shape": list(out.shape)})
        if mine[2:4] != theirs[2:4]:
            return Finding("wrong_reduction_axes", {
                "input": name, "op": mine[0], "form": mine[1],
                "source": mine[2].replace("x", name, 1), "expected_source": theirs[2].replace("x", name, 1),
                "applied_axes": list(mine[3]), "expected_axes": list(theirs[3]),
            })
    return None


def form_broadcasts(form: str) -> bool:
    return form != "r"


def _einsum_specs(a: np.ndarray, b: np.ndarray, out_shape: tuple[int, ...]) -> Iterator[str]:
    """Every einsum over two operands whose result has ``out_shape`` (axes of equal size may be shared)."""
    letters = string.ascii_lowercase[8:] + string.ascii_lowercase[:8]  # i, j, k... as people write them
    sa = letters[: a.ndim]
    for pairing in itertools.product(*[[None, *[i for i in range(a.ndim) if a.shape[i] == n]] for n in b.shape]):
        used = [p for p in pairing if p is not None]
        if len(used) != len(set(used)):
            continue
        fresh = iter(letters[a.ndim:])
        sb = "".join(sa[p] if p is not None else next(fresh) for p in pairing)
        sizes = dict(zip(sa, a.shape, strict=True)) | dict(zip(sb, b.shape, strict=True))
        if int(np.prod(list(sizes.values()), dtype=np.float64)) > MAX_EINSUM:
            continue  # an einsum that large is no plausible mistake, and would take seconds to compute
        for outl in itertools.permutations(sorted(sizes), len(out_shape)):
            if tuple(sizes[c] for c in outl) == out_shape:
                yield f"{sa},{sb}->{''.join(outl)}"


def _sums(spec: str) -> bool:
    """True when the einsum sums over an index (a letter of the operands missing from the output)."""
    operands, result = spec.split("->")
    return any(c.isalpha() and c not in result for c in operands)


def contraction_finding(inputs: Sequence[tuple[str, np.ndarray]], expected: np.ndarray,
                        out: np.ndarray) -> Finding | None:
    """``einsum``/``matmul`` over the wrong index: both outputs are contractions of the same two inputs."""
    arrays = [(n, x) for n, x in inputs if _usable(x) and x.ndim <= 3]
    for (na, a), (nb, b) in itertools.permutations(arrays, 2):
        if a.ndim + b.ndim > 5:
            continue
        found: dict[str, str] = {}
        for target, label in ((out, "applied"), (expected, "expected")):
            for spec in _einsum_specs(a, b, target.shape):
                if _equal(np.einsum(spec, a.astype(np.float64), b.astype(np.float64)), target.astype(np.float64)):
                    found[label] = spec
                    break
        if len(found) == 2 and found["applied"] != found["expected"] and any(map(_sums, found.values())):
            return Finding("wrong_contraction", {"inputs": [na, nb], "applied": found["applied"],
                                                 "expected": found["expected"]})
    return None


def _windows(x: np.ndarray, size: int, step: int) -> np.ndarray:
    view = np.lib.stride_tricks.sliding_window_view(x, size, axis=-1)
    return view[..., ::step, :]


def _window_match(x: np.ndarray, target: np.ndarray,
                  ops: Sequence[str] = ("windows", *WINDOW_OPS)) -> tuple[int, int, str] | None:
    n = x.shape[-1]
    for size in range(1, n + 1):
        for step in range(1, n + 1):
            count = (n - size) // step + 1
            if "windows" in ops and target.shape == (*x.shape[:-1], count, size) \
                    and _equal(_windows(x, size, step), target):
                return size, step, "windows"
            if target.shape == (*x.shape[:-1], count):
                win = _windows(x, size, step)
                for op in (o for o in ops if o != "windows"):
                    with np.errstate(all="ignore"):
                        if _equal(REDUCTIONS[op](win, axis=-1), target):
                            return size, step, op
    return None


def window_finding(inputs: Sequence[tuple[str, np.ndarray]], expected: np.ndarray,
                   out: np.ndarray) -> Finding | None:
    """Sliding windows (``unfold``, ``sliding_window_view``, a moving sum/mean) of the wrong size or step."""
    for name, x in inputs:
        if not _usable(x) or x.shape[-1] > 64:
            continue
        theirs = _window_match(x, expected)
        if theirs is None:
            continue
        mine = _window_match(x, out, (theirs[2],))  # the same operation, other windows
        if mine is not None and mine[:2] != theirs[:2]:
            return Finding("wrong_window", {"input": name, "op": mine[2], "applied": {"size": mine[0], "step": mine[1]},
                                            "expected": {"size": theirs[0], "step": theirs[1]}})
    return None


def operation_finding(inputs: Sequence[tuple[str, np.ndarray]], expected: np.ndarray,
                      out: np.ndarray) -> Finding | None:
    """The first of the operation mistakes that explains ``out`` (cheapest and most specific first)."""
    if expected.size > MAX_ELEMENTS or out.size > MAX_ELEMENTS or expected.dtype.kind not in "biuf" \
            or out.dtype.kind not in "biuf":
        return None
    return (keepdim_finding(expected, out) or window_finding(inputs, expected, out)
            or contraction_finding(inputs, expected, out) or reduction_finding(inputs, expected, out)
            or (transposed_finding(expected, out) if all(x.size < expected.size for _, x in inputs) else None))

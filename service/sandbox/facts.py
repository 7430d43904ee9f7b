"""Structural facts about a run's outputs, computed on the trusted side from its own copy of the inputs.

The child reports only where an output's data starts in the shared inputs file and its strides. Whether
the output is a view of an input, contiguous or channels_last, and whether each input is unchanged, are
decided here: a view must be a strided window, inside one input of the same case, whose bytes in the
trusted side's own copy (or in the shared file as the dead child left it) equal the returned values;
"unchanged" compares that copy with the shared file after the child is dead. A false claim fails.
"""

from __future__ import annotations

import math

import numpy as np

from service.sandbox.protocol import CaseOut, Value
from service.sandbox.wire import Region, np_dtype


def contiguous(shape: tuple[int, ...], strides: tuple[int, ...]) -> bool:
    """torch's is_contiguous() (and numpy's C order) from shape and element strides: size-1 dims ignored."""
    if math.prod(shape) == 0:
        return True
    expected = 1
    for size, stride in zip(reversed(shape), reversed(strides), strict=True):
        if size != 1:
            if stride != expected:
                return False
            expected *= size
    return True


def channels_last(shape: tuple[int, ...], strides: tuple[int, ...]) -> bool:
    """torch's is_contiguous(memory_format=torch.channels_last) for a 4-d shape (N, C, H, W)."""
    if len(shape) != 4:
        return False
    if math.prod(shape) == 0:
        return True
    expected = 1
    for d in (1, 3, 2, 0):
        if shape[d] != 1:
            if strides[d] != expected:
                return False
            expected *= shape[d]
    return True


def _window(value: Value, region: Region, own: bytes) -> bool:
    """Is `value` exactly the strided window of `region` (in `own`) that the child pointed at?"""
    assert value.window is not None and value.shape is not None and value.strides is not None
    if value.dtype != region.dtype or value.array is None or len(own) < region.offset + region.size:
        return False
    item = np_dtype(region.dtype).itemsize
    rel = value.window - region.offset
    if rel < 0 or rel > region.size or rel % item:
        return False
    n = region.size // item
    start = rel // item
    if math.prod(value.shape) == 0:
        return True
    lo = start + sum(min(0, (d - 1) * s) for d, s in zip(value.shape, value.strides, strict=True))
    hi = start + sum(max(0, (d - 1) * s) for d, s in zip(value.shape, value.strides, strict=True))
    if lo < 0 or hi >= n:
        return False
    flat = np.frombuffer(own, dtype=np_dtype(region.dtype), count=n, offset=region.offset)
    # Bounds were checked above with exact integers, so every index as_strided touches is inside `flat`.
    win = np.lib.stride_tricks.as_strided(flat[start:], shape=value.shape,
                                          strides=tuple(s * item for s in value.strides))
    if region.dtype == "bfloat16":  # decode widened the returned bf16 pattern to float32: do the same
        win = (win.astype(np.uint16).astype(np.uint32) << 16).view(np.float32)
    return bool(win.shape == value.array.shape and np.ascontiguousarray(win).tobytes() == value.array.tobytes())


def _leaf_facts(value: Value, regions: list[Region], own: bytes, final: bytes) -> None:
    for item in value.items:
        _leaf_facts(item, regions, own, final)
    if value.kind not in ("tensor", "ndarray") or value.shape is None or value.strides is None:
        return
    value.contiguous = contiguous(value.shape, value.strides)
    value.channels_last = channels_last(value.shape, value.strides) if value.kind == "tensor" else None
    value.shares_input = ()
    if value.window is not None:
        for r in regions:
            # A window of the input as given, or of the input's memory as the run left it (an exercise that
            # writes through a view returns the mutated input; "input unchanged" judges the mutation).
            if r.offset <= value.window <= r.offset + r.size and (_window(value, r, own) or _window(value, r, final)):
                value.shares_input = (r.arg,)
                break


def apply(cases: dict[str, CaseOut], regions: list[Region], own: bytes, final: bytes) -> None:
    """Fill in every trusted fact of every case, in place (`final`: the shared file after the run)."""
    by_case: dict[str, list[Region]] = {}
    for r in regions:
        by_case.setdefault(r.case, []).append(r)
    for name, case in cases.items():
        mine = by_case.get(name, [])
        confessed = {n for n, same in case.inputs_unchanged.items() if not same}
        case.inputs_unchanged = {r.arg: own[r.offset:r.offset + r.size] == final[r.offset:r.offset + r.size]
                                 and r.arg not in confessed for r in mine}
        if case.value is not None:
            _leaf_facts(case.value, mine, own, final)

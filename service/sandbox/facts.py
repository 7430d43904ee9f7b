"""Structural facts about a run's outputs, computed on the trusted side from its own copy of the inputs.

The child sends each output's raw memory span and strides; the values were rebuilt from them on the
trusted side (wire.strided), so the strides are as good as the values. Contiguity and channels_last are
derived here from those strides. A view of an input must be a span inside one input of the same case
whose bytes equal the trusted side's own copy (or the shared file as the dead child left it) at the
offset the child named; "unchanged" compares that copy with the shared file after the child is dead.
"""

from __future__ import annotations

import math

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
    """Is the memory the child sent for `value` exactly the bytes of `region` (in `own`) it pointed at?
    The values were already rebuilt from that memory with the child's strides (wire.strided), so equal
    bytes make `value` that strided window of the input."""
    assert value.window is not None and value.span is not None
    span, item = value.span, np_dtype(region.dtype).itemsize
    rel = value.window - region.offset
    return (value.dtype == region.dtype and 0 <= rel and rel % item == 0 and rel + len(span) <= region.size
            and own[value.window:value.window + len(span)] == span)


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
    value.span = None  # checked: the trusted side keeps only the values


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

"""Describe a learner's return value as plain JSON plus raw bytes, never through the learner's own hooks.

Every function, method and property used here is captured at import time (in the zygote, before any
learner code exists) as a C-level callable: `torch.Tensor.numpy = ...`, `torch.Tensor.shape =
property(...)` or `np.ascontiguousarray = ...` in learner code cannot reach these references. Tensor
subclasses are read through `as_subclass(Tensor)` with `__torch_function__` disabled, and unknown objects
are named by their type's C-level name, never by calling their `repr`, `__reduce__` or `__class__`.
That makes *values* faithful for honest code; it is not a security boundary (the learner shares this
process). Structural facts are therefore not decided here: for every tensor or array the child sends its
raw memory (the whole span its strides cover, in memory order), the strides, the first element's offset
in that span and where the span sits in the shared inputs mapping. The trusted side rebuilds the values
from those bytes and strides and derives every layout fact itself (wire.py, facts.py): a lie about the
strides turns into wrong values.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from service.sandbox.limits import DEFAULT_LIMITS
from service.sandbox.protocol import DTYPES
from service.sandbox.wire import span_bounds as _span_bounds

_Tensor, _ndarray, _generic = torch.Tensor, np.ndarray, np.generic
_as_subclass = torch.Tensor.as_subclass
_no_torch_function = torch._C.DisableTorchFunctionSubclass
_type_name = type.__dict__["__name__"].__get__  # tp_name straight from C, no metaclass hooks
_issubclass, _type, _len = issubclass, type, len
_TORCH_DTYPES = {getattr(torch, n): n for n in DTYPES}
# Tensor methods and properties as captured C-level callables: `torch.Tensor.numpy = ...` or
# `torch.Tensor.shape = property(...)` in learner code cannot reach these references.
_TB = torch._C.TensorBase
_detach, _cpu, _contiguous, _view = _TB.detach, _TB.cpu, _TB.contiguous, _TB.view
_resolve_conj, _resolve_neg, _to_numpy = _TB.resolve_conj, _TB.resolve_neg, _TB.numpy
_size, _stride = _TB.size, _TB.stride
_numel, _element_size, _dim, _data_ptr = _TB.numel, _TB.element_size, _TB.dim, _TB.data_ptr
_as_strided, _storage_offset, _is_contiguous = _TB.as_strided, _TB.storage_offset, _TB.is_contiguous
_dtype, _device, _layout, _is_meta = (_TB.__dict__[n].__get__ for n in ("dtype", "device", "layout", "is_meta"))
_ascontiguous, _tobytes = np.ascontiguousarray, np.ndarray.tobytes
_array_interface = np.ndarray.__dict__["__array_interface__"].__get__
_np_as_strided, _getitem = np.lib.stride_tricks.as_strided, np.ndarray.__getitem__


class TooBig(Exception):
    """The run's results would exceed the payload cap (checked before copying anything)."""


def _span(shape: tuple[int, ...], strides: tuple[int, ...]) -> tuple[int, int]:
    """(first element's index within the span, span length) in elements, for any sign of stride."""
    if not all(shape):
        return 0, 0
    lo, hi = _span_bounds(shape, strides, 0)
    return -lo, hi - lo + 1


def _raw_span(t: torch.Tensor, n: int) -> torch.Tensor:
    """The tensor's memory from its first to its last element, as a 1-D tensor (torch strides are >= 0).
    A contiguous tensor's span is its values: no re-striding needed (the common case, kept fast)."""
    flat = _detach(t) if _is_contiguous(t) else _as_strided(_detach(t), (n,), (1,), _storage_offset(t))
    c = _contiguous(_resolve_neg(_resolve_conj(_cpu(flat))))
    return _view(c, torch.int16) if _dtype(c) == torch.bfloat16 else c


_ARENA = [0, 0]  # base address and size of the shared inputs mapping (set once per job)


def set_arena(base: int, size: int) -> None:
    _ARENA[0], _ARENA[1] = base, size


def _window(ptr: int) -> int | None:
    """Where a span starting at address `ptr` sits in the shared inputs mapping, or None. Only a claim: the
    trusted side checks it against its own copy of the inputs (facts.py), so a lie cannot make a copy a view."""
    base, size = _ARENA
    return ptr - base if size and base <= ptr <= base + size else None


def tensor_meta(x: Any) -> tuple[Any, ...]:
    with _no_torch_function():
        t = _as_subclass(x, _Tensor)
        return (tuple(_size(t)), tuple(_stride(t)), _data_ptr(t), _dtype(t))


def encode_value(x: Any, payload: list[bytes], budget: list[int], depth: int) -> dict[str, Any]:
    """Describe `x` as plain JSON + raw bytes, reading facts from the C level, never via learner hooks."""
    t = _type(x)
    try:
        if _issubclass(t, _Tensor):
            return _encode_tensor(x, payload, budget)
        if _issubclass(t, _ndarray):
            return _encode_ndarray(np.ndarray.view(x, np.ndarray), payload, budget)
        if x is None:
            return {"kind": "none"}
        if t is bool or _issubclass(t, np.bool_):
            return {"kind": "bool", "scalar": bool(x)}
        if _issubclass(t, int):
            return {"kind": "int", "scalar": int.__int__(x)} if abs(int.__int__(x)) < 1 << 63 else _other(x)
        if _issubclass(t, np.integer):
            return {"kind": "int", "scalar": int(x)}
        if _issubclass(t, float) or _issubclass(t, np.floating):
            return {"kind": "float", "scalar": float(x) if _issubclass(t, _generic) else float.__float__(x)}
        if _issubclass(t, complex) or _issubclass(t, np.complexfloating):
            c = complex(x) if _issubclass(t, _generic) else complex(complex.real.__get__(x), complex.imag.__get__(x))
            return {"kind": "complex", "scalar": [c.real, c.imag]}
        if _issubclass(t, str):
            return {"kind": "str", "scalar": str.__str__(x)[:10000]}
        if (_issubclass(t, tuple) or _issubclass(t, list)) and depth < DEFAULT_LIMITS.max_depth:
            items = list(tuple.__iter__(x) if _issubclass(t, tuple) else list.__iter__(x))
            if _len(items) > DEFAULT_LIMITS.max_items:
                return _other(x)
            return {"kind": "tuple" if _issubclass(t, tuple) else "list",
                    "items": [encode_value(i, payload, budget, depth + 1) for i in items]}
    except TooBig:
        raise
    except Exception:  # a value we cannot describe faithfully is just "other"
        pass
    return _other(x)


def _other(x: Any) -> dict[str, Any]:
    return {"kind": "other", "type_name": _type_name(_type(x))}


def _take(nbytes: int, budget: list[int]) -> None:
    budget[0] -= nbytes
    if budget[0] < 0:  # checked before the copy: a huge output never gets materialised twice
        raise TooBig


def _encode_tensor(x: Any, payload: list[bytes], budget: list[int]) -> dict[str, Any]:
    with _no_torch_function():
        t = _as_subclass(x, _Tensor)  # a plain Tensor view of a subclass: its overrides no longer run
        name = _TORCH_DTYPES.get(_dtype(t))
        if name is None or _layout(t) != torch.strided or _is_meta(t) or _dim(t) > DEFAULT_LIMITS.max_ndim:
            return {"kind": "other", "type_name": f"Tensor[{str(_dtype(t)).removeprefix('torch.')}]"}
        shape, strides = tuple(_size(t)), tuple(_stride(t))
        first, n = (0, _numel(t)) if _is_contiguous(t) else _span(shape, strides)
        _take(n * _element_size(t), budget)
        window = _window(_data_ptr(t)) if _device(t).type == "cpu" and n else None
        raw = _tobytes(_to_numpy(_raw_span(t, n))) if n else b""
        payload.append(raw)
        return {"kind": "tensor", "dtype": name, "shape": list(shape), "strides": list(strides), "first": first,
                "device": _device(t).type, "window": window, "nbytes": len(raw)}


def _encode_ndarray(a: np.ndarray, payload: list[bytes], budget: list[int]) -> dict[str, Any]:
    if a.dtype.name not in DTYPES or a.ndim > DEFAULT_LIMITS.max_ndim or a.dtype.hasobject:
        return {"kind": "other", "type_name": f"ndarray[{a.dtype.name}]"}
    if not a.dtype.isnative or any(s % a.itemsize for s in a.strides):
        # Byte-swapped or misaligned memory has no element strides: send a C-order copy (what it is now).
        a = _ascontiguous(a, dtype=a.dtype.newbyteorder("="))
    strides = tuple(s // a.itemsize for s in a.strides)
    first, n = _span(a.shape, strides)
    _take(n * a.itemsize, budget)
    raw, window = b"", None
    if n:
        # Flip the axes with negative strides: the view then starts at the span's lowest address.
        low = _getitem(a, (*(slice(None, None, -1) if s < 0 else slice(None) for s in strides), ...))
        start = _array_interface(low)["data"][0]
        raw = _tobytes(_np_as_strided(low, (n,), (a.itemsize,)))
        window = _window(start)
    payload.append(raw)
    return {"kind": "ndarray", "dtype": a.dtype.name, "shape": list(a.shape), "strides": list(strides),
            "first": first, "device": "cpu", "window": window, "nbytes": len(raw)}

"""Turn a case's YAML argument specs into sandbox arguments (numpy arrays or plain values), deterministically."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from service.domain import Case
from service.sandbox.protocol import DTYPES, ArgIn

# The dtypes an exercise may name: those the sandbox carries, less bfloat16 (no numpy dtype, so not an input).
ARG_DTYPES: tuple[str, ...] = tuple(d for d in DTYPES if d != "bfloat16")
# The one-of keys of a mapping spec and the extra keys each accepts.
SPEC_KEYS: dict[str, frozenset[str]] = {
    "literal": frozenset({"dtype"}),
    "arange": frozenset({"dtype", "start"}),
    "coded": frozenset(),
    "random": frozenset({"dtype", "seed", "low", "high"}),
    "value": frozenset(),
}
MAX_ELEMENTS = 1_000_000  # inputs are built in the trusted process: keep them small


class SpecError(ValueError):
    """An argument spec that cannot be materialised; ``key`` is the offending sub-key, if any."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


def _default_float(framework: str) -> str:
    # torch.tensor([1.5]) is float32, np.array([1.5]) is float64: follow what learners see in each framework.
    return "float32" if framework == "torch" else "float64"


def describe(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def _scan_literal(value: Any) -> tuple[tuple[int, ...], set[str]]:
    """Shape and element kinds ({'bool','int','float'}) of a nested list; raises SpecError if ragged."""
    if isinstance(value, bool):
        return (), {"bool"}
    if isinstance(value, int):
        return (), {"int"}
    if isinstance(value, float):
        return (), {"float"}
    if isinstance(value, list):
        if not value:
            return (0,), set()
        shapes_kinds = [_scan_literal(v) for v in value]
        first = shapes_kinds[0][0]
        if any(s != first for s, _ in shapes_kinds):
            raise SpecError("expected a rectangular nested list (all rows the same length), got a ragged list")
        kinds: set[str] = set()
        for _, k in shapes_kinds:
            kinds |= k
        return (len(value), *first), kinds
    raise SpecError(f"expected a nested list of numbers, got {describe(value)}")


def _infer_dtype(kinds: set[str], framework: str) -> str:
    if "bool" in kinds and kinds != {"bool"}:
        raise SpecError("expected all elements to be numbers or all to be booleans, got a mix")
    if kinds == {"bool"}:
        return "bool"
    if "float" in kinds:
        return _default_float(framework)
    return "int64"


def _shape(value: Any, key: str) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(n, int) and not isinstance(n, bool) for n in value):
        raise SpecError(f"expected a shape (a list of non-negative integers), got {describe(value)}", key)
    if any(n < 0 for n in value):
        raise SpecError("expected a shape (a list of non-negative integers), got a negative size", key)
    shape = tuple(value)
    if int(np.prod(shape, dtype=np.int64)) > MAX_ELEMENTS:
        raise SpecError(f"expected at most {MAX_ELEMENTS} elements, got shape {list(shape)}", key)
    return shape


def _dtype(spec: Mapping[str, Any], default: str) -> str:
    dtype = spec.get("dtype", default)
    if dtype not in ARG_DTYPES:
        raise SpecError(f"expected a dtype, one of {', '.join(ARG_DTYPES)}, got {dtype!r}", "dtype")
    return str(dtype)


def _int(spec: Mapping[str, Any], key: str, default: int) -> int:
    value = spec.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise SpecError(f"expected an integer, got {describe(value)}", key)
    return value


def _coded(shape: tuple[int, ...]) -> np.ndarray:
    if any(n > 10 for n in shape):
        raise SpecError(f"expected every axis size to be at most 10 (one digit per index), got {list(shape)}", "coded")
    ndim = len(shape)
    out = np.full(shape, 10**ndim, dtype=np.int64)
    for axis, n in enumerate(shape):
        # Index along `axis` contributes one decimal digit at position ndim-1-axis.
        digit = np.arange(n, dtype=np.int64) * 10 ** (ndim - 1 - axis)
        out = out + digit.reshape((n,) + (1,) * (ndim - 1 - axis))
    return out


def _random(spec: Mapping[str, Any], framework: str) -> np.ndarray:
    shape = _shape(spec["random"], "random")
    dtype = _dtype(spec, _default_float(framework))
    rng = np.random.default_rng(_int(spec, "seed", 0))
    if dtype == "bool":
        return rng.integers(0, 2, size=shape).astype(np.bool_)
    if dtype.startswith(("int", "uint")):
        info = np.iinfo(dtype)
        low = max(_int(spec, "low", -9), int(info.min))
        high = min(_int(spec, "high", 10), int(info.max) + 1)
        if low >= high:
            raise SpecError(f"expected low < high within {dtype}, got [{low}, {high})", "low")
        return rng.integers(low, high, size=shape, dtype=np.int64).astype(dtype)
    if dtype.startswith("complex"):
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def array_from_spec(spec: Any, framework: str) -> np.ndarray | None:
    """The array a spec describes, or None for ``{value: ...}`` (a plain Python value). Raises SpecError."""
    if not isinstance(spec, Mapping):
        if not isinstance(spec, list | int | float):
            raise SpecError("expected a nested list of numbers or a mapping with one of "
                            f"arange/coded/random/literal/value, got {describe(spec)}")
        shape, kinds = _scan_literal(spec)
        dtype = _infer_dtype(kinds, framework) if kinds else _default_float(framework)
        return np.array(spec, dtype=dtype).reshape(shape)
    present = [k for k in SPEC_KEYS if k in spec]
    if len(present) != 1:
        found = "none" if not present else " and ".join(present)
        raise SpecError(f"expected a mapping with exactly one of {'/'.join(SPEC_KEYS)}, got {found}")
    kind = present[0]
    extra = set(spec) - {kind} - SPEC_KEYS[kind]
    if extra:
        key = sorted(extra)[0]
        allowed = ", ".join(sorted(SPEC_KEYS[kind])) or "no other key"
        raise SpecError(f"unknown key {key!r} next to {kind} (allowed: {allowed})", key)
    if kind == "value":
        return None
    if kind == "literal":
        shape, kinds = _scan_literal(spec["literal"])
        default = _infer_dtype(kinds, framework) if kinds else _default_float(framework)
        dtype = _dtype(spec, default)
        values = np.array(spec["literal"]).reshape(shape)
        if np.issubdtype(values.dtype, np.floating) and not np.issubdtype(np.dtype(dtype), np.inexact):
            raise SpecError(f"expected integer values for dtype {dtype}, got floats", "literal")
        return values.astype(dtype)
    if kind == "arange":
        shape = _shape(spec["arange"], "arange")
        dtype = _dtype(spec, "int64")
        start = _int(spec, "start", 0)
        n = int(np.prod(shape, dtype=np.int64))
        return np.arange(start, start + n, dtype=np.int64).astype(dtype).reshape(shape)
    if kind == "coded":
        return _coded(_shape(spec["coded"], "coded"))
    return _random(spec, framework)


def materialize(case: Case, framework: str) -> tuple[ArgIn, ...]:
    """The arguments of ``case`` in YAML order: arrays for tensor specs, plain values for ``{value: ...}``."""
    args: list[ArgIn] = []
    for name, spec in case.args.items():
        array = array_from_spec(spec, framework)
        if array is None:
            args.append(ArgIn(name=name, value=spec["value"]))
        else:
            args.append(ArgIn(name=name, array=array))
    return tuple(args)

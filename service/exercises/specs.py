"""The shared vocabulary of argument specs: kinds, dtypes, shapes, seeds and the one error type."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from service.sandbox.protocol import DTYPES

# The dtypes an exercise may name: those the sandbox carries, less bfloat16 (no numpy dtype, so not an input).
ARG_DTYPES: tuple[str, ...] = tuple(d for d in DTYPES if d != "bfloat16")
# The one-of keys of a mapping spec and the extra keys each accepts.
SPEC_KEYS: dict[str, frozenset[str]] = {
    "literal": frozenset({"dtype"}),
    "arange": frozenset({"dtype", "start"}),
    "coded": frozenset(),
    "random": frozenset({"dtype", "seed", "low", "high"}),
    "value": frozenset(),
    # generated inputs (issue 15)
    "ones": frozenset({"dtype"}),
    "zeros": frozenset({"dtype"}),
    "full": frozenset({"dtype", "fill"}),
    "randint": frozenset({"dtype", "seed", "low", "high"}),
    "index": frozenset({"dtype", "seed", "shape"}),
    "mask": frozenset({"seed", "p"}),
    "dim_of": frozenset(),
}
MAX_ELEMENTS = 1_000_000  # inputs are built in the trusted process: keep them small


class SpecError(ValueError):
    """An argument spec that cannot be materialised; ``key`` is the offending sub-key, if any."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key
        self.arg: str | None = None  # the argument whose spec is wrong (set where it is built)


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


def seed_of(*parts: object) -> int:
    """A stable 63-bit seed from any parts (exercise version, case index, argument name...)."""
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def _integers(spec: Mapping[str, Any], dtype: str, rng: np.random.Generator, shape: tuple[int, ...],
              low: int, high: int) -> np.ndarray:
    info = np.iinfo(dtype)
    low = max(_int(spec, "low", low), int(info.min))
    high = min(_int(spec, "high", high), int(info.max) + 1)
    if low >= high:
        raise SpecError(f"expected low < high within {dtype}, got [{low}, {high})", "low")
    return rng.integers(low, high, size=shape, dtype=np.int64).astype(dtype)


class DrawContext(Protocol):
    """What a generated input needs from the case being built (implemented by ``inputs.Draw``)."""

    def shape(self, value: Any, key: str) -> tuple[int, ...]: ...

    def rng(self, seed: int, purpose: str = "values") -> np.random.Generator: ...

    def dim_of(self, ref: Any, key: str) -> int: ...

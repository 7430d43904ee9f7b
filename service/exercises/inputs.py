"""Turn a case's YAML argument specs into sandbox arguments (numpy arrays or plain values), deterministically."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from service.domain import Case
from service.exercises.generated import generated_array
from service.exercises.specs import (  # noqa: F401 - SpecError, describe and the tables are used via this module
    ARG_DTYPES,
    MAX_ELEMENTS,
    SPEC_KEYS,
    SpecError,
    _default_float,
    _dtype,
    _infer_dtype,
    _int,
    _integers,
    _scan_literal,
    _shape,
    describe,
    seed_of,
)
from service.sandbox.protocol import ArgIn


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


class Draw:
    """One case being materialised: its other argument specs (for ``dim_of``/``index``) and its seed salt."""

    def __init__(self, framework: str, args: Mapping[str, Any] | None = None, salt: int | None = None,
                 variant_seed: int = 0) -> None:
        self.framework = framework
        self.args = dict(args or {})
        self.salt = salt
        self.variant_seed = variant_seed
        self.built: dict[str, ArgIn] = {}
        self._building: list[str] = []
        self._current = ""

    def arg(self, name: str) -> ArgIn:
        """Build argument ``name`` once (arguments it refers to first); a cycle is a SpecError."""
        if name in self.built:
            return self.built[name]
        if name in self._building:
            raise SpecError(f"arguments refer to each other in a cycle: {' -> '.join([*self._building, name])}")
        if name not in self.args:
            raise SpecError(f"expected the name of another argument of this case, got {name!r}")
        self._building.append(name)
        outer, self._current = self._current, name
        try:
            spec = self.args[name]
            array = array_from_spec(spec, self.framework, self)
            built = ArgIn(name=name, value=plain_value(spec, self)) if array is None else ArgIn(name=name, array=array)
        except SpecError as exc:
            exc.arg = exc.arg or name
            raise
        finally:
            self._building.pop()
            self._current = outer
        self.built[name] = built
        return built

    def rng(self, seed: int, purpose: str = "values") -> np.random.Generator:
        if seed < 0:
            raise SpecError(f"expected a non-negative seed, got {seed}", "seed")
        if self.salt is None and not self.variant_seed:
            # Hand-written cases without variants keep their exact historical draws.
            return np.random.default_rng(seed if purpose == "values" else [seed, seed_of(self._current, purpose)])
        variant = self.variant_seed & ((1 << 64) - 1)  # any int a variant scheme hands us, as SeedSequence wants
        return np.random.default_rng([seed, self.salt or 0, variant, seed_of(self._current, purpose)])

    def dim_of(self, ref: Any, key: str) -> int:
        """The size of axis ``ref[1]`` of argument ``ref[0]``."""
        if (not isinstance(ref, list) or len(ref) != 2 or not isinstance(ref[0], str)
                or not isinstance(ref[1], int) or isinstance(ref[1], bool)):
            raise SpecError(f"expected [argument, axis] such as [a, 0], got {describe(ref)}", key)
        other = self.arg(ref[0]).array
        if other is None:
            raise SpecError(f"expected {ref[0]!r} to be an array argument (dim_of reads its shape)", key)
        if not -other.ndim <= ref[1] < other.ndim:
            raise SpecError(f"axis {ref[1]} is out of range for {ref[0]!r} with {other.ndim} axes", key)
        return int(other.shape[ref[1]])

    def shape(self, value: Any, key: str) -> tuple[int, ...]:
        """A literal shape, ``{random: [[lo, hi], ...], seed}`` (sizes drawn, inclusive) or sizes from
        ``{dim_of: [arg, axis]}`` items."""
        if isinstance(value, Mapping) and "random" in value:
            extra = set(value) - {"random", "seed"}
            if extra:
                raise SpecError(f"unknown key {sorted(extra)[0]!r} in a random shape (allowed: random, seed)", key)
            ranges = value["random"]
            if not isinstance(ranges, list):
                raise SpecError(f"expected a list of [low, high] size ranges, got {describe(ranges)}", key)
            rng = self.rng(_int(value, "seed", 0), f"shape:{key}")
            sizes: list[Any] = []
            for item in ranges:
                if isinstance(item, list):
                    if (len(item) != 2 or not all(isinstance(n, int) and not isinstance(n, bool) for n in item)
                            or not 0 <= item[0] <= item[1]):
                        raise SpecError(f"expected a size range [low, high] with 0 <= low <= high, got {item!r}", key)
                    sizes.append(int(rng.integers(item[0], item[1] + 1)))
                else:
                    sizes.append(item)
            value = sizes
        if isinstance(value, list):
            value = [self.dim_of(v["dim_of"], key) if isinstance(v, Mapping) and "dim_of" in v else v for v in value]
        return _shape(value, key)


def _random(spec: Mapping[str, Any], framework: str, ctx: Draw) -> np.ndarray:
    shape = ctx.shape(spec["random"], "random")
    dtype = _dtype(spec, _default_float(framework))
    rng = ctx.rng(_int(spec, "seed", 0))
    if dtype == "bool":
        return rng.integers(0, 2, size=shape).astype(np.bool_)
    if dtype.startswith(("int", "uint")):
        return _integers(spec, dtype, rng, shape, -9, 10)
    if dtype.startswith("complex"):
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def array_from_spec(spec: Any, framework: str, ctx: Draw | None = None) -> np.ndarray | None:
    """The array a spec describes, or None for ``{value: ...}`` (a plain Python value). Raises SpecError.

    ``ctx`` carries the case's other arguments (for ``dim_of`` and ``index``) and its seed salt."""
    ctx = ctx or Draw(framework)
    if not isinstance(spec, Mapping):
        if not isinstance(spec, list | int | float):
            raise SpecError("expected a nested list of numbers or a mapping with one of "
                            f"arange/coded/random/literal/value/{'/'.join(list(SPEC_KEYS)[5:])}, got {describe(spec)}")
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
    if kind in ("value", "dim_of"):
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
        shape = ctx.shape(spec["arange"], "arange")
        dtype = _dtype(spec, "int64")
        start = _int(spec, "start", 0)
        n = int(np.prod(shape, dtype=np.int64))
        return np.arange(start, start + n, dtype=np.int64).astype(dtype).reshape(shape)
    if kind == "coded":
        return _coded(ctx.shape(spec["coded"], "coded"))
    if kind == "random":
        return _random(spec, framework, ctx)
    return generated_array(kind, spec, framework, ctx)


def plain_value(spec: Any, ctx: Draw) -> Any:
    """The Python value of a ``{value: ...}`` or ``{dim_of: [arg, axis]}`` spec."""
    if "dim_of" in spec:
        return ctx.dim_of(spec["dim_of"], "dim_of")
    return spec["value"]


def materialize(case: Case, framework: str, variant_seed: int = 0) -> tuple[ArgIn, ...]:
    """The arguments of ``case`` in YAML order: arrays for tensor specs, plain values for ``{value: ...}``.

    Arguments may refer to others (``dim_of``, ``index``); ``variant_seed`` (a learner's variant) and the
    case's ``salt`` (generated cases) are mixed into every random draw."""
    ctx = Draw(framework, case.args, case.salt, variant_seed)
    return tuple(ctx.arg(name) for name in case.args)


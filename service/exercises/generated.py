"""Generated inputs: ones, zeros, full, randint, index, mask, and ``generate: N`` hidden cases."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from service.domain import Case, Generate
from service.exercises.specs import (
    DrawContext,
    SpecError,
    _default_float,
    _dtype,
    _int,
    _integers,
    describe,
    seed_of,
)

MAX_GENERATED = 50  # hidden cases per exercise: each one is a sandbox call's worth of comparisons


def generated_array(kind: str, spec: Mapping[str, Any], framework: str, ctx: DrawContext) -> np.ndarray:
    """The array of a generated-input spec (``kind`` is one of ones/zeros/full/randint/index/mask)."""
    if kind in ("ones", "zeros"):
        shape = ctx.shape(spec[kind], kind)
        return (np.ones if kind == "ones" else np.zeros)(shape, dtype=_dtype(spec, _default_float(framework)))
    if kind == "full":
        fill = spec.get("fill", 0)
        if isinstance(fill, bool):
            default = "bool"
        elif isinstance(fill, int):
            default = "int64"
        elif isinstance(fill, float):
            default = _default_float(framework)
        else:
            raise SpecError(f"expected a number or a boolean to fill with, got {describe(fill)}", "fill")
        return np.full(ctx.shape(spec["full"], "full"), fill, dtype=_dtype(spec, default))
    if kind == "randint":
        dtype = _dtype(spec, "int64")
        if not dtype.startswith(("int", "uint")):
            raise SpecError(f"expected an integer dtype for randint, got {dtype!r}", "dtype")
        shape = ctx.shape(spec["randint"], "randint")
        return _integers(spec, dtype, ctx.rng(_int(spec, "seed", 0)), shape, 0, 10)
    if kind == "index":
        size = ctx.dim_of(spec["index"], "index")
        shape = ctx.shape(spec.get("shape", [size]), "shape")
        dtype = _dtype(spec, "int64")
        if not dtype.startswith(("int", "uint")):
            raise SpecError(f"expected an integer dtype for indices, got {dtype!r}", "dtype")
        if size == 0 and int(np.prod(shape)) > 0:
            raise SpecError(f"{spec['index'][0]!r} has no element on axis {spec['index'][1]} to index", "index")
        # Valid indices of that axis: what gather/take/fancy indexing may receive.
        return ctx.rng(_int(spec, "seed", 0)).integers(0, max(size, 1), size=shape).astype(dtype)
    if kind == "mask":
        p = spec.get("p", 0.5)
        if not isinstance(p, int | float) or isinstance(p, bool) or not 0 <= p <= 1:
            raise SpecError(f"expected a probability p from 0 to 1, got {p!r}", "p")
        shape = ctx.shape(spec["mask"], "mask")
        return ctx.rng(_int(spec, "seed", 0)).random(shape) < p
    raise SpecError(f"unknown input kind {kind!r}")


def _has_draw(spec: Any) -> bool:
    """True when a spec draws something at random (values or a shape), so re-seeding changes it."""
    if isinstance(spec, Mapping):
        return any(k in spec for k in ("random", "randint", "index", "mask")) or any(
            _has_draw(v) for v in spec.values())
    if isinstance(spec, list):
        return any(_has_draw(v) for v in spec)
    return False


def templates_of(cases: tuple[Case, ...]) -> tuple[Mapping[str, Any], ...]:
    """For ``generate: N``: the argument sets of the hand-written cases that draw something at random."""
    return tuple(c.args for c in cases if any(_has_draw(s) for s in c.args.values()))


def generated_cases(gen: Generate, version: str) -> tuple[Case, ...]:
    """``gen.count`` hidden cases, round-robin over the templates, each seeded from the exercise version."""
    base = seed_of(version)
    return tuple(Case(name=f"generated-{i + 1}", visible=False, args=gen.templates[i % len(gen.templates)],
                      salt=seed_of(base, i)) for i in range(gen.count) if gen.templates)

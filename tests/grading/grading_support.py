"""Builders for grading tests: exercises and sandbox Values made from plain numpy arrays."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from service.domain import Case, CheckSpec, Exercise, Limits, Rules, Text
from service.sandbox.protocol import ArgIn, CaseOut, Value


def exercise(**overrides: Any) -> Exercise:
    fields: dict[str, Any] = {
        "id": "t-ex", "kind": "code", "framework": "torch", "track": "test",
        "title": Text("T", "T"), "prompt": Text("P", "P"), "difficulty": 1, "tags": (),
        "cases": (Case("visible-1", True, {"x": [[1, 2, 3], [4, 5, 6]]}),),
    }
    fields.update(overrides)
    # The reference cache keys on content_hash: derive it from everything that changes the reference run.
    key = repr([fields.get(k) for k in ("solution", "cases", "framework", "entry", "limits", "id")])
    fields.setdefault("content_hash", hashlib.sha256(key.encode()).hexdigest())
    if isinstance(fields.get("check"), dict):
        fields["check"] = CheckSpec(**fields["check"])
    if isinstance(fields.get("rules"), dict):
        fields["rules"] = Rules(**fields["rules"])
    if isinstance(fields.get("limits"), dict):
        fields["limits"] = Limits(**fields["limits"])
    return Exercise(**fields)


def tensor(a: Any, *, dtype: str | None = None, kind: str = "tensor", device: str = "cpu",
           shares: tuple[str, ...] = (), contiguous: bool | None = None,
           channels_last: bool | None = None) -> Value:
    arr = np.asarray(a)
    strides = tuple(s // arr.itemsize for s in arr.strides) if arr.itemsize else None
    return Value(kind=kind, array=arr, dtype=dtype or str(arr.dtype), shape=arr.shape, device=device,  # type: ignore[arg-type]
                 strides=strides, shares_input=shares,
                 contiguous=arr.flags.c_contiguous if contiguous is None else contiguous,
                 channels_last=channels_last)


def scalar(v: Any) -> Value:
    kind = {bool: "bool", int: "int", float: "float", str: "str", complex: "complex"}[type(v)]
    return Value(kind=kind, scalar=v)  # type: ignore[arg-type]


def seq(*items: Value, kind: str = "tuple") -> Value:
    return Value(kind=kind, items=list(items))  # type: ignore[arg-type]


def arg(a: Any, name: str = "x") -> tuple[ArgIn, ...]:
    return (ArgIn(name=name, array=np.asarray(a)),)


def facts(name: str = "c", *, unchanged: bool = True, warnings: list[str] | None = None) -> CaseOut:
    return CaseOut(name=name, inputs_unchanged={"x": unchanged}, warnings=warnings or [])


def codes(diagnoses: list) -> list[str]:
    return [d.code for d in diagnoses]


def coded(*shape: int) -> np.ndarray:
    """Coordinate-coded values (like exercises' ``coded:``): every element names its own index."""
    idx = np.indices(shape)
    out = np.full(shape, 10 ** len(shape), dtype=np.int64)
    for axis in range(len(shape)):
        out += idx[axis] * 10 ** (len(shape) - 1 - axis)
    return out

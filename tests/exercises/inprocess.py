"""Test helper: run a trusted exercise solution in this process (no sandbox) to get reference outputs."""

from __future__ import annotations

import numpy as np
import torch

from service.domain import Exercise
from service.grading.reference import build_cases
from service.sandbox.protocol import CaseIn, CaseOut, Value


def _shares(out: object, inputs: dict[str, object]) -> tuple[str, ...]:
    names = []
    for name, inp in inputs.items():
        if isinstance(out, torch.Tensor) and isinstance(inp, torch.Tensor):
            if out.untyped_storage().data_ptr() == inp.untyped_storage().data_ptr():
                names.append(name)
        elif isinstance(out, np.ndarray) and isinstance(inp, np.ndarray) and np.shares_memory(out, inp):
            names.append(name)
    return tuple(names)


def _value(out: object, inputs: dict[str, object]) -> Value:
    if isinstance(out, torch.Tensor):
        return Value(kind="tensor", array=out.detach().cpu().resolve_conj().numpy().copy(),
                     dtype=str(out.dtype).removeprefix("torch."), shape=tuple(out.shape), device="cpu",
                     strides=tuple(out.stride()), contiguous=out.is_contiguous(), shares_input=_shares(out, inputs))
    if isinstance(out, np.ndarray):
        return Value(kind="ndarray", array=out.copy(), dtype=str(out.dtype), shape=out.shape, device="cpu",
                     contiguous=bool(out.flags.c_contiguous), shares_input=_shares(out, inputs))
    if isinstance(out, tuple | list):
        return Value(kind="tuple" if isinstance(out, tuple) else "list", items=[_value(o, inputs) for o in out])
    return Value(kind="other", type_name=type(out).__name__, scalar=out)


def reference_outputs(exercise: Exercise) -> tuple[tuple[CaseIn, ...], dict[str, CaseOut]]:
    """(materialised cases, reference output per case), computed in-process from the trusted solution."""
    cases = build_cases(exercise)
    namespace: dict[str, object] = {}
    exec(compile(exercise.solution, exercise.source_path or "<solution>", "exec"), namespace)  # trusted content
    entry = namespace[exercise.entry]
    outputs = {}
    for case in cases:
        kwargs = {}
        for a in case.args:
            if a.array is None:
                kwargs[a.name] = a.value
            elif exercise.framework == "torch":
                kwargs[a.name] = torch.from_numpy(a.array.copy())
            else:
                kwargs[a.name] = a.array.copy()
        outputs[case.name] = CaseOut(case.name, value=_value(entry(**kwargs), kwargs))  # type: ignore[operator]
    return cases, outputs

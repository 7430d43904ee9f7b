"""Test support: exercise file templates and an in-process runner for trusted test code (no sandbox)."""

from __future__ import annotations

import numpy as np
import torch

from service.sandbox.protocol import CaseOut, Job, RawRun, Value

TRACK = "title: {en: Basics, ja: 基本}\norder: 1\n"

VALID = """\
id: {id}
kind: code
framework: torch
title: {{en: "Transpose", ja: "転置"}}
prompt: {{en: "Swap the axes.", ja: "軸を入れ替える。"}}
difficulty: 1
tags: [permute]
starter: |
  def solve(x):
      ...
solution: |
  def solve(x):
      return x.permute(1, 0)
cases:
  - name: example
    visible: true
    args: {{x: [[1, 2, 3], [4, 5, 6]]}}
  - args: {{x: {{arange: [3, 5]}}}}
"""


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


class InProcessRunner:
    """Runs a Job's code in this process: a stand-in for the sandbox in linter/validator unit tests only.

    Never use it for untrusted code; here every job is a test's own solution or wrong answer.
    """

    def __init__(self) -> None:
        self.jobs: list[Job] = []

    def run(self, job: Job, cancel: object = None) -> RawRun:
        self.jobs.append(job)
        namespace: dict[str, object] = {}
        try:
            exec(compile(job.code, "<submission>", "exec"), namespace)
        except SyntaxError as exc:
            return RawRun(status="syntax_error", error={"type": "SyntaxError", "message": str(exc)})
        entry = namespace.get(job.entry)
        if not callable(entry):
            return RawRun(status="missing_function")
        run = RawRun(status="ok")
        for case in job.cases:
            kwargs: dict[str, object] = {}
            for a in case.args:
                if a.array is None:
                    kwargs[a.name] = a.value
                else:
                    kwargs[a.name] = torch.from_numpy(a.array.copy()) if job.framework == "torch" else a.array.copy()
            try:
                run.cases[case.name] = CaseOut(case.name, value=_value(entry(**kwargs), kwargs),
                                               inputs_unchanged={n: True for n in kwargs})
            except Exception as exc:
                run.cases[case.name] = CaseOut(case.name, error={"type": type(exc).__name__, "message": str(exc)})
        return run

"""Reference outputs, computed by running the exercise's solution in the same sandbox, cached per version."""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from service.domain import Exercise
from service.exercises.inputs import materialize
from service.sandbox.protocol import CaseIn, CaseOut, Job, RawRun

CACHE_SIZE = 512  # exercise versions x devices; one entry is a handful of small arrays


class Runner(Protocol):
    # ``cancel``: set by the engine to stop a run whose outcome no longer matters (see learner.run_learner).
    def run(self, job: Job, cancel: threading.Event | None = None) -> RawRun: ...


class ReferenceFailed(RuntimeError):
    """The exercise's own solution did not produce an output: a broken exercise, reported as grader_error."""


@dataclass(frozen=True)
class Prepared:
    cases: tuple[CaseIn, ...]  # materialised inputs, trusted side
    outputs: dict[str, CaseOut]  # reference output per case name
    reference_ms: float  # 0.0 when served from the cache


def build_cases(exercise: Exercise) -> tuple[CaseIn, ...]:
    """Materialised inputs; a per-learner variant's seed is mixed into every random draw."""
    seed = exercise.variant_seed or 0
    return tuple(CaseIn(name=c.name, args=materialize(c, exercise.framework, seed)) for c in exercise.cases)


def with_helpers(exercise: Exercise, code: str) -> str:
    """The code a run executes: the submission, then the exercise's helpers. After, so that the learner's
    line numbers stay exact and a learner's own definition cannot replace a helper."""
    if not exercise.helpers:
        return code
    return f"{code.rstrip()}\n\n\n# ---- helpers provided by the exercise ----\n{exercise.helpers}"


def job_for(exercise: Exercise, code: str, cases: tuple[CaseIn, ...], device: str, time_s: float) -> Job:
    return Job(code=with_helpers(exercise, code), entry=exercise.entry, framework=exercise.framework, cases=cases,
               time_s=time_s, memory_mb=exercise.limits.memory_mb, device=device)


def pin_errors(exercise: Exercise, outputs: Mapping[str, CaseOut]) -> list[str]:
    """Where the reference's output contradicts a case's ``expect`` / ``expect_shape`` (a typo in the solution
    must never become the expected output learners are graded against)."""
    errors = []
    for case in exercise.cases:
        value = outputs[case.name].value if case.name in outputs else None
        if (case.expect is None and case.expect_shape is None) or value is None:
            continue
        got = value.array
        if got is None:
            errors.append(f"case {case.name!r}: the reference returns a {value.kind}, the case pins an array")
            continue
        if case.expect_shape is not None and tuple(got.shape) != tuple(case.expect_shape):
            errors.append(f"case {case.name!r}: the reference returns shape {tuple(got.shape)}, "
                          f"expect_shape pins {tuple(case.expect_shape)}")
        if case.expect is not None:
            pinned = np.asarray(case.expect)
            same = pinned.shape == got.shape and bool(np.all(np.isclose(got.astype(np.complex128),
                                                                        pinned.astype(np.complex128),
                                                                        rtol=1.3e-6, atol=1e-5)))
            if not same:
                errors.append(f"case {case.name!r}: the reference returns {np.array2string(got, separator=', ')}, "
                              f"expect pins {np.array2string(pinned, separator=', ')}")
    return errors


def _why(error: dict | None, detail: str) -> str:
    """The reference's own error, never an empty string: type, message and the line it came from."""
    error = error or {}
    text = f"{error.get('type') or ''}: {error.get('message') or ''}".strip(": ")
    line = error.get("line") or error.get("lineno")
    if not line:
        frames = re.findall(r"line (\d+)", str(error.get("traceback") or ""))
        line = frames[-1] if frames else None
    parts = [p for p in (text, f"line {line} of the solution" if line else "", detail) if p]
    return "; ".join(parts) or "no error text (the sandbox reported nothing)"


class ReferenceCache:
    """LRU of reference outputs keyed by (exercise id, content_hash, variant, device); thread-safe.

    Why a separate run: the solution and the expected values must never enter the learner's sandbox, so the
    reference runs in its own single-use sandbox and its outputs stay on the trusted side.
    """

    def __init__(self, runner: Runner, size: int = CACHE_SIZE) -> None:
        self._runner = runner
        self._size = size
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, str, str, str, int, str], Prepared] = OrderedDict()

    def get(self, exercise: Exercise, device: str = "cpu") -> Prepared:
        # The variant too: validation builds every variant with no learner seed.
        key = (exercise.id, exercise.content_hash, exercise.framework, device, exercise.variant_seed or 0,
               exercise.variant)
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None:
                self._entries.move_to_end(key)
                return Prepared(hit.cases, hit.outputs, 0.0)
        # Computed outside the lock: two concurrent misses just run the (deterministic) reference twice.
        start = time.perf_counter()
        cases = build_cases(exercise)
        # The reference gets extra time: a slow first import must not fail a correct exercise.
        run = self._runner.run(job_for(exercise, exercise.solution, cases, device,
                                       max(exercise.limits.time_s * 2, 5.0)))
        if run.status != "ok":
            raise ReferenceFailed(f"reference solution ({exercise.framework}) run ended with {run.status}: "
                                  f"{_why(run.error, run.detail)}")
        missing = [c.name for c in cases if c.name not in run.cases or run.cases[c.name].value is None]
        if missing:
            errors = "; ".join(f"{n}: {_why(run.cases[n].error, 'no output')}" for n in missing if n in run.cases)
            raise ReferenceFailed(f"reference solution ({exercise.framework}) produced no output for "
                                  f"{', '.join(missing)}: {errors or 'the run stopped before them'}")
        disagreements = pin_errors(exercise, run.cases)
        if disagreements:
            raise ReferenceFailed("the reference solution disagrees with the pinned expectations: "
                                  + "; ".join(disagreements))
        prepared = Prepared(cases, dict(run.cases), (time.perf_counter() - start) * 1000)
        with self._lock:
            self._entries[key] = prepared
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return prepared

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

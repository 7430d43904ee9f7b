"""Weak-test linter: plausible wrong answers (reshape, other axis orders, wrong dtype...) that no case catches."""

from __future__ import annotations

import ast
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from service.domain import Exercise
from service.exercises.loader import key_line
from service.exercises.schema import LINT_CANDIDATES
from service.grading.compare import compare_case
from service.grading.diagnose import MAX_NDIM
from service.grading.rules import used_names
from service.sandbox.protocol import ArgIn, CaseIn, CaseOut, Value

# Another dtype a learner plausibly ends up with (forgot a cast, cast twice, default float...).
WRONG_DTYPE = {
    "bool": "int64", "uint8": "int64", "int8": "int64", "int16": "int64", "int32": "int64", "int64": "int32",
    "float16": "float32", "bfloat16": "float32", "float32": "float64", "float64": "float32",
    "complex64": "complex128", "complex128": "complex64",
}
PERMUTE_NAMES = {"permute", "transpose", "T", "mT", "swapaxes", "swapdims", "moveaxis", "movedim", "einsum", "t"}
RESHAPE_NAMES = {"reshape", "view", "flatten", "ravel", "unflatten", "view_as", "reshape_as", "squeeze", "unsqueeze"}
Key = tuple[object, ...]  # what a candidate does on a generic input: ("identity",), ("perm", q), ("reshape",)...


@dataclass
class Candidate:
    """One wrong answer as a function of the lint input: its output per case (None = not applicable)."""

    name: str
    label: str
    key: Key
    outputs: dict[str, np.ndarray | None] = field(default_factory=dict)
    dtype: str | None = None  # wrong_dtype only: the dtype name it reports
    perm: tuple[int, ...] | None = None
    passing: list[str] = field(default_factory=list)  # cases that do not catch it
    caught_by: list[str] = field(default_factory=list)
    killed: dict[str, str] = field(default_factory=dict)  # case -> the first check that failed it

    @property
    def applicable(self) -> bool:
        return any(v is not None for v in self.outputs.values())

    @property
    def passes_all(self) -> bool:
        return self.applicable and not self.caught_by


@dataclass(frozen=True)
class Finding:
    """A wrong answer that passes every case; ``waiver`` is the ``allow:`` reason when waived."""

    exercise_id: str
    file: str
    candidate: str
    labels: tuple[str, ...]
    cases: tuple[str, ...]
    reason: str
    waiver: str | None = None
    line: int = 1  # of `cases:` (or of `allow:` when waived)

    def __str__(self) -> str:
        what = f"{self.candidate} ({', '.join(self.labels)})" if self.labels != (self.candidate,) else self.candidate
        if self.waiver is not None:
            return f"{self.file}:{self.line}: allow.{self.candidate}: waived ({self.waiver}): {what} passes every case"
        return (f"{self.file}:{self.line}: cases: weak tests: the wrong answer {what} passes every case "
                f"({', '.join(self.cases)}): {self.reason}; add a case that catches it or waive it with "
                f"allow: {{{self.candidate}: \"<reason>\"}}")


@dataclass
class LintResult:
    exercise_id: str
    skipped: str = ""  # why the linter did not apply (quiz, output not a single array...)
    findings: list[Finding] = field(default_factory=list)
    waived: list[Finding] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)
    reference_key: Key | None = None  # the candidate behaviour presumed to be the reference's own

    def wrong_answers(self) -> list[Candidate]:
        """Applicable candidates that are genuinely wrong (not the reference's own behaviour)."""
        return [c for c in self.candidates if c.applicable and c.key != self.reference_key]


def lint_input_name(exercise: Exercise, args: Sequence[ArgIn]) -> str | None:
    if exercise.lint_input:
        return exercise.lint_input
    return next((a.name for a in args if a.array is not None), None)


def _candidates(x_by_case: Mapping[str, np.ndarray | None], expected: Mapping[str, Value]) -> list[Candidate]:
    out: dict[tuple[str, Key], Candidate] = {}

    def add(name: str, label: str, key: Key, case: str, arr: np.ndarray | None,
            dtype: str | None = None, perm: tuple[int, ...] | None = None) -> None:
        blank: dict[str, np.ndarray | None] = {c: None for c in expected}  # not applicable until shown otherwise
        cand = out.setdefault((name, key), Candidate(name, label, key, blank, dtype=dtype, perm=perm))
        cand.outputs[case] = arr

    # Reshaping to the input's own shape is no change at all: then "reshape" is the unchanged input.
    same_shape_everywhere = all(
        x is not None and expected[c].array is not None and x.shape == expected[c].array.shape  # type: ignore[union-attr]
        for c, x in x_by_case.items())
    for case, e in expected.items():
        x = x_by_case.get(case)
        assert e.array is not None
        wrong = WRONG_DTYPE.get(e.dtype or str(e.array.dtype))
        if wrong is not None:
            add("wrong_dtype", f"as {wrong}", ("dtype", wrong), case, e.array.astype(wrong), dtype=wrong)
        if x is None:
            continue
        shape = e.array.shape
        add("unchanged_input", "unchanged_input", ("identity",), case, x if x.shape == shape else None)
        if x.size == e.array.size:
            key: Key = ("identity",) if same_shape_everywhere else ("reshape",)
            add("reshape", "reshape", key, case, x.reshape(shape))
        if x.ndim >= 2 and x.ndim <= MAX_NDIM:  # the diagnosis bound: 720 permutations, still instant
            rev = tuple(range(x.ndim))[::-1]
            t = x.transpose()
            add("reversed_axes", "reversed_axes", ("reverse",), case, t if t.shape == shape else None)
            if x.ndim > 2:
                add("transpose_all", "transpose_all", ("reverse",), case, t if t.shape == shape else None)
            for q in itertools.permutations(range(x.ndim)):
                if q == rev or q == tuple(sorted(q)):
                    continue
                moved = x.transpose(q)
                add("other_permutation", f"permute{q}", ("perm", q), case,
                    moved if moved.shape == shape else None, perm=q)
    return list(out.values())


def _value(expected: Value, arr: np.ndarray, dtype: str | None) -> Value:
    # Structure (view, strides, contiguity) is copied from the reference: the linter asks whether the
    # shapes, dtypes and values of the cases catch the wrong answer, not whether a structure check does.
    return replace(expected, array=arr, dtype=dtype or str(arr.dtype), shape=tuple(arr.shape), items=[])


def _reference_key(exercise: Exercise, keys: set[Key]) -> Key:
    """Which of several indistinguishable behaviours the reference itself has, from the names it uses."""
    try:
        names = used_names(ast.parse(exercise.solution))
    except SyntaxError:
        names = set()
    order: list[Key] = sorted(keys, key=repr)
    perms = [k for k in order if k[0] in ("reverse", "perm")]
    if names & PERMUTE_NAMES and perms:
        return perms[0]
    if names & RESHAPE_NAMES and ("reshape",) in keys:
        return ("reshape",)
    if ("identity",) in keys:
        return ("identity",)
    return order[0]


def _reason(exercise: Exercise, cand: Candidate, xs: list[np.ndarray]) -> str:
    if cand.name == "wrong_dtype":
        return "check.dtype is false" if not exercise.check.dtype else "the dtype check does not catch it"
    reasons = []
    if xs and all(1 in x.shape for x in xs):
        reasons.append("all cases have a size-1 axis")
    if xs and all(x.ndim >= 2 and len(set(x.shape)) == 1 for x in xs):
        reasons.append("every case is square")
    if xs and all(np.unique(x).size < x.size for x in xs):
        reasons.append("every case has repeated values")
    return " and ".join(reasons) or "no case tells it apart from the reference"


def lint_exercise(exercise: Exercise, cases: Sequence[CaseIn], outputs: Mapping[str, CaseOut]) -> LintResult:
    """Judge each candidate with the grader's own ``compare_case`` on every case of the reference run."""
    result = LintResult(exercise.id)
    if exercise.kind != "code":
        result.skipped = "quiz"
        return result
    expected: dict[str, Value] = {}
    for case in cases:
        out = outputs.get(case.name)
        if out is None or out.value is None or out.value.kind not in ("tensor", "ndarray") or out.value.array is None:
            result.skipped = "the reference output is not a single tensor/array"
            return result
        expected[case.name] = out.value
    xs: dict[str, np.ndarray | None] = {}
    for case in cases:
        name = lint_input_name(exercise, case.args)
        xs[case.name] = next((a.array for a in case.args if a.name == name), None)
    result.candidates = _candidates(xs, expected)
    args = {c.name: c.args for c in cases}
    for cand in result.candidates:
        for case_name, arr in cand.outputs.items():
            if arr is None:
                cand.caught_by.append(case_name)
                cand.killed[case_name] = "not applicable"
                continue
            verdict = compare_case(exercise, args[case_name], expected[case_name],
                                   _value(expected[case_name], arr, cand.dtype), None, visible=False,
                                   operations=False)
            (cand.passing if verdict.passed else cand.caught_by).append(case_name)
            cand.killed[case_name] = next((c.name for c in verdict.checks if not c.passed), "")
    passing = [c for c in result.candidates if c.passes_all and c.name != "wrong_dtype"]
    keys = {c.key for c in passing}
    # One behaviour passing everything is the reference's own; two or more means the cases cannot tell them apart.
    result.reference_key = _reference_key(exercise, keys) if keys else None
    wrong = [c for c in passing if len(keys) > 1 and c.key != result.reference_key]
    wrong += [c for c in result.candidates if c.name == "wrong_dtype" and c.passes_all]
    present = [x for x in xs.values() if x is not None]
    for name in LINT_CANDIDATES:
        group = [c for c in wrong if c.name == name]
        if not group:
            continue
        waiver = exercise.allow.get(name)
        finding = Finding(exercise.id, exercise.source_path, name, tuple(c.label for c in group),
                          tuple(group[0].passing), _reason(exercise, group[0], present), waiver,
                          key_line(exercise.source_path, "cases" if waiver is None else "allow"))
        (result.waived if finding.waiver is not None else result.findings).append(finding)
    return result

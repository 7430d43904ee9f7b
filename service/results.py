"""The one grading-result contract: every grading, whatever happened, ends as this JSON shape."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal, TypedDict, get_args

Status = Literal["graded", "error"]


class Bilingual(TypedDict):
    """A learner-facing message in both languages."""

    en: str
    ja: str


# The closed vocabulary of diagnosis codes (issue 3). Extend, never rename: LMSs and scripts key on them.
# A new code goes here and into the engine's ranking (grading/engine.py _SPECIFICITY); tests check both.
DiagnosisCode = Literal[
    "syntax_error",
    "missing_function",
    "runtime_error",
    "timeout",
    "memory_limit",
    "output_limit",
    "sandbox_violation",
    "forbidden_name",
    "missing_required_name",
    "wrong_type",
    "shape_mismatch",
    "dtype_mismatch",
    "device_mismatch",
    "value_mismatch",
    "wrong_axis_order",
    "reshape_instead_of_permute",
    "transpose_all_axes",
    "heads_split_wrong",
    "not_a_view",
    "not_contiguous",
    "input_mutated",
    # extensions
    "not_channels_last",
    "wrong_answer",
    "gpu_skipped",
    "grader_error",
    "crashed",  # the process died by a signal or exited early (RawRun status "crashed")
    "hardcoded_shape",  # visible cases pass, hidden ones fail, and the code writes a visible size as a number
    # authoring rules and diagnoses beyond rearranging (issue 15)
    "not_allowed_name",
    "too_many_lines",
    "not_single_expression",
    "wrong_reduction_axes",
    "missing_keepdim",
    "wrong_broadcast_axes",
    "wrong_contraction",
    "wrong_window",
]
DIAGNOSIS_CODES: tuple[DiagnosisCode, ...] = get_args(DiagnosisCode)


@dataclass
class Check:
    name: str  # e.g. "type", "shape", "dtype", "device", "values", "view_of_input", "input_unchanged"
    passed: bool
    message: str = ""  # English; the grammar is "<what>: <problem>, expected X, got Y"
    messages: dict[str, str] = field(default_factory=dict)  # {"en": ..., "ja": ...}


@dataclass
class Diagnosis:
    code: DiagnosisCode
    message: str  # English
    details: dict[str, Any] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)  # {"en": ..., "ja": ...}
    hint: dict[str, str] | None = None  # the exercise's hint for this code, {"en", "ja"}
    case: str | None = None  # the case it was found on (None: whole submission)
    primary: bool = False  # the one diagnosis that leads (the first); the others are folded under it

    def __post_init__(self) -> None:
        if self.code not in DIAGNOSIS_CODES:  # the vocabulary is closed: LMSs and statistics key on it
            raise ValueError(f"unknown diagnosis code {self.code!r}: add it to results.DiagnosisCode")


@dataclass
class CaseResult:
    name: str
    visible: bool
    passed: bool
    checks: list[Check] = field(default_factory=list)
    # Visible cases only: the learner's output and the expected one, as
    # {"kind": "tensor"|"ndarray"|..., "dtype", "shape", "values": nested lists, "device"}.
    output: dict[str, Any] | None = None
    expected: dict[str, Any] | None = None
    inputs: dict[str, Any] | None = None
    device: str = "cpu"
    # Visible: {"type", "message", "traceback"}. Hidden: {"type"} only, a builtin exception name or "Exception".
    error: dict[str, Any] | None = None
    # Hidden cases: one of grading.sealed.HIDDEN_STATUSES ("ok", "wrong_answer", "runtime_error", "timeout"...);
    # None for visible cases, whose checks say everything.
    status: str | None = None


@dataclass
class GradeResult:
    status: Status
    score: float
    passed: bool
    cases: list[CaseResult] = field(default_factory=list)
    diagnoses: list[Diagnosis] = field(default_factory=list)
    stdout: str = ""
    stderr: str = ""
    limits_hit: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # milliseconds
    exercise_id: str = ""
    exercise_version: str = ""
    exercise_variant: str = ""  # the learner's variant of an exercise with params ("" otherwise)
    kind: str = "code"
    explanation: dict[str, str] | None = None  # quiz kinds: shown once solved, or after giving up
    # Staged feedback: {"attempt", "stage" (1..3), "revealed", "primary", "next_stage_at", "can_reveal"}
    feedback: dict[str, Any] = field(default_factory=dict)
    # Staff only: per hidden case (and a failed hidden run) what the trusted side saw. Never in to_dict(),
    # which every learner-visible rendering starts from; stored in its own column for staff pages.
    staff: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The stored and served shape (never ``staff``). Built field by field, not with ``asdict``, which
        deep-copied every rendered tensor value (a third of storing a result): only the dataclasses
        (cases, their checks, diagnoses) become new dicts; their plain data is shared, not copied."""
        out = {name: getattr(self, name) for name in _RESULT_FIELDS}
        out["cases"] = [{**_shallow(case), "checks": [_shallow(c) for c in case.checks]} for case in self.cases]
        out["diagnoses"] = [_shallow(d) for d in self.diagnoses]
        return out


def _shallow(obj: Any) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


_RESULT_FIELDS = tuple(f.name for f in fields(GradeResult) if f.name != "staff")


def fallback(exercise_id: str, version: str, message: Bilingual, **details: Any) -> GradeResult:
    """The result of a grading that could not happen (``grader_error``): always an error, in both languages."""
    if not (message.get("en") and message.get("ja")):
        raise ValueError("a fallback result needs its message in English and Japanese")
    return GradeResult(
        status="error",
        score=0.0,
        passed=False,
        diagnoses=[Diagnosis(code="grader_error", message=message["en"], details=dict(details),
                             messages={"en": message["en"], "ja": message["ja"]})],
        exercise_id=exercise_id,
        exercise_version=version,
    )

"""The submission read model: ``SubmissionView`` and the one schema that gives its API (and webhook) shape."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from marshmallow import Schema, fields, validate

from service.domain import FINAL_STATUSES, SUBMISSION_STATUSES
from service.persistence import SubmissionRow


@dataclass(frozen=True)
class SubmissionView:
    id: int
    exercise_id: str
    user_id: int
    user: str
    status: str
    score: float | None
    passed: bool | None
    source: str
    code: str | None
    answer: Any
    created_at: datetime
    started_at: datetime | None
    graded_at: datetime | None
    exercise_version: str | None
    diagnosis: str | None
    callback_url: str | None
    result: dict[str, Any] | None = None
    reveal: bool = False  # a "show me" / "give up" request (the full feedback at once)
    framework: str | None = None  # the framework it was graded in (None: stored before issue 15 recorded it)
    replayed: bool = False  # True when an Idempotency-Key matched an earlier submission
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES

    # The stored ``GradeResult.to_dict()`` is flattened next to the submission's own fields.
    @property
    def cases(self) -> list[Any]:
        return list((self.result or {}).get("cases", []))

    @property
    def diagnoses(self) -> list[Any]:
        return list((self.result or {}).get("diagnoses", []))

    @property
    def stdout(self) -> str:
        return str((self.result or {}).get("stdout", ""))

    @property
    def stderr(self) -> str:
        return str((self.result or {}).get("stderr", ""))

    @property
    def limits_hit(self) -> list[str]:
        return list((self.result or {}).get("limits_hit", []))

    @property
    def timings(self) -> dict[str, float]:
        return dict((self.result or {}).get("timings", {}))

    @property
    def explanation(self) -> Any:
        return (self.result or {}).get("explanation")

    @property
    def feedback(self) -> dict[str, Any]:
        return dict((self.result or {}).get("feedback") or {})

    @property
    def exercise_variant(self) -> str:
        return str((self.result or {}).get("exercise_variant") or "")


def view(row: SubmissionRow, user_name: str | None = None, *, replayed: bool = False,
         version: str | None = None) -> SubmissionView:
    """``user_name`` and ``version`` (the exercise version's content hash), when the caller knows them,
    spare the two lazy loads of the row's user and exercise version."""
    if version is None:
        version = row.exercise_version.content_hash if row.exercise_version is not None else None
    if version is None and row.result:
        version = row.result.get("exercise_version") or None
    return SubmissionView(
        id=row.id, exercise_id=row.exercise_id, user_id=row.user_id, user=user_name or row.user.name,
        status=row.status, score=row.score, passed=row.passed, source=row.source, code=row.code,
        answer=row.answer, created_at=row.created_at, started_at=row.started_at, graded_at=row.graded_at,
        exercise_version=version, diagnosis=row.diagnosis, callback_url=row.callback_url, result=row.result,
        reveal=bool(row.reveal), replayed=replayed, framework=row.framework,
    )


class SubmissionSchema(Schema):
    """The API shape of a submission (REST responses and webhook ``data``): dumped from a ``SubmissionView``."""

    id = fields.Integer(required=True)
    exercise_id = fields.String(required=True)
    exercise_version = fields.String(allow_none=True)
    exercise_variant = fields.String(metadata={"description": "the learner's variant (exercises with params)"})
    user = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(SUBMISSION_STATUSES))
    score = fields.Float(allow_none=True)
    passed = fields.Boolean(allow_none=True)
    source = fields.String()
    code = fields.String(allow_none=True)
    answer = fields.Raw(allow_none=True)
    cases = fields.List(fields.Dict(), metadata={
        "description": "[{name, visible, passed, checks: [{name, passed, message}], output, expected}]"})
    diagnoses = fields.List(fields.Dict(), metadata={
        "description": "[{code, message, details, messages, hint, case, primary}]: the first (primary: true) "
                       "leads, the rest are folded under it"})
    stdout = fields.String()
    stderr = fields.String()
    limits_hit = fields.List(fields.String())
    timings = fields.Dict(keys=fields.String(), values=fields.Float())
    explanation = fields.Dict(allow_none=True)
    feedback = fields.Dict(metadata={"description": "staged feedback: {attempt, stage (1-3), revealed, primary, "
                                                    "next_stage_at, can_reveal}"})
    reveal = fields.Boolean(metadata={"description": "a \"show me\" / \"give up\" request"})
    framework = fields.String(allow_none=True, metadata={
        "description": "the framework it was graded in (torch | numpy): the one picked in the request, else the "
                       "exercise's first; null for submissions stored before this was recorded"})
    created_at = fields.DateTime(required=True)
    started_at = fields.DateTime(allow_none=True)
    graded_at = fields.DateTime(allow_none=True)


def to_json(submission: SubmissionView) -> dict[str, Any]:
    """The API shape as JSON-ready data (what a webhook carries, byte for byte what GET returns)."""
    data: dict[str, Any] = SubmissionSchema().dump(submission)
    return data

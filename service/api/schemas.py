"""marshmallow schemas of the REST API v1: what the OpenAPI document and the responses are built from."""

from __future__ import annotations

from typing import Any, get_args

from marshmallow import Schema, ValidationError, fields, validate

from service.domain import SUBMISSION_STATUSES, Framework, Kind
from service.services.submission_views import SubmissionSchema  # the one API shape of a submission


class Str(fields.String):
    """Input text without NUL characters (PostgreSQL text cannot hold them; no real input needs them)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text:
            raise ValidationError("must not contain NUL characters")
        return text


class ErrorSchema(Schema):
    code = fields.String(required=True, metadata={"description": "stable snake_case error code"})
    message = fields.String(required=True)
    details = fields.Raw(allow_none=True)


class TextSchema(Schema):
    en = fields.String(required=True)
    ja = fields.String(required=True)


class PageArgs(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class PaginationSchema(Schema):
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    total = fields.Integer(required=True)
    total_pages = fields.Integer(required=True)


class ExerciseListArgs(PageArgs):
    tag = Str()
    framework = Str(validate=validate.OneOf(get_args(Framework)))
    kind = Str(validate=validate.OneOf(get_args(Kind)))
    track = Str()


class ExerciseSummarySchema(Schema):
    id = fields.String(required=True)
    title = fields.Nested(TextSchema, required=True)
    kind = fields.String(required=True)
    framework = fields.String(required=True)
    tags = fields.List(fields.String(), required=True)
    difficulty = fields.Integer(required=True)
    track = fields.String(required=True)
    order = fields.Integer()
    version = fields.String(required=True, metadata={"description": "sha256 of the exercise file"})


class ExercisePageSchema(Schema):
    items = fields.List(fields.Nested(ExerciseSummarySchema), required=True)
    pagination = fields.Nested(PaginationSchema, required=True)


class VisibleCaseSchema(Schema):
    name = fields.String(required=True)
    label = fields.Nested(TextSchema, allow_none=True, metadata={"description": "the case's name per language"})
    inputs = fields.Raw(allow_none=True, metadata={"description": "argument name -> value or tensor spec"})
    expected = fields.Raw(allow_none=True, metadata={
        "description": "{kind, dtype, shape, values (nested lists), device} from the reference run"})


class ExerciseDetailSchema(ExerciseSummarySchema):
    prompt = fields.Nested(TextSchema, required=True)
    variant = fields.String(metadata={"description": "the caller's variant of an exercise with params "
                                                     "(e.g. `B=3,axis=2`); empty otherwise"})
    entry = fields.String()
    starter = fields.String(metadata={"description": "the English starter (see `starters`)"})
    starters = fields.Nested(TextSchema, allow_none=True, metadata={
        "description": "the starter code per language (docstrings and comments translated)"})
    rules = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))
    max_lines = fields.Integer(allow_none=True, metadata={"description": "rules.max_lines, null when not set"})
    single_expression = fields.Boolean(metadata={"description": "rules.single_expression"})
    helpers = fields.String(metadata={"description": "exercise-provided code, run with every submission"})
    frameworks = fields.List(fields.String(), metadata={
        "description": "frameworks a submission may answer in (its `framework`; the first is the default)"})
    framework_starters = fields.Dict(keys=fields.String(), values=fields.String(), metadata={
        "description": "code exercises: the English starter per offered framework"})
    limits = fields.Dict(keys=fields.String(), values=fields.Float())
    devices = fields.List(fields.String())
    choices = fields.List(fields.Nested(TextSchema), metadata={"description": "choice quizzes only"})
    visible_cases = fields.List(fields.Nested(VisibleCaseSchema))
    hidden_cases = fields.Integer(metadata={"description": "how many hidden cases grading also runs"})


class SubmitArgs(Schema):
    wait = fields.Integer(load_default=0, validate=validate.Range(min=0, max=30), metadata={
        "description": "seconds to block until graded (200 with the result); 0 answers 202 at once"})


class SubmitBodySchema(Schema):
    exercise_id = Str(required=True, validate=validate.Length(min=1, max=128), metadata={"example": "permute-2d"})
    code = Str(allow_none=True, metadata={"description": "for code exercises",
                                          "example": "def solve(x):\n    return x.permute(1, 0)\n"})
    answer = fields.Raw(allow_none=True, metadata={
        "description": "for quiz exercises: a shape (list of ints) or the chosen index / indices"})
    framework = Str(allow_none=True, validate=validate.OneOf(get_args(Framework)), metadata={
        "description": "the framework to be graded in, one of the exercise's `frameworks` (the inputs are torch "
                       "tensors or numpy arrays); default: the exercise's first. One it does not offer is "
                       "`422 framework_not_offered`", "example": "numpy"})
    reveal = fields.Boolean(load_default=False, metadata={
        "description": "\"show me\" (code) or \"give up\" (quiz, `answer` may then be null): the full feedback, "
                       "the answer's call or a quiz's answer and explanation, at once"})
    callback_url = fields.Url(allow_none=True, schemes={"http", "https"}, require_tld=False, metadata={
        "description": "http(s) URL POSTed a signed webhook (Standard Webhooks) when grading finishes",
        "format": "uri", "pattern": "^https?://"})


class SubmissionListArgs(PageArgs):
    user = Str(metadata={"description": "user name (staff only for other users)"})
    exercise_id = Str()
    status = Str(validate=validate.OneOf(SUBMISSION_STATUSES))


class SubmissionPageSchema(Schema):
    items = fields.List(fields.Nested(SubmissionSchema), required=True)
    pagination = fields.Nested(PaginationSchema, required=True)


class ProgressArgs(Schema):
    user = Str(metadata={"description": "user name; default: the caller"})


class ProgressItemSchema(Schema):
    exercise_id = fields.String(required=True)
    best_score = fields.Float(required=True)
    attempts = fields.Integer(required=True)
    solved = fields.Boolean(required=True)
    solved_at = fields.DateTime(allow_none=True)
    last_attempt_at = fields.DateTime(allow_none=True)


class ProgressSchema(Schema):
    user = fields.String(required=True)
    items = fields.List(fields.Nested(ProgressItemSchema), required=True)


class HealthSchema(Schema):
    status = fields.String(required=True, validate=validate.OneOf(["ok", "unhealthy"]))
    database = fields.Dict(required=True)
    exercises = fields.Dict(required=True)
    sandbox = fields.Dict(required=True)


class LivenessSchema(Schema):
    status = fields.String(required=True, validate=validate.OneOf(["ok"]))


class ReadinessSchema(Schema):
    status = fields.String(required=True, validate=validate.OneOf(["ready", "not_ready"]))
    checks = fields.Dict(required=True, metadata={
        "description": "database, schema, sandbox, zygote: each {ok, ...details}"})

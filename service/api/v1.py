"""REST API v1 endpoints: thin views that parse the request, call a service and shape the answer."""

from __future__ import annotations

from typing import Any

from flask import current_app, request, url_for
from flask.views import MethodView
from flask_smorest import Blueprint

from service.api import schemas
from service.api.auth import load_principal, principal, resolve_user
from service.api.pagination import paginate
from service.config import settings
from service.extensions import limit_grading, limiter
from service.services import exercises as exercise_service
from service.services import progress as progress_service
from service.services import submissions as submission_service

blp = Blueprint("api_v1", __name__, url_prefix="/api/v1", description="Kiwame REST API v1")
blp.before_request(load_principal)
# Per user (see extensions.rate_limit_key); the limit string is read per request so tests can lower it.
limiter.limit(lambda: settings(current_app).rate_limit)(blp)

ERRORS = (401, 403, 404, 413, 422, 429)


def _errors(*codes: int) -> Any:
    def wrap(fn: Any) -> Any:
        for code in codes:
            fn = blp.alt_response(code, schema=schemas.ErrorSchema, description="error")(fn)
        return fn
    return wrap


@blp.route("/exercises")
class Exercises(MethodView):
    @blp.arguments(schemas.ExerciseListArgs, location="query")
    @blp.response(200, schemas.ExercisePageSchema)
    @_errors(401, 429)
    def get(self, args: dict[str, Any]) -> Any:
        """List exercises, filterable by tag, framework, kind and track."""
        items = exercise_service.list_exercises(tag=args.get("tag"), framework=args.get("framework"),
                                                kind=args.get("kind"), track=args.get("track"))
        page, per_page = args["page"], args["per_page"]
        body, headers = paginate(items[(page - 1) * per_page:page * per_page], len(items), page, per_page)
        return body, 200, headers


@blp.route("/exercises/<string:exercise_id>", parameters=[
    {"in": "path", "name": "exercise_id", "schema": {"type": "string"}, "example": "permute-2d"}])
class ExerciseDetail(MethodView):
    @blp.response(200, schemas.ExerciseDetailSchema)
    @_errors(401, 404, 429)
    def get(self, exercise_id: str) -> Any:
        """One exercise as a learner sees it, with the visible cases' inputs and expected outputs."""
        return exercise_service.detail(exercise_id, principal().user_id)


@blp.route("/submissions")
class Submissions(MethodView):
    @blp.arguments(schemas.SubmitBodySchema)
    @blp.arguments(schemas.SubmitArgs, location="query")
    @blp.response(200, schemas.SubmissionSchema, description="graded within `wait` seconds")
    @blp.alt_response(202, schema=schemas.SubmissionSchema, description="queued; poll the Location header")
    @blp.doc(parameters=[{"in": "header", "name": "Idempotency-Key", "required": False,
                          "schema": {"type": "string", "maxLength": 255},
                          "description": "a retry with the same key returns the same submission"}])
    @limit_grading
    @_errors(*ERRORS)
    def post(self, body: dict[str, Any], query: dict[str, Any]) -> Any:
        """Submit code (code exercises) or an answer (quiz exercises) for grading."""
        me = principal()
        key = (request.headers.get("Idempotency-Key") or "").strip()[:255] or None
        view = submission_service.submit(submission_service.SubmitRequest(
            user_id=me.user_id, exercise_id=body["exercise_id"], code=body.get("code"),
            answer=body.get("answer"), source="api", idempotency_key=key,
            callback_url=body.get("callback_url"), token_id=me.token_id, reveal=bool(body.get("reveal")),
            user_name=me.user_name, framework=body.get("framework")))
        wait = min(query["wait"], settings(current_app).max_wait_s)
        if wait and not view.final:
            view = submission_service.wait_for(view.id, wait, viewer_id=me.user_id, staff=me.is_staff,
                                               fallback=view)
        headers = {"Location": url_for("api_v1.SubmissionDetail", submission_id=view.id)}
        return view, 200 if view.final else 202, headers

    @blp.arguments(schemas.SubmissionListArgs, location="query")
    @blp.response(200, schemas.SubmissionPageSchema)
    @_errors(401, 403, 404, 429)
    def get(self, args: dict[str, Any]) -> Any:
        """List submissions, newest first: your own, or anyone's (``?user=``) for instructors."""
        me = principal()
        user_id: int | None
        if args.get("user"):
            user_id, _ = resolve_user(args["user"])
        else:
            user_id = None if me.is_staff else me.user_id
        views, total = submission_service.list_submissions(
            user_id=user_id, exercise_id=args.get("exercise_id"), status=args.get("status"),
            page=args["page"], per_page=args["per_page"])
        body, headers = paginate(list(views), total, args["page"], args["per_page"])
        return body, 200, headers


@blp.route("/submissions/<int:submission_id>")
class SubmissionDetail(MethodView):
    @blp.response(200, schemas.SubmissionSchema)
    @_errors(401, 403, 404, 429)
    def get(self, submission_id: int) -> Any:
        """One submission with its full grading result."""
        me = principal()
        return submission_service.get_submission(submission_id, viewer_id=me.user_id, staff=me.is_staff)


@blp.route("/progress")
class ProgressView(MethodView):
    @blp.arguments(schemas.ProgressArgs, location="query")
    @blp.response(200, schemas.ProgressSchema)
    @_errors(401, 403, 404, 429)
    def get(self, args: dict[str, Any]) -> Any:
        """Per-exercise progress: best score, attempts, solved and when."""
        user_id, name = resolve_user(args.get("user"))
        items = [{"exercise_id": p.exercise_id, "best_score": p.best_score, "attempts": p.attempts,
                  "solved": p.solved, "solved_at": p.solved_at, "last_attempt_at": p.last_attempt_at}
                 for p in progress_service.list_progress(user_id)]
        return {"user": name, "items": items}

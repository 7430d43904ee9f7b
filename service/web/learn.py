"""Learner pages: exercise list, exercise page with JSON submit, submission history, progress."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, g, jsonify, request, url_for

from service.config import settings
from service.errors import Forbidden, KiwameError, NotFound
from service.extensions import limit_grading
from service.services import display
from service.services import submissions as submissions_service
from service.web import i18n
from service.web.common import catalog, exercise_or_404, is_staff, markdown, page, signin_required
from service.web.views import exercise_state, track_items

bp = Blueprint("learn", __name__)
# Strings the exercise page's script needs, sent once in the page's JSON block.
JS_PREFIXES = ("ex.", "grid.", "state.")


@bp.route("/")
@signin_required
def index() -> Any:
    return page("exercises.html", tracks=track_items(catalog(), g.user.id, g.lang))


@bp.route("/progress")
@signin_required
def progress() -> Any:
    course_id = request.args.get("course", type=int)
    only = None
    if course_id:  # one course's exercises (the learner must be enrolled in it)
        from service.services import lti_courses

        if not lti_courses.is_enrolled(course_id, g.user.id):
            abort(404)
        only = set(lti_courses.course_view(course_id).exercise_ids)
    return page("progress.html", tracks=track_items(catalog(), g.user.id, g.lang, only))


def _own_submission(submission_id: int) -> submissions_service.SubmissionView:
    try:
        return submissions_service.get_submission(submission_id, viewer_id=g.user.id, staff=is_staff())
    except (NotFound, Forbidden):
        abort(404)  # never confirm that another learner's submission exists


@bp.route("/exercises/<path:exercise_id>")
@signin_required
def exercise(exercise_id: str) -> Any:
    ex = exercise_or_404(exercise_id)
    code, result = None, None
    reopen = request.args.get("from", type=int)
    if reopen is not None:
        earlier = _own_submission(reopen)
        if earlier.exercise_id == ex.id:
            code, result = earlier.code, earlier.result
    lang = g.lang
    data = {
        "lang": lang,
        "exercise": {"id": ex.id, "kind": ex.kind, "framework": ex.framework, "starter": ex.starter,
                     "multi": isinstance(ex.answer, list) and ex.kind == "choice"},
        "cases": display.visible_inputs(ex) if ex.kind == "code" else [],
        "submitUrl": url_for("learn.submit", exercise_id=ex.id),
        "pollUrl": url_for("learn.submission_json", submission_id=0),
        "labels": {k: v for k, v in i18n.STRINGS[lang].items() if k.startswith(JS_PREFIXES)},
        "code": code,
        "result": result,
    }
    return page("exercise.html", exercise=ex, title=ex.title.get(lang), prompt_html=markdown(ex.prompt.get(lang)),
                state=exercise_state(g.user.id, ex.id), page_data=data, has_cases=bool(ex.visible_cases),
                choices=[c.get(lang) for c in ex.choices], multi=data["exercise"]["multi"])


@bp.route("/exercises/<path:exercise_id>/submit", methods=["POST"])
@signin_required
@limit_grading
def submit(exercise_id: str) -> Any:
    ex = exercise_or_404(exercise_id)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return jsonify({"code": "bad_request", "error": "expected a JSON object"}), 400
    req = submissions_service.SubmitRequest(
        user_id=g.user.id, exercise_id=ex.id, source="web",
        code=body.get("code") if ex.kind == "code" else None,
        answer=body.get("answer") if ex.kind != "code" else None)
    try:
        created = submissions_service.submit(req)
        done = submissions_service.wait_for(created.id, float(settings(current_app).max_wait_s),
                                            viewer_id=g.user.id, staff=is_staff())
    except KiwameError as err:
        return jsonify({"code": err.code, "error": err.message}), err.status
    return jsonify(_submission_payload(done))


def _submission_payload(sub: submissions_service.SubmissionView) -> dict[str, Any]:
    return {"id": sub.id, "status": sub.status, "pending": not sub.final, "result": sub.result if sub.final else None,
            "state": exercise_state(sub.user_id, sub.exercise_id)}


@bp.route("/submissions/<int:submission_id>.json")
@signin_required
def submission_json(submission_id: int) -> Any:
    return jsonify(_submission_payload(_own_submission(submission_id)))


@bp.route("/exercises/<path:exercise_id>/history")
@signin_required
def history(exercise_id: str) -> Any:
    ex = exercise_or_404(exercise_id)
    rows, _total = submissions_service.list_submissions(user_id=g.user.id, exercise_id=ex.id, status=None,
                                                        page=1, per_page=100)
    return page("history.html", rows=rows, exercise_id=ex.id, title=ex.title.get(g.lang))

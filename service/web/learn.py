"""Learner pages: exercise list, exercise page with JSON submit, submission history, progress."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, g, jsonify, request, url_for

from service.config import settings
from service.errors import Forbidden, KiwameError, NotFound
from service.extensions import limit_grading
from service.services import catalog as catalog_service
from service.services import display
from service.services import drafts as drafts_service
from service.services import predictions as predictions_service
from service.services import submissions as submissions_service
from service.web import frameworks, i18n
from service.web.common import (
    catalog,
    exercise_or_404,
    is_staff,
    markdown,
    page,
    signin_required,
)
from service.web.flow import landing
from service.web.views import exercise_state, for_viewer, next_exercise, page_progress, track_items

bp = Blueprint("learn", __name__)
# Strings the exercise page's script needs, sent once in the page's JSON block.
JS_PREFIXES = ("ex.", "grid.", "state.", "anim.", "pred.", "diag.")


@bp.route("/")
def index() -> Any:
    if g.get("user") is None:
        return landing()
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
    return page("progress.html", tracks=track_items(catalog(), g.user.id, g.lang, only),
                predicted=predictions_service.first_predictions(g.user.id))


def _own_submission(submission_id: int) -> submissions_service.SubmissionView:
    try:
        return submissions_service.get_submission(submission_id, viewer_id=g.user.id, staff=is_staff())
    except (NotFound, Forbidden):
        abort(404)  # never confirm that another learner's submission exists


@bp.route("/exercises/<path:exercise_id>")
@signin_required
def exercise(exercise_id: str) -> Any:
    ex = catalog_service.for_learner(exercise_or_404(exercise_id), g.user.id)
    code, result, resumed, last_fw = None, None, False, None
    reopen = request.args.get("from", type=int)
    if reopen is not None:
        earlier = _own_submission(reopen)
        if earlier.exercise_id == ex.id:
            code, result, last_fw = earlier.code, earlier.result, earlier.framework
    else:
        # The draft and the last verdict live on the server: a reload or another device picks them up.
        saved = drafts_service.resume(g.user.id, ex.id)
        code, result, resumed, last_fw = saved.code, saved.result, saved.result is not None, saved.framework
    current = frameworks.opening(ex, request.args.get("framework"), last_fw)
    if len(ex.offered) > 1 and ex.kind == "code" and reopen is None:
        # this framework's own draft or last code, never another framework's
        code = drafts_service.resume(g.user.id, ex.id, current, first=current == ex.framework).code
    switch = frameworks.switch(ex, g.user.id, g.lang, current, code)
    ex = ex.for_framework(current)
    lang = g.lang
    state, new_learner = page_progress(g.user.id, ex.id)
    predict_first = (ex.kind == "code" and bool(ex.visible_cases) and state == "not_tried" and code is None
                     and not any(f["code"] for f in switch) and new_learner and not predictions_service.has_predicted(g.user.id, ex.id))
    if request.args.get("mode") == "predict" and ex.kind == "code" and ex.visible_cases:
        predict_first = True
    data = {
        "lang": lang,
        "exercise": {"id": ex.id, "kind": ex.kind, "framework": ex.framework, "starter": ex.starter_for(lang),
                     "multi": isinstance(ex.answer, list) and ex.kind == "choice",
                     "frameworks": switch},
        "cases": display.visible_inputs(ex) if ex.kind == "code" else [],
        "submitUrl": url_for("learn.submit", exercise_id=ex.id),
        "pollUrl": url_for("learn.submission_json", submission_id=0),
        "labels": {k: v for k, v in i18n.STRINGS[lang].items() if k.startswith(JS_PREFIXES)},
        "code": code,
        "result": for_viewer(result, is_staff()),
        "resumed": resumed,
        "staff": is_staff(),
        "draftUrl": url_for("flow.save_draft", exercise_id=ex.id) if ex.kind == "code" else None,
        "examplesUrl": url_for("flow.examples", exercise_id=ex.id),
        "predictUrl": url_for("flow.predict", exercise_id=ex.id),
        "predictFirst": predict_first,
        "next": _next_link(ex.id) if state == "solved" else None,
    }
    return page("exercise.html", exercise=ex, title=ex.title.get(lang), prompt_html=markdown(ex.prompt.get(lang)),
                state=state, page_data=data, has_cases=bool(ex.visible_cases),
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
        user_id=g.user.id, user_name=g.user.name, exercise_id=ex.id, source="web",
        code=body.get("code") if ex.kind == "code" else None,
        answer=body.get("answer") if ex.kind != "code" else None, reveal=body.get("reveal") is True,
        framework=body.get("framework") if isinstance(body.get("framework"), str) else None)
    try:
        created = submissions_service.submit(req)
        done = submissions_service.wait_for(created.id, float(settings(current_app).max_wait_s),
                                            viewer_id=g.user.id, staff=is_staff(), fallback=created)
    except KiwameError as err:
        return jsonify({"code": err.code, "error": err.message}), err.status
    return jsonify(_submission_payload(done))


def _next_link(exercise_id: str) -> dict[str, str] | None:
    found = next_exercise(catalog(), g.user.id, exercise_id)
    ex = catalog().get(found) if found else None
    if ex is None:
        return None
    return {"url": url_for("learn.exercise", exercise_id=ex.id), "title": ex.title.get(g.lang)}


def _submission_payload(sub: submissions_service.SubmissionView) -> dict[str, Any]:
    result = for_viewer(sub.result, is_staff()) if sub.final else None
    passed = bool(result and result.get("passed"))
    return {"id": sub.id, "status": sub.status, "pending": not sub.final, "result": result,
            "state": exercise_state(sub.user_id, sub.exercise_id),
            "next": _next_link(sub.exercise_id) if passed and sub.user_id == g.user.id else None}


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
    return page("history.html", rows=rows, exercise_id=ex.id, title=ex.title.get(g.lang), several=len(ex.offered) > 1)

"""Instructor pages: class overview, per-exercise stats, learners' submissions, CSV, catalog, API tokens."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, current_app, flash, g, redirect, request, url_for

from service.errors import KiwameError
from service.services import catalog as catalog_service
from service.services import display, lti_courses
from service.services import instructor as instructor_service
from service.services import predictions as predictions_service
from service.services import tokens as tokens_service
from service.services import users as users_service
from service.web import i18n
from service.web.common import catalog, exercise_or_404, page, staff_required, t
from service.web.learn import JS_PREFIXES

bp = Blueprint("teach", __name__, url_prefix="/instructor")


def _exercises(track: str | None) -> list[Any]:
    return [e for e in catalog_service.exercises(catalog()) if not track or e.track == track]


def _tracks() -> list[tuple[str, str]]:
    return [(tr.id, tr.title.get(g.lang)) for tr in catalog().tracks]


def _courses() -> list[tuple[int, str]]:
    """(id, title) of the LMS courses an instructor may filter the class by."""
    return instructor_service.courses()


def _groups(exercises: list[Any]) -> list[dict[str, Any]]:
    titles = dict(_tracks())
    groups: list[dict[str, Any]] = []
    for ex in exercises:
        if not groups or groups[-1]["id"] != ex.track:
            groups.append({"id": ex.track, "title": titles.get(ex.track, ex.track), "exercises": []})
        groups[-1]["exercises"].append(ex)
    return groups


def _filtered(track: str | None) -> tuple[list[Any], instructor_service.Overview]:
    """The exercises and learner grid, narrowed to one course (``?course=ID``) and a learner name when asked."""
    exercises = _exercises(track)
    learner = (request.args.get("learner") or "").strip()[:64] or None
    course_id = request.args.get("course", type=int)
    if not course_id:
        return exercises, instructor_service.class_overview([e.id for e in exercises], name=learner)
    try:
        course = lti_courses.course_view(course_id)
    except KiwameError:
        abort(404)
    exercises = [e for e in exercises if e.id in course.exercise_ids]
    return exercises, instructor_service.class_overview([e.id for e in exercises], name=learner,
                                                        user_ids=course.learner_ids)


@bp.route("/")
@staff_required
def overview() -> Any:
    track = request.args.get("track") or None
    learner = (request.args.get("learner") or "").strip()[:64]
    course = request.args.get("course", type=int)
    exercises, data = _filtered(track)
    return page("instructor/overview.html", overview=data, exercises=exercises, groups=_groups(exercises),
                track=track, tracks=_tracks(), learner=learner, course=course, courses=_courses())


@bp.route("/grades.csv")
@staff_required
def grades_csv() -> Any:
    track = request.args.get("track") or None
    body = instructor_service.grades_csv(_filtered(track)[1])
    course = request.args.get("course", type=int)
    name = f"kiwame-grades-{track}.csv" if track else (f"kiwame-grades-course-{course}.csv" if course
                                                          else "kiwame-grades.csv")
    return Response(body, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.route("/exercises/<path:exercise_id>")
@staff_required
def exercise(exercise_id: str) -> Any:
    ex = exercise_or_404(exercise_id)
    return page("instructor/exercise.html", exercise=ex, title=ex.title.get(g.lang),
                stats=instructor_service.exercise_stats(ex.id, top=10),
                prediction=predictions_service.accuracy([ex.id])[ex.id])


@bp.route("/learners/<int:user_id>")
@staff_required
def learner(user_id: int) -> Any:
    who = users_service.get_user_by_id(user_id)
    if who is None:
        abort(404)
    rows = instructor_service.submissions(user_id, request.args.get("exercise") or None)
    titles = {e.id: e.title.get(g.lang) for e in catalog_service.exercises(catalog())}
    return page("instructor/learner.html", who=who, rows=rows, titles=titles)


@bp.route("/submissions/<int:submission_id>")
@staff_required
def submission(submission_id: int) -> Any:
    sub = instructor_service.submission(submission_id)
    if sub is None:
        abort(404)
    ex = catalog().get(sub.exercise_id)
    data = {"lang": g.lang, "kind": ex.kind if ex else "code", "result": sub.result,
            "cases": display.visible_inputs(ex) if ex and ex.kind == "code" else [],
            "labels": {k: v for k, v in i18n.STRINGS[g.lang].items() if k.startswith(JS_PREFIXES)}}
    return page("instructor/submission.html", sub=sub, title=ex.title.get(g.lang) if ex else sub.exercise_id,
                page_data=data)


@bp.route("/catalog", methods=["GET", "POST"])
@staff_required
def catalog_status() -> Any:
    if request.method == "POST":
        catalog_service.reload_catalog(current_app._get_current_object())  # type: ignore[attr-defined]
        flash(t("cat.reloaded"))
        return redirect(url_for("teach.catalog_status"))
    loaded = catalog_service.exercises(catalog())
    return page("instructor/catalog.html", loaded=loaded, errors=catalog_service.catalog_errors(catalog()))


@bp.route("/tokens", methods=["GET", "POST"])
@staff_required
def tokens() -> Any:
    created = None
    if request.method == "POST":
        try:
            created = tokens_service.create_token(g.user.name, request.form.get("name", "").strip()[:64])
        except KiwameError as err:
            flash(err.message, "error")
    return page("instructor/tokens.html", tokens=tokens_service.list_tokens(g.user.id), created=created)


@bp.route("/tokens/<int:token_id>/revoke", methods=["POST"])
@staff_required
def revoke(token_id: int) -> Any:
    try:
        tokens_service.revoke_token(token_id, owner_id=g.user.id)
    except KiwameError:
        abort(404)
    flash(t("tok.revoked"))
    return redirect(url_for("teach.tokens"))

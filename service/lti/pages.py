"""Course pages for LTI instructors (overview, roster sync, passback status) and the admin's registrations."""

from __future__ import annotations

from typing import Any

from flask import Response, abort, flash, g, redirect, render_template, url_for

from service.errors import KiwameError
from service.lti.blueprint import bp
from service.services import instructor as instructor_service
from service.services import lti_courses, lti_passback, lti_registry
from service.services.runtime import runtime


def _signed_in() -> Any:
    if g.get("user") is None:
        abort(403)
    return g.user


def _course(course_id: int) -> tuple[lti_courses.CourseView, instructor_service.Overview]:
    """The course and its learner grid, for its own instructors (and admins) only."""
    user = _signed_in()
    try:
        lti_courses.require_instructor(course_id, user.id)
        view = lti_courses.course_view(course_id)
    except KiwameError as err:
        abort(err.status)
    return view, instructor_service.class_overview(list(view.exercise_ids), user_ids=list(view.learner_ids))


@bp.route("/courses/<int:course_id>")
def course(course_id: int) -> Any:
    view, overview = _course(course_id)
    catalog = runtime().catalog
    titles = {}
    for exercise_id in view.exercise_ids:
        found = catalog.get(exercise_id)
        titles[exercise_id] = found.title.get(g.get("lang", "en")) if found is not None else exercise_id
    return render_template("lti/course.html", course=view, overview=overview, titles=titles,
                           scores=lti_passback.deliveries(course_id))


@bp.route("/courses/<int:course_id>/grades.csv")
def course_csv(course_id: int) -> Any:
    """The course's grade CSV, for its own instructors (the global /instructor/grades.csv?course= for staff)."""
    _view, overview = _course(course_id)
    return Response(instructor_service.grades_csv(overview), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="kiwame-course-{course_id}.csv"'})


@bp.route("/courses/<int:course_id>/roster", methods=["POST"])
def roster(course_id: int) -> Any:
    user = _signed_in()
    try:
        count = lti_courses.sync_roster(course_id, user.id)
        flash(f"{count} members synced from the platform")
    except KiwameError as err:
        if err.status == 403:
            abort(403)
        flash(err.message, "error")
    except Exception as exc:  # the platform is down or answered badly: say so, keep the page
        flash(f"roster sync failed: {type(exc).__name__}: {exc}", "error")
    return redirect(url_for("lti.course", course_id=course_id))


@bp.route("/admin")
def admin() -> Any:
    user = _signed_in()
    if user.role != "admin":
        abort(403)
    return render_template("lti/admin.html", platforms=lti_registry.list_platforms(),
                           keys=lti_registry.list_keys(), scores=lti_passback.deliveries(limit=50))

"""A learner's flow around the exercise page: drafts, expected examples, predict-then-run, landing, favicon."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, g, jsonify, redirect, request, url_for

from service.config import settings
from service.errors import KiwameError
from service.extensions import limiter
from service.services import drafts as drafts_service
from service.services import exercises as exercises_service
from service.services import predictions as predictions_service
from service.web import frameworks, i18n
from service.web.common import exercise_or_404, page, signin_required, user_rate_key

bp = Blueprint("flow", __name__)


def _error(err: KiwameError) -> Any:
    return jsonify({"code": err.code, "error": err.message}), err.status


@bp.route("/exercises/<path:exercise_id>/draft", methods=["PUT"])
@signin_required
def save_draft(exercise_id: str) -> Any:
    ex = exercise_or_404(exercise_id)
    body = request.get_json(silent=True)
    if ex.kind != "code" or not isinstance(body, dict):
        return jsonify({"code": "bad_request", "error": "expected a JSON object with code"}), 400
    try:
        drafts_service.save_draft(g.user.id, ex.id, body.get("code"),
                                  frameworks.draft_framework(ex, body.get("framework")))
    except KiwameError as err:
        return _error(err)
    return "", 204


@bp.route("/exercises/<path:exercise_id>/examples.json")
@signin_required
def examples(exercise_id: str) -> Any:
    """Visible cases with their expected outputs (fetched after the page renders: the first call runs the
    reference solution in the sandbox, which must not hold up the page)."""
    ex = exercise_or_404(exercise_id)
    ex = ex.for_framework(frameworks.pick(ex, request.args.get("framework")))  # the learner's pick
    found = exercises_service.expected_outputs(ex) if ex.kind == "code" else {}
    cases = [{"name": c.name, "expected": (found.get(c.name) or {}).get("expected")} for c in ex.visible_cases]
    return jsonify({"cases": cases})


def _predict_limit() -> str:
    return settings(current_app).submit_rate_limit  # each check stores a row: the same budget as submissions


@bp.route("/exercises/<path:exercise_id>/predict", methods=["GET", "POST"])
@signin_required
@limiter.limit(_predict_limit, key_func=user_rate_key, methods=["POST"])
def predict(exercise_id: str) -> Any:
    ex = exercise_or_404(exercise_id)
    if request.method == "GET":
        found = predictions_service.target(ex)
        if found is None:
            return jsonify({"code": "no_prediction", "error": "this exercise has no prediction question"}), 404
        return jsonify(found.public())
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return jsonify({"code": "bad_request", "error": "expected a JSON object"}), 400
    try:
        checked = predictions_service.check(g.user.id, ex, body.get("shape"), body.get("position"))
    except KiwameError as err:
        return _error(err)
    return jsonify(checked.to_dict())


@bp.route("/favicon.ico")
def favicon() -> Any:
    return redirect(url_for("web.static", filename="favicon.svg"), code=301)


def landing() -> Any:
    """The signed-out front page: what Kiwame is, with the seed article's permute(1, 0) animated."""
    demo = {"name": "x", "kind": "tensor", "dtype": "torch.int64", "shape": [2, 3], "values": [[1, 2, 3], [4, 5, 6]]}
    # The output is computed in the browser by the same permute the animation uses: the demo really runs.
    labels = {k: v for k, v in i18n.STRINGS[g.lang].items() if k.startswith(("anim.", "grid."))}
    return page("landing.html", demo={"input": demo, "perm": [1, 0], "call": "x.permute(1, 0)"}, labels=labels)

"""LTI endpoints (the contract's paths): /lti/login, /lti/launch, /.well-known/jwks.json, /lti/config."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import (
    Response,
    current_app,
    g,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from service.lti.blueprint import bp, well_known
from service.services import lti_courses, lti_launch, lti_registry
from service.services.lti_launch import STATE_COOKIE, LtiRejected
from service.services.runtime import runtime

LOGIN_FIELDS = ("iss", "login_hint", "target_link_uri", "lti_message_hint", "client_id", "lti_deployment_id")


def base_url() -> str:
    """KIWAME_PUBLIC_URL when set (behind a proxy it must be), else what this request was addressed to."""
    return str(current_app.config.get("KIWAME_PUBLIC_URL") or request.host_url).rstrip("/")


def secure() -> bool:
    return request.is_secure or str(current_app.config.get("KIWAME_SECURE_COOKIES")).lower() in {"1", "true"}


def rejected(err: LtiRejected) -> Any:
    """The 4xx page of a refused login or launch: it touches no session, so no cookie is set."""
    g.lti_frame = lti_registry.all_origins()  # only a registered platform may show this page in its frame
    body = render_template("lti/error.html", code=err.code, message=err.message, status=err.status)
    return Response(body, status=err.status, mimetype="text/html")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    params = {k: str(request.values.get(k, "")) for k in LOGIN_FIELDS if request.values.get(k)}
    try:
        found = lti_launch.begin_login(params, base_url())
    except LtiRejected as err:
        return rejected(err)
    response = redirect(found.url, code=302)
    ttl = int(float(current_app.config.get("KIWAME_LTI_LOGIN_TTL_S") or 600))
    # SameSite=None: the launch is a cross-site POST from the LMS. Browsers only keep it with Secure (HTTPS).
    response.set_cookie(STATE_COOKIE, found.state, max_age=ttl, httponly=True, secure=secure(),
                        samesite="None" if secure() else "Lax", path="/lti/")
    return response


@bp.route("/launch", methods=["POST"])
def launch() -> Any:
    state = str(request.form.get("state", ""))
    cookie = request.cookies.get(STATE_COOKIE)
    try:
        verified = lti_launch.validate_launch(str(request.form.get("id_token", "")), state, cookie, base_url(),
                                              secure())
        outcome = lti_courses.accept(verified)
    except LtiRejected as err:
        if err.code == "state_cookie_missing":
            restart = lti_launch.login_params_for_restart(state)
            if restart is not None:
                return new_window(restart)
        return rejected(err)
    # A fresh session (new token): whatever this browser was signed in as before, it is this LTI user now.
    session.clear()
    regenerate = getattr(session, "regenerate", None)
    if regenerate is not None:
        regenerate()
    session.update(user_id=outcome.user_id, lti_course=outcome.course_id, lti_role=outcome.role,
                   lti_frame=list(outcome.frame_origins))
    if outcome.deep_link:
        session["lti_deep_link"] = outcome.deep_link
        response = redirect(url_for("lti.deep_link"))
    elif outcome.role == "instructor":  # instructors land on their course: progress, roster, passback
        response = redirect(url_for("lti.course", course_id=outcome.course_id))
    else:
        response = redirect(url_for("learn.exercise", exercise_id=outcome.exercise_id, course=outcome.course_id))
    response.delete_cookie(STATE_COOKIE, path="/lti/")
    return response


def new_window(params: dict[str, str]) -> Any:
    """Cookies blocked in the LMS frame: offer to continue in a new window (a first-party context)."""
    g.lti_frame = lti_registry.all_origins()
    url = url_for("lti.login") + "?" + urlencode({**params, "kiwame_new_window": "1"})
    body = render_template("lti/new_window.html", url=url)
    return Response(body, status=401, mimetype="text/html")


@bp.route("/deep-link", methods=["GET", "POST"])
def deep_link() -> Any:
    pending = session.get("lti_deep_link")
    if g.get("user") is None or not pending:
        return rejected(LtiRejected("no_deep_link", "no deep-linking request is open in this session", 403))
    from service.services import catalog as catalog_service

    exercises = catalog_service.exercises(runtime().catalog)
    if request.method == "GET":
        return render_template("lti/picker.html", exercises=exercises,
                               multiple=str(pending["settings"].get("accept_multiple", "true")).lower() != "false")
    chosen = [e for e in request.form.getlist("exercise") if e]
    if not chosen:
        return render_template("lti/picker.html", exercises=exercises, error=True, multiple=True), 422
    return_url, token = lti_courses.deep_link_response(pending, chosen, base_url(), g.get("lang", "en"))
    session.pop("lti_deep_link", None)
    response = make_response(render_template("lti/deep_link_return.html", return_url=return_url, token=token))
    # This one page posts to the platform: widen form-action to exactly that URL's origin.
    from service.services.lti_http import origin

    framers = " ".join(session.get("lti_frame") or ["'none'"])
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        f"form-action {origin(return_url)}; frame-ancestors {framers}; base-uri 'self'; object-src 'none'")
    return response


@bp.route("/config")
def config() -> Any:
    """What an LMS admin pastes into the tool registration form."""
    base = base_url()
    return jsonify({
        "title": "Kiwame", "description": "Tensor exercises (PyTorch, NumPy) graded in milliseconds.",
        "oidc_initiation_url": f"{base}/lti/login", "target_link_uri": f"{base}/lti/launch",
        "redirect_uris": [f"{base}/lti/launch"], "jwks_uri": f"{base}/.well-known/jwks.json",
        "deep_linking_url": f"{base}/lti/launch", "public_jwk_url": f"{base}/.well-known/jwks.json",
        "scopes": ["https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
                   "https://purl.imsglobal.org/spec/lti-ags/scope/score",
                   "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"],
        "messages": [{"type": "LtiResourceLinkRequest", "target_link_uri": f"{base}/lti/launch"},
                     {"type": "LtiDeepLinkingRequest", "target_link_uri": f"{base}/lti/launch"}],
        "custom_fields": {}, "privacy_level": "public", "signing_algorithm": "RS256",
    })


@well_known.route("/.well-known/jwks.json")
def jwks() -> Any:
    response = jsonify(lti_registry.jwks())
    response.headers["Cache-Control"] = "public, max-age=300"  # short: a rotation shows up within minutes
    return response


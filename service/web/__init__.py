"""Browser pages for learners and instructors: ``init_app`` wires blueprints, sessions, CSRF and headers."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, g, jsonify, request, session, url_for
from flask_wtf.csrf import CSRFError, CSRFProtect, generate_csrf

from service.config import settings
from service.errors import use_html_pages
from service.extensions import RATE_IDENTITIES
from service.web import i18n
from service.web.common import inline_markdown, is_staff, load_request_state, page, rate_identity, t
from service.web.sessions import DbSessionInterface

STATIC = Path(__file__).parent / "static"
csrf = CSRFProtect()
WEB_BLUEPRINTS = ("web", "auth", "learn", "teach", "lti", "flow")
# Posted by the LMS, not by our forms: protected by the OIDC state cookie and the signed id_token instead.
CSRF_EXEMPT = {"lti.login", "lti.launch"}

# No inline scripts: page data travels in <script type="application/json"> blocks read by static JS.
# Styles allow 'unsafe-inline' because CodeMirror injects its theme as <style> elements at runtime.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
       "frame-ancestors 'none'")


def _asset_versions() -> dict[str, str]:
    # Content hashes as ?v= so browsers may cache assets for a long time and still see new builds.
    return {str(p.relative_to(STATIC)): hashlib.sha256(p.read_bytes()).hexdigest()[:10]
            for p in STATIC.rglob("*") if p.is_file()}


def init_app(app: Flask) -> None:
    from service.web.auth import bp as auth_bp
    from service.web.flow import bp as flow_bp
    from service.web.learn import bp as learn_bp
    from service.web.teach import bp as teach_bp

    config = settings(app)
    app.config["SESSION_COOKIE_NAME"] = config.session_cookie
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=config.secure_cookies or bool(app.config.get("SESSION_COOKIE_SECURE")))
    # CSRF is checked by the web blueprints only (see _protect); the token-authenticated API has no cookies.
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # tied to the session's own lifetime instead
    csrf.init_app(app)
    app.session_interface = DbSessionInterface()
    versions = _asset_versions()

    for bp in (_static_blueprint(), auth_bp, learn_bp, teach_bp, flow_bp):
        app.register_blueprint(bp)
    # App-level hooks filtered by blueprint: blueprints are module singletons shared by every app instance.
    app.before_request(_protect)
    app.after_request(_headers)

    @app.context_processor
    def _context() -> dict[str, Any]:
        return {"t": t, "lang": g.get("lang", "en"), "user": g.get("user"), "is_instructor": is_staff(),
                "csrf_token": generate_csrf, "inline_md": inline_markdown,
                "asset": lambda name: url_for("web.static", filename=name, v=versions.get(name, "0"))}

    app.extensions.setdefault(RATE_IDENTITIES, []).append(rate_identity)
    use_html_pages(app, _error_page)
    app.register_error_handler(CSRFError, _csrf_error)


def _static_blueprint() -> Blueprint:
    # Templates live under templates/web/ so their names cannot collide with other packages' templates.
    return Blueprint("web", __name__, static_folder="static", static_url_path="/static/web", template_folder="templates")


def _protect() -> None:
    if request.blueprint not in WEB_BLUEPRINTS:
        return
    load_request_state()
    if request.method not in ("GET", "HEAD", "OPTIONS") and request.endpoint not in CSRF_EXEMPT:
        csrf.protect()


def _headers(response: Response) -> Response:
    html_page = response.mimetype == "text/html" and not request.path.startswith("/api")
    if request.blueprint not in WEB_BLUEPRINTS and not html_page:
        return response
    # Pages of an LTI session may be framed by the registered platform's origins, and by nothing else.
    frame = g.get("lti_frame") or (session.get("lti_frame") if html_page else None)
    if frame:
        response.headers.setdefault("Content-Security-Policy",
                                    CSP.replace("frame-ancestors 'none'", "frame-ancestors " + " ".join(frame)))
    else:
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.blueprint == "web" and request.args.get("v"):
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    elif request.blueprint != "web":
        response.headers.setdefault("Cache-Control", "no-store")  # pages show private progress and code
    return response


def _wants_json() -> bool:
    return request.is_json or request.accept_mimetypes.best == "application/json"


def _error_page(status: int, code: str, message: str) -> Any:
    if _wants_json():
        return jsonify({"code": code, "error": message}), status
    if "lang" not in g:
        g.lang = i18n.choose([request.cookies.get(i18n.LANG_COOKIE)], request.accept_languages)
    key = {403: "err.forbidden", 404: "err.not_found", 429: "auth.rate_limited"}.get(status, "")
    body = page("error.html", code=status, message_key=key, message=message)
    return Response(body, status=status, mimetype="text/html")


def _csrf_error(err: CSRFError) -> Any:
    if _wants_json():
        return jsonify({"code": "csrf_failed", "error": t("err.csrf")}), 400
    return Response(page("error.html", code=400, message_key="err.csrf", message=err.description),
                    status=400, mimetype="text/html")

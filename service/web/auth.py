"""Sign up, sign in, sign out and the language switch."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, current_app, flash, g, make_response, redirect, request, session, url_for

from service.config import settings
from service.errors import Conflict, Invalid
from service.extensions import address_key, limiter
from service.services import users as users_service
from service.services.web_sessions import purge_expired
from service.web import i18n
from service.web.common import page, safe_next, t
from service.web.sessions import ServerSession

bp = Blueprint("auth", __name__)
NAME_RE = re.compile(r"^[A-Za-z0-9._-]{2,64}$")
MIN_PASSWORD = 8


def _start_session(user: users_service.UserView) -> None:
    # A new token at sign-in defeats session fixation; the CSRF token moves with the data.
    if isinstance(session, ServerSession):
        session.regenerate()
    session["user_id"] = user.id
    purge_expired()


def _signin_limit_key() -> str:
    return "signin:" + (request.remote_addr or "unknown")


def _form(mode: str) -> dict[str, Any]:
    return {"mode": mode, "title_key": f"auth.{mode}.title", "submit_key": f"auth.{mode}.submit",
            "action": url_for(f"auth.{mode}"), "next": request.values.get("next", "")}


@bp.route("/signup", methods=["GET", "POST"])
# Per address, whoever is signed in: fresh accounts would otherwise multiply the per-user grading budget.
@limiter.limit(lambda: settings(current_app).signup_rate_limit, key_func=address_key,
               methods=["POST"], error_message="auth.rate_limited")
def signup() -> Any:
    ctx = _form("signup")
    if request.method == "GET":
        return page("auth.html", **ctx)
    name = request.form.get("username", "").strip()
    display = request.form.get("display_name", "").strip()[:128]
    password = request.form.get("password", "")
    ctx.update(username=name, display_name=display)
    if not NAME_RE.match(name) or len(password) < MIN_PASSWORD:
        return page("auth.html", error="auth.invalid", **ctx), 422
    try:
        created = users_service.create_user(name, "learner", password, display_name=display,
                                            locale=g.lang, generate_password=False)
    except Conflict:
        return page("auth.html", error="auth.email_taken", **ctx), 409
    except Invalid:
        return page("auth.html", error="auth.invalid", **ctx), 422
    _start_session(created.user)
    return redirect(safe_next(ctx["next"], url_for("learn.index")))


@bp.route("/signin", methods=["GET", "POST"])
@limiter.limit("10 per minute", key_func=_signin_limit_key, methods=["POST"],
               error_message="auth.rate_limited")
def signin() -> Any:
    ctx = _form("signin")
    if request.method == "GET":
        return page("auth.html", **ctx)
    name = request.form.get("username", "").strip()
    user = users_service.authenticate(name, request.form.get("password", ""))
    if user is None:
        return page("auth.html", error="auth.bad_credentials", username=name, **ctx), 401
    _start_session(user)
    return redirect(safe_next(ctx["next"], url_for("learn.index")))


@bp.route("/signout", methods=["POST"])
def signout() -> Any:
    session.clear()
    flash(t("auth.signed_out"))
    return redirect(url_for("auth.signin"))


@bp.route("/lang", methods=["POST"])
def set_lang() -> Any:
    lang = i18n.normalize(request.form.get("lang")) or "en"
    if g.user is not None:
        users_service.set_locale(g.user.id, lang)
    response = make_response(redirect(safe_next(request.form.get("next"), url_for("learn.index"))))
    response.set_cookie(i18n.LANG_COOKIE, lang, max_age=365 * 24 * 3600, samesite="Lax", httponly=True)
    return response

"""Request plumbing shared by the web blueprints: current user, language, access control, page helpers."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import abort, g, redirect, render_template, request, session, url_for
from markdown_it import MarkdownIt
from markupsafe import Markup

from service.services import catalog as catalog_service
from service.services import users as users_service
from service.services.runtime import runtime
from service.web import i18n

F = TypeVar("F", bound=Callable[..., Any])

# html=False: exercise text may not carry raw HTML; tables are used by the prompts.
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


@functools.lru_cache(maxsize=1024)
def markdown(text: str) -> Markup:
    # Cached: prompts are rendered on every exercise page view and were the page's largest server cost.
    html = _markdown.render(text)  # markdown-it escapes everything it does not produce itself
    # Accessibility: a table's empty corner header names nothing (axe empty-table-header), and a code block
    # that scrolls sideways must be reachable by keyboard (axe scrollable-region-focusable).
    return Markup(html.replace("<th></th>", "<td></td>").replace("<pre>", '<pre tabindex="0">'))


def inline_markdown(text: str) -> Markup:
    """One line of Markdown (`code`, *emphasis*) without a wrapping paragraph, e.g. a diagnosis message."""
    return Markup(_markdown.renderInline(text or ""))


def load_request_state() -> None:
    """before_request: who is signed in and which language to speak."""
    user_id = session.get("user_id")
    user = users_service.get_active_user_by_id(int(user_id)) if user_id else None
    g.user = user
    stored = user.locale if user is not None else None
    g.lang = i18n.choose([stored, request.cookies.get(i18n.LANG_COOKIE)],
                         request.accept_languages)


def t(key: str) -> str:
    return i18n.translate(g.get("lang", "en"), key)


def is_staff() -> bool:
    user = g.get("user")
    return user is not None and bool(user.is_staff)


def user_rate_key() -> str:
    """Rate-limit key: the signed-in user, else the client address."""
    return f"user:{g.user.id}" if g.get("user") is not None else "ip:" + (request.remote_addr or "")


def signin_required(view: F) -> F:
    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if g.get("user") is None:
            return redirect(url_for("auth.signin", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def staff_required(view: F) -> F:
    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not is_staff():
            abort(403)
        return view(*args, **kwargs)

    return signin_required(wrapped)  # type: ignore[return-value]


def rate_identity() -> str | None:
    """The rate-limit key of a signed-in browser: its user (the session is server-side, so not forgeable)."""
    user_id = session.get("user_id")
    return f"user:{int(user_id)}" if user_id else None


def safe_next(target: str | None, default: str) -> str:
    """Only a local path: an open redirect after sign-in would be a phishing aid.

    Checked on what a browser will make of it: browsers drop tabs and newlines and read a backslash as a
    slash, so "/<TAB>/evil.example/" becomes "//evil.example/". Any control character, whitespace or
    backslash is refused outright, and after parsing there must be no scheme and no host.
    """
    if not target or not target.startswith("/") or target.startswith("//"):
        return default
    if any(ch <= " " or ch == "\x7f" or ch == "\\" or ch.isspace() for ch in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/"):
        return default
    return target


def catalog() -> Any:
    return runtime().catalog


def exercise_or_404(exercise_id: str, *, staff: bool = False) -> Any:
    """The exercise a page is about; learners never get one whose reference fails (staff pages still do)."""
    exercise = catalog().get(exercise_id) if staff else catalog_service.get_servable(exercise_id)
    if exercise is None:
        abort(404)  # unknown, or its reference fails its own cases: never served
    return exercise


def page(template: str, **context: Any) -> str:
    return render_template(f"web/{template}", **context)

"""Every error as JSON ``{"code", "message", "details"}`` with a stable snake_case code."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

# Stable codes per HTTP status: clients key on these, so extend, never rename.
STATUS_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


# Machine-read paths: always JSON (or Prometheus text), never an HTML error page.
PROBE_PATHS = frozenset({"/healthz", "/livez", "/readyz", "/metrics"})


class KiwameError(Exception):
    """A failure the services report to callers; the status is a hint for the HTTP layer."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None,
                 status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.code
        self.details = details
        self.status = status or self.status


class NotFound(KiwameError):
    status, code = 404, "not_found"


class Forbidden(KiwameError):
    status, code = 403, "forbidden"


class Unauthorized(KiwameError):
    status, code = 401, "unauthorized"


class Invalid(KiwameError):
    status, code = 422, "validation_error"


class Conflict(KiwameError):
    status, code = 409, "conflict"


def error_response(status: int, code: str, message: str, details: Any = None,
                   headers: dict[str, str] | None = None) -> Response:
    response = jsonify({"code": code, "message": message, "details": details})
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


HtmlErrorPage = Callable[[int, str, str], Any]  # (status, code, message) -> a response
_HTML_PAGES = "kiwame.html_error_page"


def use_html_pages(app: Flask, render: HtmlErrorPage) -> None:
    """Let browser pages (service/web) render their own error pages; the API and /healthz never do."""
    app.extensions[_HTML_PAGES] = render


def _html_page() -> HtmlErrorPage | None:
    path = request.path
    if path.startswith("/api") or path in PROBE_PATHS:
        return None
    render: HtmlErrorPage | None = current_app.extensions.get(_HTML_PAGES)
    return render


def handle_kiwame_error(err: KiwameError) -> Any:
    if (render := _html_page()) is not None:
        return render(err.status, err.code, err.message)
    return error_response(err.status, err.code, err.message, err.details)


def handle_http_exception(err: HTTPException) -> Any:
    status = err.code or 500
    code = STATUS_CODES.get(status, f"http_{status}")
    if (render := _html_page()) is not None:
        return render(status, code, err.description or "")
    details: Any = None
    data = getattr(err, "data", None)
    if isinstance(data, dict) and "messages" in data:  # webargs/flask-smorest validation failures
        details = data["messages"]
    message = err.description or err.name
    if status == 429:
        message = f"Rate limit exceeded: {err.description}"
    elif status == 413:
        message = f"Request body larger than {current_app.config.get('MAX_CONTENT_LENGTH')} bytes"
    headers: dict[str, str] = {}
    allowed = getattr(err, "valid_methods", None)
    if status == 405 and allowed:
        headers["Allow"] = ", ".join(allowed)
    response = error_response(status, code, message, details, headers)
    if status == 429:
        # Keep Flask-Limiter's Retry-After / X-RateLimit headers on our JSON body.
        original = err.get_response()
        for key, value in original.headers.items():
            if key.lower().startswith(("retry-after", "x-ratelimit")):
                response.headers[key] = value
    return response


def handle_unexpected(err: Exception) -> Any:
    if isinstance(err, HTTPException):
        return handle_http_exception(err)
    if isinstance(err, sa.exc.OperationalError | sa.exc.InterfaceError):
        # The database is unreachable (a restart, a failover): nothing was stored, retrying is safe.
        log.warning("database unavailable on %s %s: %s", request.method, request.path, err)
        if (render := _html_page()) is not None:
            return render(503, "database_unavailable", "The database is unavailable; try again shortly")
        response = error_response(503, "database_unavailable", "Database unavailable; retry shortly", None)
        response.headers["Retry-After"] = "2"
        return response
    log.exception("unhandled error on %s %s", request.method, request.path)
    if (render := _html_page()) is not None:
        return render(500, "internal_error", "Internal error")
    return error_response(500, "internal_error", "Internal server error", None)


def init_app(app: Flask) -> None:
    """Register after flask-smorest's ``Api.init_app`` so these handlers replace its JSON shape."""
    app.register_error_handler(KiwameError, handle_kiwame_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)

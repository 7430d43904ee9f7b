"""Edge limits applied before any view: JSON nesting depth, and the trusted reverse proxies."""

from __future__ import annotations

import re

from flask import Flask, request
from werkzeug.middleware.proxy_fix import ProxyFix

from service.config import settings
from service.errors import KiwameError

# Deeper than any exercise answer or API body needs; far below where the JSON parser, marshmallow and
# json.dumps recurse into RecursionError (which was a 500).
MAX_JSON_DEPTH = 64
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def _brackets(body: bytes) -> bytes:
    return _STRING.sub(b"", body).translate(None, _NOT_BRACKETS)


def json_depth(body: bytes, brackets: bytes | None = None) -> int:
    """The deepest nesting of arrays and objects in a JSON text (brackets inside strings do not count)."""
    if brackets is None:
        brackets = _brackets(body)
    depth = deepest = 0
    for byte in brackets:
        depth += 1 if byte in b"[{" else -1
        deepest = max(deepest, depth)
    return deepest


def check_json_depth() -> None:
    """before_request: a JSON body nested deeper than MAX_JSON_DEPTH is a 400 ``validation_error``."""
    if request.method in ("GET", "HEAD", "OPTIONS") or not request.is_json:
        return
    body = request.get_data(cache=True)
    brackets = _brackets(body)
    # The usual body has too few brackets to be too deep: skip the byte-by-byte count.
    if len(brackets) > MAX_JSON_DEPTH and json_depth(body, brackets) > MAX_JSON_DEPTH:
        raise KiwameError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels", code="validation_error",
                          status=400, details={"max_depth": MAX_JSON_DEPTH})


def trust_proxies(app: Flask) -> None:
    """Behind KIWAME_PROXY_COUNT reverse proxies, take the client address and scheme from the headers
    they add (only the last N hops: values a client sends itself further left are ignored)."""
    count = settings(app).proxy_count
    if count > 0:
        # X-Forwarded-Host is not trusted: common proxy set-ups pass Host through and leave it to clients.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count)  # type: ignore[method-assign]


def init_app(app: Flask) -> None:
    app.before_request(check_json_depth)
    trust_proxies(app)

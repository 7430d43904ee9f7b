"""REST API v1 (flask-smorest): blueprints, OpenAPI document and locally served docs."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Flask
from flask_smorest import Api

from service.api.schemas import ErrorSchema

STATIC_DIR = Path(__file__).parent / "static"


class KiwameApi(Api):
    # Every documented error uses the service-wide {"code", "message", "details"} shape.
    ERROR_SCHEMA = ErrorSchema


api = KiwameApi()


def spec_options() -> dict[str, object]:
    return {
        "info": {"description": "Kiwame: tensor exercises graded in milliseconds. See docs/api.md."},
        "security": [{"bearerAuth": []}],
        "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
    }


def init_app(app: Flask) -> None:
    from service.api import auth, health, v1
    from service.extensions import RATE_IDENTITIES, limiter

    app.config.setdefault("API_SPEC_OPTIONS", spec_options())
    api.init_app(app)
    api.register_blueprint(v1.blp)
    api.register_blueprint(health.blp)
    app.extensions.setdefault(RATE_IDENTITIES, []).append(auth.rate_identity)
    limiter.exempt(health.blp)  # probes come every few seconds from one address (the orchestrator's)
    # Swagger UI's files are vendored (swagger-ui-dist from npm) so the docs page needs no CDN.
    app.register_blueprint(Blueprint("api_static", __name__, static_folder=str(STATIC_DIR),
                                     static_url_path="/api/static"))

"""``GET /healthz``: no authentication, 200 when healthy, 503 when the database or a required sandbox layer is down."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from service.api import schemas
from service.services.health import health

blp = Blueprint("health", __name__, description="Service health")


@blp.route("/healthz")
class Healthz(MethodView):
    @blp.response(200, schemas.HealthSchema)
    @blp.alt_response(503, schema=schemas.HealthSchema, description="unhealthy")
    @blp.doc(security=[])
    def get(self) -> Any:
        """Database, exercises loaded (and files that failed validation), sandbox self-test per layer."""
        report = health()
        return report.to_dict(), 200 if report.healthy else 503

"""Probes, no authentication: ``/healthz`` (the full report), ``/livez`` (process up), ``/readyz`` (can grade)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from service.api import schemas
from service.services.health import health, readiness

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


@blp.route("/livez")
class Livez(MethodView):
    @blp.response(200, schemas.LivenessSchema)
    @blp.doc(security=[])
    def get(self) -> Any:
        """The process is up and answering (nothing else is checked: restart it when this fails)."""
        return {"status": "ok"}


@blp.route("/readyz")
class Readyz(MethodView):
    @blp.response(200, schemas.ReadinessSchema)
    @blp.alt_response(503, schema=schemas.ReadinessSchema, description="not ready")
    @blp.doc(security=[])
    def get(self) -> Any:
        """Database reachable, schema at the newest migration, sandbox self-check passing, zygote alive."""
        report = readiness()
        return report.to_dict(), 200 if report.ready else 503

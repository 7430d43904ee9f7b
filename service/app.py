"""``create_app(config=None)``: wiring only (extensions, blueprints, error handlers, CLI commands)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from service import config as kiwame_config
from service import errors, request_limits
from service.extensions import db, limiter
from service.telemetry import http as telemetry_http

log = logging.getLogger(__name__)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app; ``config`` (tests) overrides ``KIWAME_*`` environment variables and the defaults."""
    settings = kiwame_config.load(config)
    app = Flask("service", instance_path=settings["KIWAME_INSTANCE_DIR"], instance_relative_config=True)
    app.config.update(settings)
    app.config.update(kiwame_config.flask_settings(settings))
    app.config.update({k: v for k, v in (config or {}).items() if not k.startswith("KIWAME_")})
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    db.init_app(app)
    limiter.init_app(app)
    telemetry_http.init_app(app)  # request ids first, so every later log line carries one
    limiter.exempt(telemetry_http.bp)  # the scraper's address must not eat a page budget
    request_limits.init_app(app)

    from service import api

    api.init_app(app)
    errors.init_app(app)  # after the API so its JSON error shape wins over flask-smorest's

    from service.services import catalog, readings

    readings.init_app(app)
    catalog.init_catalog(app)
    if app.config["KIWAME_AUTO_MIGRATE"]:
        from service.persistence.migrate import upgrade

        upgrade(app)
    _sync_versions(app)
    if app.config["KIWAME_AUTO_RELOAD"]:
        # Edited exercise files show up without a restart: a cheap stat check at most once a second.
        @app.before_request
        def _reload_changed_exercises() -> None:
            catalog.reload_catalog(app, only_if_changed=True)

    from service import web

    web.init_app(app)

    from service.cli import register_app_commands

    register_app_commands(app)
    return app


def _sync_versions(app: Flask) -> None:
    """Mirror the loaded exercise versions into the database (skipped until the schema exists)."""
    from sqlalchemy import inspect

    from service.services import catalog

    with app.app_context():
        try:
            if not inspect(db.engine).has_table("exercise_versions"):
                return
            catalog.sync_versions(catalog.get_catalog(app))
        except Exception:  # a database that is down must not stop the app (healthz reports it)
            log.exception("could not sync exercise versions")
            db.session.rollback()

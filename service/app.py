"""``create_app(config=None)``: wiring only (settings, extensions, runtime, blueprints, error handlers)."""

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
    """Build the app; ``config`` (tests) overrides ``KIWAME_*`` environment variables and the defaults.

    The ``kiwame`` command group reaches Flask's CLI through the ``flask.commands`` entry point, so the
    factory never imports the CLI (which imports the factory).
    """
    values = kiwame_config.load(config)
    settings = kiwame_config.from_config(values)
    app = Flask("service", instance_path=settings.instance_dir, instance_relative_config=True)
    app.config.update(values)
    app.config.update(kiwame_config.flask_settings(values))
    app.config.update({k: v for k, v in (config or {}).items() if not k.startswith("KIWAME_")})
    kiwame_config.install(app, settings)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    db.init_app(app)
    limiter.init_app(app)
    telemetry_http.init_app(app)  # request ids first, so every later log line carries one
    limiter.exempt(telemetry_http.bp)  # the scraper's address must not eat a page budget
    request_limits.init_app(app)

    from service import api

    api.init_app(app)
    errors.init_app(app)  # after the API so its JSON error shape wins over flask-smorest's

    _register_runtime(app)
    _register_outbox_kinds()
    from service.services import readings

    readings.init_app(app)  # /metrics gauges read at scrape time
    if settings.auto_migrate:
        from service.persistence.migrate import upgrade

        upgrade(app)
    _sync_versions(app)
    if settings.auto_reload:
        from service.services import catalog

        # Edited exercise files show up without a restart: a cheap stat check at most once a second.
        @app.before_request
        def _reload_changed_exercises() -> None:
            catalog.reload_catalog(app, only_if_changed=True)

    from service import web

    web.init_app(app)

    from service import lti

    lti.init_app(app)
    return app


def _register_runtime(app: Flask) -> None:
    """The catalog now; the engine, grading queue and outbox scheduler on first use (after the fork)."""
    from service.exercises import load_catalog
    from service.services import outbox, queue
    from service.services.runtime import Runtime, install

    settings = kiwame_config.settings(app)
    make_queue: Any = queue.make_queue
    if settings.broker_url:  # queue mode: graded by `kiwame worker` processes (imports Celery only here)
        from service.services import celery_queue

        make_queue = celery_queue.make_queue
    install(app, Runtime(app=app, settings=settings, catalog=load_catalog(settings.exercises_dir),
                         make_queue=make_queue, make_outbox=outbox.make_scheduler))


def _register_outbox_kinds() -> None:
    """Every kind of delivery that leaves after a grading (see service/services/outbox.py)."""
    from service.services import lti_passback, outbox, webhooks

    outbox.register(webhooks.KIND)
    outbox.register(lti_passback.KIND)  # LTI AGS scores (issue 10)


def _sync_versions(app: Flask) -> None:
    """Mirror the loaded exercise versions into the database (skipped until the schema exists)."""
    from sqlalchemy import inspect

    from service.services import catalog
    from service.services.runtime import runtime

    with app.app_context():
        try:
            if not inspect(db.engine).has_table("exercise_versions"):
                return
            catalog.sync_versions(runtime(app).catalog)
        except Exception:  # a database that is down must not stop the app (healthz reports it)
            log.exception("could not sync exercise versions")
            db.session.rollback()

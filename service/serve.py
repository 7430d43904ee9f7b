"""``kiwame serve``: gunicorn through its Python API, one gthread worker holding the grading pool and sandbox."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

log = logging.getLogger(__name__)


def build_app() -> Flask:
    """The served app (``run`` migrated the database already): stale work re-queued, deliveries resumed."""
    from service.app import create_app
    from service.services import catalog, outbox, queue
    from service.services.runtime import runtime

    app = create_app({"KIWAME_AUTO_MIGRATE": "0"})
    rt = runtime(app)
    with app.app_context():
        try:
            requeued = queue.recover(rt.queue)
            resumed = outbox.resume(rt.outbox)
            if requeued or resumed:
                log.warning("re-queued %d submissions and %d outbox deliveries", requeued, resumed)
        except Exception:  # e.g. schema not migrated yet: serve anyway, healthz will say what is wrong
            log.exception("startup recovery failed")
    catalog.start_reference_check(app)
    return app


class KiwameServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings and value is not None:
                self.cfg.set(key, value)

    def load(self) -> Flask:
        # Called in the worker after the fork: threads, the engine and the sandbox zygote start here.
        return build_app()


def _child_exit(_server: Any, worker: Any) -> None:
    """Multiprocess metrics: a gone worker's live gauges must not be summed any more."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def _multiprocess_dir() -> bool:
    """PROMETHEUS_MULTIPROC_DIR set: start from an empty folder (stale files would add old counts)."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not folder:
        return False
    path = Path(folder)
    if path.is_dir():
        for entry in path.glob("*.db"):
            entry.unlink()
    else:
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True, exist_ok=True)
    return True


def run(host: str, port: int, threads: int = 8) -> None:
    from service import config
    from service.app import create_app
    from service.persistence.migrate import upgrade
    from service.telemetry import logs

    settings = config.load_settings()
    log_format = settings.log_format.lower()
    logs.configure(log_format, settings.log_level)
    logs.GunicornJsonLogger.log_kind = log_format
    # Migrate once, in the arbiter, before any worker (the worker's create_app does not): on the embedded
    # SQLite, when KIWAME_AUTO_MIGRATE asks (by default only the embedded SQLite), or when asked to here.
    if settings.embedded_db or settings.auto_migrate or settings.auto_migrate_on_serve:
        upgrade(create_app({"KIWAME_AUTO_MIGRATE": "0"}))
    options: dict[str, Any] = {
        "bind": f"{host}:{port}",
        "workers": 1,  # the grading pool and sandbox zygote are in-process: one worker, many threads
        "worker_class": "gthread",
        "threads": threads,
        "timeout": 60,  # ?wait= may block a thread up to 30 s
        "graceful_timeout": 10,
        "accesslog": "-",
        "preload_app": False,
        "logger_class": logs.GunicornJsonLogger,  # gunicorn's own lines in the same format as the app's
        "loglevel": settings.log_level.lower(),
    }
    if _multiprocess_dir():
        options["child_exit"] = _child_exit
    KiwameServer(options).run()

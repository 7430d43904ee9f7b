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
    """The served app (``run`` migrated the database already): stale work re-queued, deliveries resumed.

    Embedded default: this process is the only grader, so its start-up re-queues every running row and a
    sweeper re-queues expired leases (a grading whose result could not be stored during a database
    outage). Queue mode: the web tier grades nothing and starts no sandbox; the workers sweep.
    """
    from service.app import create_app
    from service.services import catalog, leases, outbox, queue
    from service.services.runtime import runtime

    app = create_app({"KIWAME_AUTO_MIGRATE": "0"})
    rt = runtime(app)
    queue_mode = bool(rt.settings.broker_url)
    with app.app_context():
        try:
            requeued = 0 if queue_mode else queue.recover(rt.queue)
            resumed = outbox.resume(rt.outbox)
            if requeued or resumed:
                log.warning("re-queued %d submissions and %d outbox deliveries", requeued, resumed)
        except Exception:  # e.g. schema not migrated yet: serve anyway, healthz will say what is wrong
            log.exception("startup recovery failed")
    if not queue_mode:
        leases.Sweeper(app, lambda: rt.queue, rt.settings.sweep_interval_s, rt.settings.requeue_after_s,
                       resend_lost=False).start()
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


def run(host: str, port: int, threads: int = 8, workers: int = 1) -> None:
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
    if workers > 1 and not settings.broker_url:
        # Two processes would each grade in-process and each re-queue the other's running rows at start-up.
        raise ValueError("--workers above 1 needs queue mode (KIWAME_BROKER_URL): the embedded default "
                         "grades inside its one process")
    if settings.embedded_db or settings.auto_migrate or settings.auto_migrate_on_serve:
        upgrade(create_app({"KIWAME_AUTO_MIGRATE": "0"}))
    options: dict[str, Any] = {
        "bind": f"{host}:{port}",
        # Embedded: the grading pool and sandbox zygote are in-process, so one worker with many threads;
        # queue mode: the web tier holds no sandbox, so one process per core is fine.
        "workers": workers,
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

"""The Celery app of ``kiwame worker``: configured from ``Settings``, one process, threads for concurrency.

Why threads (``-P threads``) and not prefork: the sandbox's zygote is one process per ``SandboxPool``, and
prefork children would each start their own. One worker process holds one pool of ``--concurrency`` sandbox
slots (``SandboxPool(size=N)``) and N Celery threads feed it; scale out with more processes or machines.
The Flask app, the runtime and the sandbox pool are built in ``start`` before the consumer starts, in the
process that grades (there is no fork after it).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import Celery
from flask import Flask

from service.app import create_app
from service.config import settings as settings_of
from service.services import leases
from service.services.celery_queue import celery_config
from service.services.runtime import runtime

log = logging.getLogger(__name__)
celery = Celery("kiwame", set_as_current=True)
_state: dict[str, Any] = {}


class WorkerRefused(RuntimeError):
    """The worker cannot serve what it was asked to (e.g. the gpu queue without a GPU)."""


def flask_app() -> Flask:
    app: Flask = _state["app"]
    return app


def parse_queues(text: str) -> list[str]:
    names = [q.strip() for q in text.split(",") if q.strip()]
    unknown = sorted(set(names) - set(leases.QUEUES))
    if not names or unknown:
        raise WorkerRefused(f"unknown queue(s) {', '.join(unknown) or '(none)'}: choose from cpu,gpu")
    return names


def configure(queues: list[str], concurrency: int) -> Flask:
    """Build the app and its sandbox pool (``concurrency`` slots); refuse ``gpu`` without CUDA."""
    overrides: dict[str, Any] = {}
    if not os.environ.get("KIWAME_SANDBOX_SIZE"):
        overrides["KIWAME_SANDBOX_SIZE"] = str(concurrency)
    app = create_app(overrides)
    values = settings_of(app)
    if not values.broker_url:
        raise WorkerRefused("KIWAME_BROKER_URL is not set: a worker needs the broker the web tier sends to")
    engine = runtime(app).engine  # the sandbox pool of this process, built before any task arrives
    if "gpu" in queues and not engine.has_cuda():
        raise WorkerRefused("this machine has no CUDA GPU: a worker here cannot consume the gpu queue "
                            "(start it with --queues cpu, or on a machine with a GPU and the NVIDIA runtime)")
    celery.conf.update(celery_config(values))
    _state.update(app=app, queues=queues)
    return app

"""Health: database reachability, the loaded catalog and the sandbox's layer-by-layer self-test."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from service.persistence import db
from service.sandbox.pool import SandboxPool, probe_layers
from service.services import catalog as catalog_service
from service.services.runtime import runtime

log = logging.getLogger(__name__)
_SELFCHECK_TTL_S = 60.0  # the self-test forks sandbox children: not on every probe
_cache: dict[str, Any] = {}
_cache_lock = threading.Lock()


@dataclass(frozen=True)
class Health:
    healthy: bool
    database: dict[str, Any]
    exercises: dict[str, Any]
    sandbox: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"status": "ok" if self.healthy else "unhealthy", "database": self.database,
                "exercises": self.exercises, "sandbox": self.sandbox}


def database_check() -> dict[str, Any]:
    try:
        db.session.execute(sa.text("SELECT 1"))
        db.session.rollback()
        return {"ok": True, "backend": db.engine.dialect.name}
    except Exception as exc:
        db.session.rollback()
        return {"ok": False, "backend": db.engine.dialect.name, "error": f"{type(exc).__name__}: {exc}"}


def broker_check(url: str) -> dict[str, Any]:
    """Queue mode's sandbox report: the broker answers and the live workers' own self-checks (their
    heartbeats); ok when at least one worker is alive and none misses a required layer."""
    import redis

    from service.services.celery_queue import worker_reports

    try:
        workers = worker_reports(url)
    except redis.RedisError as exc:
        return {"ok": False, "mode": "queue", "layers": [], "error": f"broker: {type(exc).__name__}: {exc}"}
    layers: list[Any] = next((w.get("layers", []) for w in workers.values()), [])
    ok = bool(workers) and all(w.get("ok") for w in workers.values())
    report: dict[str, Any] = {"ok": ok, "mode": "queue", "layers": layers, "workers": workers}
    if not workers:
        report["error"] = "no live `kiwame worker`: submissions are queued but nobody grades them"
    return report


def sandbox_check(*, fresh: bool = False, pool: SandboxPool | None = None) -> dict[str, Any]:
    """The sandbox's ``selfcheck()`` per layer; ok unless a required layer failed. The layer report is
    cached; whether the zygote is alive is checked on every call."""
    if pool is not None and pool.zygote_alive() is False:
        with _cache_lock:
            _cache.pop("sandbox", None)  # re-probe once it has been restarted
        return {"ok": False, "layers": [{"name": "zygote", "ok": False, "required": True,
                                         "detail": "the sandbox zygote process is not running",
                                         "how_to_enable": "it is restarted on the next grading; if this "
                                                          "persists, see `kiwame doctor`"}]}
    with _cache_lock:
        cached = _cache.get("sandbox")
        if cached and not fresh and time.monotonic() - cached[0] < _SELFCHECK_TTL_S:
            return cached[1]
        try:
            layers = [dataclasses.asdict(layer) for layer in probe_layers(pool)]  # LayerStatus
            ok = all(layer.get("ok") for layer in layers if layer.get("required"))
            report: dict[str, Any] = {"ok": ok, "layers": layers}
        except Exception as exc:
            log.exception("sandbox self-check failed")
            report = {"ok": False, "layers": [], "error": f"{type(exc).__name__}: {exc}"}
        _cache["sandbox"] = (time.monotonic(), report)
        return report


def process_sandbox_check(*, fresh: bool = False) -> dict[str, Any]:
    """This process's sandbox report: the running engine's own pool when there is one, rather than
    starting a second sandbox (a queue-mode worker sends it as its heartbeat)."""
    rt = runtime()
    pool = rt.engine.pool if rt.engine_started else None
    return sandbox_check(fresh=fresh, pool=pool if isinstance(pool, SandboxPool) else None)


def health(*, fresh: bool = False) -> Health:
    rt = runtime()
    catalog = rt.catalog
    errors = catalog_service.catalog_errors(catalog)
    exercises = {"loaded": len(catalog_service.exercises(catalog)), "errors": errors}
    database = database_check()
    if rt.settings.broker_url:  # queue mode: this process starts no sandbox; the workers grade
        broker = broker_check(rt.settings.broker_url)
        return Health(database["ok"] and broker["ok"], database, exercises, broker)
    sandbox = process_sandbox_check(fresh=fresh)
    return Health(database["ok"] and sandbox["ok"], database, exercises, sandbox)

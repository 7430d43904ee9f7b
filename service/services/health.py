"""Health: database reachability, the loaded catalog and the sandbox's layer-by-layer self-test."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import has_app_context

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
            mode = pool.cgroups if pool is not None else \
                runtime().settings.sandbox_cgroups if has_app_context() else "auto"
            layers = [dataclasses.asdict(layer) for layer in probe_layers(pool, mode)]  # LayerStatus
            ok = all(layer.get("ok") for layer in layers if layer.get("required"))
            report: dict[str, Any] = {"ok": ok, "layers": layers}
        except Exception as exc:
            log.exception("sandbox self-check failed")
            report = {"ok": False, "layers": [], "error": f"{type(exc).__name__}: {exc}"}
        _cache["sandbox"] = (time.monotonic(), report)
        return report


def schema_check() -> dict[str, Any]:
    """Whether the database is at the newest migration this code ships (an unmigrated one is not ready)."""
    from service.persistence.migrate import head

    try:
        # Read directly (not through Alembic's MigrationContext, which logs on every probe).
        if sa.inspect(db.session.connection()).has_table("alembic_version"):
            current = db.session.scalar(sa.text("SELECT version_num FROM alembic_version"))
        else:
            current = None
        db.session.rollback()
    except Exception as exc:
        db.session.rollback()
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    expected = head()
    report: dict[str, Any] = {"ok": current == expected, "current": current, "head": expected}
    if current != expected:
        report["error"] = "run `kiwame db upgrade`" if current is None else \
            f"database at {current}, code expects {expected}: run `kiwame db upgrade`"
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
    if database["ok"]:
        database["schema"] = schema_check()
    schema_ok = database.get("schema", {}).get("ok", False)
    if rt.settings.broker_url:  # queue mode: this process starts no sandbox; the workers grade
        broker = broker_check(rt.settings.broker_url)
        return Health(database["ok"] and schema_ok and broker["ok"], database, exercises, broker)
    sandbox = process_sandbox_check(fresh=fresh)
    return Health(database["ok"] and schema_ok and sandbox["ok"], database, exercises, sandbox)


@dataclass(frozen=True)
class Readiness:
    ready: bool
    checks: dict[str, dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {"status": "ready" if self.ready else "not_ready", "checks": self.checks}


def readiness() -> Readiness:
    """What /readyz answers: database reachable, schema at the newest migration, sandbox self-check
    passing, and this process's zygote alive (the grading pool is started here if it was not yet)."""
    checks: dict[str, dict[str, Any]] = {"database": database_check()}
    checks["schema"] = schema_check() if checks["database"]["ok"] else {"ok": False, "error": "no database"}
    rt = runtime()
    if rt.settings.broker_url:  # queue mode: this process grades nothing; ready when the workers are
        checks["broker"] = broker_check(rt.settings.broker_url)
        return Readiness(all(check["ok"] for check in checks.values()), checks)
    pool = rt.engine.pool
    if not isinstance(pool, SandboxPool):  # an engine without a local sandbox cannot grade here
        checks["sandbox"] = checks["zygote"] = {"ok": False, "error": "no sandbox pool in this process"}
        return Readiness(False, checks)
    alive = pool.revive()  # an idle pool whose zygote died would otherwise wait for a submission
    sandbox = sandbox_check(pool=pool)
    checks["sandbox"] = {"ok": sandbox["ok"], **({"error": sandbox["error"]} if "error" in sandbox else {}),
                         "failed": [layer["name"] for layer in sandbox.get("layers", [])
                                    if layer.get("required") and not layer.get("ok")]}
    checks["zygote"] = {"ok": alive, **pool.stats()}
    return Readiness(all(check["ok"] for check in checks.values()), checks)

"""Scrape-time metric readings: queue depth, sandbox pool state and outbox backlogs, read where they live."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import sqlalchemy as sa
from flask import Flask
from prometheus_client.core import CounterMetricFamily
from prometheus_client.metrics_core import Metric

from service.persistence import SubmissionRow, db
from service.sandbox.pool import SandboxPool
from service.services import outbox
from service.services.runtime import runtime
from service.telemetry.http import add_reading
from service.telemetry.metrics import gauge


def _in_context(app: Flask, read: Callable[[], Iterator[Metric]]) -> Callable[[], list[Metric]]:
    def reading() -> list[Metric]:
        with app.app_context():
            try:
                return list(read())
            finally:
                db.session.remove()
    return reading


def queue_depth() -> Iterator[Metric]:
    counts = dict(db.session.execute(
        sa.select(SubmissionRow.status, sa.func.count()).where(SubmissionRow.status.in_(("queued", "running")))
        .group_by(SubmissionRow.status)).all())
    yield gauge("kiwame_queue_depth", "Submissions waiting for (queued) or in (running) grading",
                {("queued",): counts.get("queued", 0), ("running",): counts.get("running", 0)}, ("status",))


def backlog(kind: outbox.Kind) -> int:
    """Deliveries of one outbox kind still to be made (every kind's table has DeliveryState's status)."""
    return db.session.scalar(sa.select(sa.func.count()).select_from(kind.model)
                             .where(kind.model.status == "pending")) or 0


def outbox_backlog() -> Iterator[Metric]:
    """Every registered outbox kind (webhooks, LTI score passback, ...) without further wiring."""
    yield gauge("kiwame_outbox_backlog", "Deliveries still pending, per outbox kind",
                {(name,): backlog(kind) for name, kind in sorted(outbox.KINDS.items())}, ("kind",))


def sandbox_pool(app: Flask) -> Iterator[Metric]:
    """This process's pool; before the first grading there is none yet (zygote_up 0, nothing else)."""
    rt = runtime(app)
    pool = rt.engine.pool if rt.engine_started else None
    stats = pool.stats() if isinstance(pool, SandboxPool) else None
    yield gauge("kiwame_sandbox_zygote_up", "1 when this process's sandbox zygote is running",
                1 if stats and stats["zygote_alive"] else 0)
    if stats:
        yield gauge("kiwame_sandbox_size", "Sandbox jobs that may run at once", stats["size"])
        yield gauge("kiwame_sandbox_spares", "Isolated children forked ahead of demand", stats["spares"])
        yield gauge("kiwame_sandbox_busy", "Sandbox jobs running now", stats["busy"])
        restarts = CounterMetricFamily("kiwame_sandbox_zygote_restarts", "Zygotes restarted after dying")
        restarts.add_metric([], stats["restarts"])
        yield restarts


def init_app(app: Flask) -> None:
    add_reading(app, "queue", _in_context(app, queue_depth))
    add_reading(app, "outbox", _in_context(app, outbox_backlog))
    add_reading(app, "sandbox", lambda: list(sandbox_pool(app)))

"""The objects a serving process builds (catalog, engine, queue, outbox), reached through ``runtime(app)``.

Built by ``create_app`` (``install``); the engine, the queue and the outbox scheduler start on first use,
so gunicorn (or a Celery worker) forks before any sandbox process or thread exists. Which queue and which
scheduler a process uses is the app's wiring: it passes their factories in.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app

from service.config import Settings
from service.exercises import Catalog, ExerciseError

if TYPE_CHECKING:  # annotations only: queue and outbox import this module
    from service.grading.engine import Engine
    from service.services.outbox import Scheduler
    from service.services.queue import GradingQueue

_KEY = "kiwame.runtime"
ReferenceChecks = dict[tuple[str, str], list[ExerciseError]]  # (exercise id, content hash) -> its errors


@dataclass(eq=False)
class Runtime:
    """One app's long-lived objects; the lazy ones are built once, under a lock, on first use."""

    app: Flask
    settings: Settings
    catalog: Catalog
    make_queue: Callable[[Runtime], GradingQueue]
    make_outbox: Callable[[Runtime], Scheduler]
    # Results of the start-up reference checks; replaced as a whole (request threads read it unlocked).
    reference_checks: ReferenceChecks = field(default_factory=dict)
    # Expected outputs of visible cases, per exercise version (what the exercise page shows).
    expected: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    # Exercise version row ids by (exercise id, content hash): rows never change (catalog.version_id).
    version_ids: dict[tuple[str, str], int] = field(default_factory=dict)
    _engine: Engine | None = None
    _queue: GradingQueue | None = None
    _outbox: Scheduler | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def engine(self) -> Engine:
        """The grading engine, created on first use so gunicorn forks before any sandbox process starts."""
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    from service.grading.engine import Engine  # heavy (numpy): only where grading happens
                    from service.sandbox.pool import SandboxPool

                    # Both runs of every grading worker's grading at once (+ a reference run): a slow or
                    # hostile learner's runs never hold the slot an honest learner needs (fairness.py).
                    size = self.settings.sandbox_size or 2 * self.settings.grading_workers + 2
                    self._engine = Engine(SandboxPool(size=size, cgroups=self.settings.sandbox_cgroups))
        return self._engine

    @engine.setter
    def engine(self, engine: Engine) -> None:
        self._engine = engine

    @property
    def engine_started(self) -> bool:
        """Whether this process grades (then reloads re-check references in its sandbox)."""
        return self._engine is not None

    @property
    def queue(self) -> GradingQueue:
        """Where submissions are sent to be graded (built by ``make_queue`` on first use)."""
        if self._queue is None:
            with self._lock:
                self._queue = self._queue or self.make_queue(self)
        return self._queue

    @property
    def outbox(self) -> Scheduler:
        """What runs outbox deliveries (built by ``make_outbox`` on first use)."""
        if self._outbox is None:
            with self._lock:
                self._outbox = self._outbox or self.make_outbox(self)
        return self._outbox

    def close(self) -> None:
        """Stop what was started (grading threads, delivery timers); nothing is built to be closed."""
        with self._lock:
            queue, outbox, self._queue, self._outbox = self._queue, self._outbox, None, None
        if queue is not None:
            queue.close()
        if outbox is not None:
            outbox.close()


def install(app: Flask, rt: Runtime) -> Runtime:
    app.extensions[_KEY] = rt
    return rt


def runtime(app: Flask | None = None) -> Runtime:
    """The runtime of ``app`` (default: the current app)."""
    target = app if app is not None else current_app
    rt: Runtime = target.extensions[_KEY]
    return rt

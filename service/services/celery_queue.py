"""Queue mode (``KIWAME_BROKER_URL``): grading tasks go to ``kiwame worker`` processes over Celery and Redis.

The web tier never grades here: ``CeleryQueue.enqueue`` sends the task ``kiwame.grade_submission`` by name
(services never import ``service/worker``) to the ``cpu`` or ``gpu`` queue, from a sender thread so a
broker outage never blocks or fails a POST whose row is stored (the sweep re-sends what was not sent).
``wait`` blocks on a Redis pub/sub notification the worker publishes after storing a result (``notify``),
and re-reads the database every ``KIWAME_WAIT_POLL_S`` only as a safety net (a lost notification, Redis down).
"""

from __future__ import annotations

import json
import logging
import queue as stdlib_queue
import threading
import time
from typing import Any, cast

import redis
from celery import Celery
from flask import Flask

from service.config import Settings
from service.domain import Exercise
from service.services import queue as grading_queue
from service.services.runtime import Runtime

log = logging.getLogger(__name__)
GRADE_TASK = "kiwame.grade_submission"
SWEEP_TASK = "kiwame.sweep"
CHANNEL = "kiwame:graded"
EXPECTED_TASK = "kiwame.expected"
EXPECTED = "kiwame:expected:"  # + expected_key(): visible cases' expected outputs, computed by a worker
WORKERS = "kiwame:worker:"  # + worker name: its sandbox self-check and queues, expiring unless refreshed


def celery_config(settings: Settings) -> dict[str, Any]:
    """Celery settings that fit grading (shared by the web tier's producer and the workers)."""
    return {
        "broker_url": settings.broker_url,
        "task_default_queue": "cpu",
        "task_acks_late": True,  # acknowledge after grading: a worker killed mid-grading loses nothing
        "task_reject_on_worker_lost": True,  # ...and its task is redelivered, not acknowledged
        "worker_prefetch_multiplier": 1,  # a busy worker holds no messages another worker could grade
        "task_ignore_result": True,  # the database row is the result
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,  # a worker outlives a Redis restart
        "broker_transport_options": {
            # Redis redelivers an unacknowledged task after this; longer than the longest grading.
            "visibility_timeout": settings.visibility_timeout_s,
            "socket_timeout": 5, "socket_connect_timeout": 3,
        },
        "task_publish_retry_policy": {"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5,
                                      "interval_max": 2},
        "worker_hijack_root_logger": False,
        "worker_send_task_events": False,
        "accept_content": ["json"], "task_serializer": "json",
    }


def producer(settings: Settings) -> Celery:
    app = Celery("kiwame", set_as_current=False)
    app.conf.update(celery_config(settings))
    return app


class _Waiter(threading.Event):
    """One ``wait``'s wake-up; ``graded``: woken by the submission's own notification (published after the
    worker committed the result), not by a reconnect that only asks every waiter to re-read."""

    graded = False


class Notifier:
    """Redis pub/sub of graded submission ids: ``publish`` (workers), ``waiter`` events (the web tier)."""

    def __init__(self, url: str, poll_s: float) -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=3)
        self._poll_s = poll_s
        self._lock = threading.Lock()
        self._waiters: dict[int, list[_Waiter]] = {}
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()

    def publish(self, submission_id: int) -> None:
        try:
            self._redis.publish(CHANNEL, str(submission_id))
        except redis.RedisError as exc:  # waiters fall back on their database poll
            log.warning("could not publish graded submission %s: %s", submission_id, exc)

    def wait(self, submission_id: int, timeout: float) -> None:
        """Until the row is final, a notification says so, or ``timeout`` (the database is the truth)."""
        self._listen()
        event = _Waiter()
        with self._lock:
            self._waiters.setdefault(submission_id, []).append(event)
        try:
            deadline = time.monotonic() + max(0.0, timeout)
            while not _final(submission_id):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                if event.wait(min(remaining, self._poll_s)) and event.graded:
                    return  # the worker committed before publishing: no need to read the row again here
                event.clear()
        finally:
            with self._lock:
                events = self._waiters.get(submission_id, [])
                if event in events:
                    events.remove(event)
                if not events:
                    self._waiters.pop(submission_id, None)

    def _listen(self) -> None:
        with self._lock:
            if self._thread is None:  # started on first use: after gunicorn forked
                self._thread = threading.Thread(target=self._loop, name="kiwame-notify", daemon=True)
                self._thread.start()

    def _wake(self, submission_id: int | None) -> None:
        with self._lock:
            if submission_id is None:  # reconnected: notifications may have been missed, everyone re-reads
                events = [e for es in self._waiters.values() for e in es]
            else:
                events = list(self._waiters.get(submission_id, []))
        for event in events:
            if submission_id is not None:
                event.graded = True
            event.set()

    def _loop(self) -> None:
        delay = 0.2
        while not self._closed.is_set():
            try:
                pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(CHANNEL)
                self._wake(None)
                delay = 0.2
                while not self._closed.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message and message.get("type") == "message":
                        self._wake(int(message["data"]))
            except (redis.RedisError, OSError, ValueError) as exc:
                log.warning("graded notifications: %s; reconnecting in %.1f s", exc, delay)
                self._closed.wait(delay)
                delay = min(delay * 2, 5.0)

    def close(self) -> None:
        self._closed.set()


def report_worker(url: str, name: str, report: dict[str, Any], ttl_s: float) -> None:
    """A worker's heartbeat: its sandbox layers and queues, read by the web tier's /healthz."""
    redis.Redis.from_url(url, socket_timeout=5).setex(WORKERS + name, max(1, int(ttl_s)), json.dumps(report))


def worker_reports(url: str) -> dict[str, dict[str, Any]]:
    """The live workers' last heartbeats (raises ``redis.RedisError`` when the broker is down)."""
    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    keys = sorted(client.scan_iter(match=WORKERS + "*", count=100))
    # A synchronous client: its replies are values (redis-py's types also allow the async client's awaitables).
    values = cast(list[Any], client.mget(keys)) if keys else []
    return {k.decode()[len(WORKERS):]: json.loads(v) for k, v in zip(keys, values, strict=True) if v}


def expected_key(exercise: Exercise) -> str:
    """Where one version's expected outputs live: per learner variant and per framework offered."""
    return f"{EXPECTED}{exercise.content_hash}:{exercise.variant}:{exercise.framework}"


def store_expected(url: str, exercise: Exercise, data: dict[str, Any]) -> None:
    """A worker publishes an exercise version's expected outputs (the web tier runs no sandbox)."""
    redis.Redis.from_url(url, socket_timeout=5).set(expected_key(exercise), json.dumps(data), ex=7 * 86400)


def remote_expected(rt: Runtime, exercise: Exercise, timeout: float = 5.0) -> dict[str, Any] | None:
    """The expected outputs a worker computed for this variant and framework; asks one (task by name) and
    waits up to ``timeout``. None when no worker answered in time or the broker is down (the page then
    shows no expected values)."""
    assert rt.settings.broker_url
    key = expected_key(exercise)
    try:
        client = redis.Redis.from_url(rt.settings.broker_url, socket_timeout=2, socket_connect_timeout=2)
        raw = cast(bytes | None, client.get(key))
        if raw is None:
            grading = rt.queue
            if isinstance(grading, CeleryQueue):
                grading.send_expected(exercise)
            deadline = time.monotonic() + timeout
            while raw is None and time.monotonic() < deadline:
                time.sleep(0.1)
                raw = cast(bytes | None, client.get(key))
    except Exception as exc:  # redis or kombu: degrade to no expected values, never fail the page
        log.warning("expected outputs of %s unavailable: %s", exercise.id, exc)
        return None
    if raw is None:
        return None
    data: dict[str, Any] = json.loads(raw)
    return data


def _final(submission_id: int) -> bool:
    try:
        return grading_queue.is_final(submission_id)
    except Exception:  # the database is down: keep waiting (the caller answers with what it has)
        log.warning("wait: could not read submission %s", submission_id, exc_info=True)
        return False


class CeleryQueue:
    """The ``GradingQueue`` of queue mode: send by task name, wait on notifications."""

    def __init__(self, app: Flask, settings: Settings) -> None:
        assert settings.broker_url
        self._app = app
        self._celery = producer(settings)
        self.notifier = Notifier(settings.broker_url, settings.wait_poll_s)
        self._outgoing: stdlib_queue.SimpleQueue[tuple[int, str] | None] = stdlib_queue.SimpleQueue()
        self._sender: threading.Thread | None = None
        self._lock = threading.Lock()

    def enqueue(self, submission_id: int, queue: str = "cpu", learner: int | None = None) -> None:
        # The learner is not needed here: workers claim fairly from the database (leases.claim_next).
        with self._lock:
            if self._sender is None:
                self._sender = threading.Thread(target=self._send_loop, name="kiwame-send", daemon=True)
                self._sender.start()
        self._outgoing.put((submission_id, queue))

    def send_now(self, submission_id: int, queue: str = "cpu") -> None:
        """Publish the task on this thread (the sweep and tests); raises when the broker is down."""
        self._celery.send_task(GRADE_TASK, args=(submission_id,), queue=queue, retry=True)

    def send_expected(self, exercise: Exercise) -> None:
        """Ask a worker for this variant's expected outputs in this framework (the seed rebuilds the variant)."""
        self._celery.send_task(EXPECTED_TASK, args=(exercise.id, exercise.framework, exercise.variant_seed),
                               queue="cpu", retry=False)

    def _send_loop(self) -> None:
        while (item := self._outgoing.get()) is not None:
            try:
                self.send_now(*item)
            except Exception as exc:  # the row is stored: the sweep re-sends it after KIWAME_REQUEUE_AFTER_S
                log.warning("could not send submission %s to the %s queue: %s", item[0], item[1], exc)

    def wait(self, submission_id: int, timeout: float) -> None:
        self.notifier.wait(submission_id, timeout)  # a worker stored it: the caller reads the row

    def close(self) -> None:
        self._outgoing.put(None)
        self.notifier.close()


def make_queue(rt: Runtime) -> CeleryQueue:
    """Queue mode's queue (the app's wiring passes this factory when ``KIWAME_BROKER_URL`` is set)."""
    return CeleryQueue(rt.app, rt.settings)

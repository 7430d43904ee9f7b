"""Queue mode under faults: web + two workers, continuous submissions, SIGKILL a worker, restart Redis and
PostgreSQL; every accepted submission is graded exactly once, none stuck, no 5xx for a stored submission.

The test owns the Redis server and the PostgreSQL cluster it restarts (throwaway ones on free ports in a
temporary folder), so it never disturbs servers other processes use. Skips only where redis-server or
PostgreSQL's initdb/pg_ctl are missing, or without root (the sandbox and ``runuser`` need it).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

pytestmark = pytest.mark.faults
KIWAME = str(Path(sys.executable).parent / "kiwame")


def _pg_bin() -> str | None:
    """The folder with initdb and pg_ctl (on PATH, or Debian's versioned folders, newest first)."""
    found = shutil.which("initdb")
    candidates = [str(Path(found).parent)] if found else []
    candidates += [str(p) for p in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)]
    return next((c for c in candidates if (Path(c) / "initdb").exists() and (Path(c) / "pg_ctl").exists()), None)


PG_BIN = _pg_bin()
REDIS = shutil.which("redis-server")
EXERCISE = "permute-2d"
SOLUTION = "import torch\n\n\ndef solve(x):\n    return x.permute(1, 0)\n"


def _skip_reason() -> str | None:
    if REDIS is None:
        return "redis-server is not installed"
    if PG_BIN is None:
        return "PostgreSQL's initdb/pg_ctl are not installed"
    if os.geteuid() != 0 or shutil.which("runuser") is None:
        return "needs root (the sandbox, and runuser to run PostgreSQL as its own user)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    def __init__(self, port: int) -> None:
        self.port, self.proc = port, None  # type: ignore[var-annotated]

    def start(self) -> None:
        assert REDIS
        self.proc = subprocess.Popen([REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no"], stdout=subprocess.DEVNULL)
        _wait_port(self.port)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class PostgresCluster:
    """A throwaway cluster run as the postgres user (trust auth, loopback only)."""

    def __init__(self, root: Path, port: int) -> None:
        self.data, self.port = root / "pgdata", port
        root.mkdir(parents=True, exist_ok=True)
        shutil.chown(root, "postgres")

    def _pg(self, *args: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *args], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=120)

    def init(self) -> None:
        self._pg(f"{PG_BIN}/initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self.start()
        admin = sa.create_engine(self.url.replace("/kiwame", "/postgres"), isolation_level="AUTOCOMMIT",
                                 poolclass=sa.pool.NullPool)
        with admin.connect() as conn:
            conn.execute(sa.text("CREATE DATABASE kiwame"))
        admin.dispose()

    def start(self) -> None:
        self._pg(f"{PG_BIN}/pg_ctl", "-D", str(self.data), "-w", "-l", str(self.data.parent / "pg.log"), "-o",
                 f"-p {self.port} -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off", "start")

    def stop(self) -> None:
        self._pg(f"{PG_BIN}/pg_ctl", "-D", str(self.data), "-w", "-m", "fast", "stop")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/kiwame"


def _wait_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on {port}")


class Client(threading.Thread):
    """Submits as one learner until stopped; records every answer by its Idempotency-Key."""

    def __init__(self, port: int, token: str) -> None:
        super().__init__(daemon=True)
        self.port, self.token = port, token
        self.answers: list[tuple[str, int | None, int | None]] = []  # (key, HTTP status or None, id)
        self.halt = threading.Event()

    def run(self) -> None:
        body = json.dumps({"exercise_id": EXERCISE, "code": SOLUTION})
        while not self.halt.is_set():
            key = uuid.uuid4().hex
            status = submission_id = None
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                conn.request("POST", f"/api/v1/submissions?wait={1 if len(self.answers) % 2 else 0}", body,
                             {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json",
                              "Idempotency-Key": key})
                resp = conn.getresponse()
                status, data = resp.status, json.loads(resp.read() or b"{}")
                submission_id = data.get("id") if status in (200, 202) else None
                conn.close()
            except (OSError, http.client.HTTPException, ValueError):
                pass  # no answer: the row may or may not be stored; checked below by its key
            self.answers.append((key, status, submission_id))
            self.halt.wait(0.15)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[dict[str, Any]]:
    if (reason := _skip_reason()) is not None:
        pytest.skip(reason)
    redis_server = RedisServer(free_port())
    pg = PostgresCluster(Path("/tmp") / f"kiwame-faults-{uuid.uuid4().hex[:8]}", free_port())
    procs: list[subprocess.Popen[bytes]] = []
    log = open(tmp_path / "stack.log", "wb")  # noqa: SIM115 - closed below
    try:
        redis_server.start()
        pg.init()
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("KIWAME_")}
        env.update({"KIWAME_DATABASE_URL": pg.url, "KIWAME_BROKER_URL": f"redis://127.0.0.1:{redis_server.port}/0",
                    "KIWAME_INSTANCE_DIR": str(tmp_path / "instance"), "KIWAME_AUTO_MIGRATE_ON_SERVE": "1",
                    "KIWAME_RATE_LIMIT": "100000 per minute", "KIWAME_SUBMIT_RATE_LIMIT": "100000 per minute",
                    "KIWAME_GRADING_LEASE_S": "10", "KIWAME_SWEEP_INTERVAL_S": "2", "KIWAME_REQUEUE_AFTER_S": "6",
                    "KIWAME_WAIT_POLL_S": "1", "KIWAME_DB_RETRY_S": "90"})
        web = subprocess.Popen([KIWAME, "serve", "--port", str(port)], env=env, stdout=log, stderr=log)
        procs.append(web)
        _wait_port(port, 120)

        def worker() -> subprocess.Popen[bytes]:
            proc = subprocess.Popen([KIWAME, "worker", "--queues", "cpu", "--concurrency", "2"], env=env,
                                    stdout=log, stderr=log)
            procs.append(proc)
            return proc

        yield {"port": port, "env": env, "pg": pg, "redis": redis_server, "worker": worker, "log": tmp_path}
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
        log.close()
        redis_server.stop()
        try:
            pg.stop()
        except subprocess.SubprocessError:
            pass
        shutil.rmtree(pg.data.parent, ignore_errors=True)


def _tokens(url: str, instance: str, count: int) -> list[str]:
    from service.app import create_app
    from service.extensions import db
    from service.services import tokens, users

    app = create_app({"KIWAME_DATABASE_URL": url, "KIWAME_INSTANCE_DIR": instance, "KIWAME_AUTO_MIGRATE": "0"})
    with app.app_context():
        out = []
        for i in range(count):
            users.create_user(f"faults-{i}", "learner", "x" * 12)
            out.append(tokens.create_token(f"faults-{i}").token)
        db.engine.dispose()
    return out


def test_faults_lose_nothing_and_grade_once(stack: dict[str, Any]) -> None:
    workers = [stack["worker"](), stack["worker"]()]
    engine = sa.create_engine(stack["pg"].url, poolclass=sa.pool.NullPool)
    clients = [Client(stack["port"], t) for t in _tokens(stack["pg"].url, stack["env"]["KIWAME_INSTANCE_DIR"], 4)]
    for c in clients:
        c.start()

    def running() -> int:
        with engine.connect() as conn:
            return int(conn.scalar(sa.text("SELECT count(*) FROM submissions WHERE status = 'running'")) or 0)

    deadline = time.monotonic() + 60  # 1. SIGKILL a worker while a grading is in flight
    while running() == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    workers[0].send_signal(signal.SIGKILL)
    killed_with_running = running()
    time.sleep(4)
    stack["worker"]()  # a replacement, as a supervisor would start
    time.sleep(4)
    stack["redis"].stop()  # 2. restart Redis (no persistence: every queued message is lost)
    time.sleep(2)
    stack["redis"].start()
    time.sleep(6)
    stack["pg"].stop()  # 3. restart PostgreSQL (3 s down)
    time.sleep(3)
    stack["pg"].start()
    time.sleep(8)
    for c in clients:
        c.halt.set()
    for c in clients:
        c.join(60)

    answers = [a for c in clients for a in c.answers]
    accepted = {sid for _, status, sid in answers if status in (200, 202)}
    deadline = time.monotonic() + 120  # nothing stuck: every stored row reaches a final status
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            pending = conn.scalar(sa.text("SELECT count(*) FROM submissions WHERE status IN ('queued', 'running')"))
        if pending == 0:
            break
        time.sleep(1)
    with engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(sa.text(
            "SELECT id, user_id, status, passed, claims, idempotency_key FROM submissions"))}
        attempts = dict(conn.execute(sa.text("SELECT user_id, sum(attempts) FROM progress GROUP BY user_id")).all())
    engine.dispose()
    by_key = {r.idempotency_key: r for r in rows.values()}
    server_errors = [(key, status) for key, status, _ in answers if status is not None and status >= 500]
    unanswered = [key for key, status, _ in answers if status is None]
    reclaimed = sum(1 for r in rows.values() if r.claims > 1)
    print(f"\nfault test: {len(answers)} POSTs, {len(accepted)} accepted (2xx), {len(rows)} rows stored, "
          f"{sum(r.status == 'graded' for r in rows.values())} graded, {reclaimed} re-claimed after a fault, "
          f"{len(server_errors)} 5xx (none stored), {len(unanswered)} without an answer; "
          f"running at the SIGKILL: {killed_with_running}")
    assert len(accepted) > 20, "too few submissions accepted to mean anything"
    assert accepted <= set(rows), "an accepted submission is missing"
    stuck = [i for i, r in rows.items() if r.status not in ("graded", "error")]
    assert not stuck, f"stuck submissions: {stuck}"
    assert all(r.status == "graded" and r.passed for r in rows.values()), "a correct solution was not graded"
    graded_per_user: dict[int, int] = {}
    for r in rows.values():
        graded_per_user[r.user_id] = graded_per_user.get(r.user_id, 0) + 1
    # Exactly once: every stored result counted one attempt, so attempts == graded rows, per learner.
    assert {u: int(n) for u, n in attempts.items()} == graded_per_user
    assert all(key not in by_key for key, _ in server_errors), "a stored submission was answered with a 5xx"
    assert {status for _, status in server_errors} <= {503}, f"unexpected server errors: {server_errors[:5]}"

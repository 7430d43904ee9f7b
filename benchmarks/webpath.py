"""Web-side cost of one graded submission (not a timed test): everything but the sandbox, in-process.

    python benchmarks/webpath.py [--n 400] [--profile]

Builds the embedded app on a fresh SQLite instance, grades the reference solution of `permute-2d` once for
real, then replaces the engine by one that hands back a copy of that real result, so what is left is the
HTTP path's own work: auth, rate limits, validation, idempotency hash, the insert, the in-process queue
(claim, load, store, progress, outbox), the wait and the answer. Requests go through Flask's test client
(no socket, no gunicorn). Prints p50 and CPU ms per submission (all threads of this process) and the SQL
statements and commits one submission runs; ``--profile`` adds a cProfile of the request and grading
threads' work, run on one thread (the grading called where the enqueue is). Needs root (the one real
grading uses the sandbox). The figures are upper bounds on a loaded machine: compare runs, not machines.
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import json
import logging
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

EXERCISE = "permute-2d"


def build(tmp: str) -> tuple[Any, str, str]:
    """The app (canned engine installed), a learner's token and the code it submits."""
    unlimited = "1000000 per minute"
    os.environ.update({"KIWAME_INSTANCE_DIR": tmp, "KIWAME_RATE_LIMIT": unlimited,
                       "KIWAME_SUBMIT_RATE_LIMIT": unlimited, "KIWAME_ADDRESS_SUBMIT_RATE_LIMIT": unlimited,
                       "KIWAME_GLOBAL_SUBMIT_RATE_LIMIT": unlimited})
    from service.app import create_app
    from service.domain import Submission
    from service.services import tokens, users
    from service.services.runtime import runtime
    from service.telemetry import logs

    logs.configure("json", "INFO")  # as served: one JSON line per graded submission, to /dev/null here
    logging.getLogger().handlers[0].stream = open(os.devnull, "w")  # noqa: SIM115 - for the whole run
    app = create_app()
    rt = runtime(app)
    with app.app_context():
        users.create_user("bench", "learner", "x" * 12)
        token = tokens.create_token("bench").token
        exercise = rt.catalog.get(EXERCISE)
        real = rt.engine.grade(exercise, Submission(exercise.id, code=exercise.solution))
    assert real.passed, real
    rt.engine.pool.close()

    class Canned:
        """The engine's answer without the sandbox: a copy of the real result (the caller may mutate it)."""

        def grade(self, _exercise: Any, _submission: Any) -> Any:
            return copy.deepcopy(real)

    rt.engine = Canned()  # type: ignore[assignment]
    return app, token, exercise.solution


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kiwame-webpath-") as tmp:
        app, token, code = build(tmp)
        client = app.test_client()
        body = json.dumps({"exercise_id": EXERCISE, "code": code})
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

        def submit() -> None:
            answer = client.post("/api/v1/submissions?wait=30", data=body, headers=headers)
            assert answer.status_code == 200 and answer.get_json()["passed"], answer.data[:300]

        for _ in range(30):
            submit()
        statements = count_statements(submit)
        lat, cpu0 = [], os.times()
        for _ in range(args.n):
            started = time.perf_counter()
            submit()
            lat.append((time.perf_counter() - started) * 1000)
        cpu1 = os.times()
        cpu = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) * 1000 / args.n
        print(f"web path without the sandbox: p50 {statistics.median(lat):.2f} ms, CPU {cpu:.2f} ms per submission "
              f"(n={args.n}); {statements['sql']} SQL statements and {statements['commit']} commits each; "
              f"load avg {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
        if args.profile:
            profile(app, submit, args.n)


def count_statements(submit: Any) -> dict[str, int]:
    """SQL statements and commits of one submission (the grading thread's included)."""
    import sqlalchemy as sa

    counts = {"sql": 0, "commit": 0}

    def statement(*_: Any) -> None:
        counts["sql"] += 1

    def commit(*_: Any) -> None:
        counts["commit"] += 1

    sa.event.listen(sa.Engine, "before_cursor_execute", statement)
    sa.event.listen(sa.Engine, "commit", commit)
    submit()
    time.sleep(0.2)  # a delivery or timer thread still finishing is not this submission's
    sa.event.remove(sa.Engine, "before_cursor_execute", statement)
    sa.event.remove(sa.Engine, "commit", commit)
    return counts


def profile(app: Any, submit: Any, n: int) -> None:
    """cProfile of ``n`` submissions with the grading run on the request's thread (one profile sees it all)."""
    from service.services import queue as grading_queue

    def enqueue_here(self: Any, submission_id: int, queue: str = "cpu", learner: int | None = None) -> None:
        self._events.setdefault(submission_id, grading_queue._Grading())
        self._run(submission_id)

    grading_queue.InProcessQueue.enqueue = enqueue_here  # type: ignore[method-assign]
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(n):
        submit()
    profiler.disable()
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(r"service/|flask_limiter|marshmallow", 45)


if __name__ == "__main__":
    main()

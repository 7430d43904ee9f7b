"""The fair queue, attacked as a hostile learner would: a burst must not delay anyone else."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from service.services.fairness import FairQueue


def drain(q: FairQueue[str], n: int) -> list[str]:
    out = []
    for _ in range(n):
        got = q.get(timeout=1)
        assert got is not None
        learner, item = got
        out.append(item)
        q.done(learner)
    return out


def test_a_burst_from_one_learner_does_not_delay_the_others() -> None:
    q: FairQueue[str] = FairQueue()
    for i in range(20):  # a hostile burst, within the submit rate limit
        q.put("mallory", f"m{i}")
    q.put("alice", "a0")
    q.put("bob", "b0")
    # Round-robin: alice and bob are served after one of mallory's, not after all twenty.
    assert drain(q, 4) == ["m0", "a0", "b0", "m1"]


def test_at_most_one_grading_in_flight_per_learner() -> None:
    q: FairQueue[str] = FairQueue()
    q.put("mallory", "m0")
    q.put("mallory", "m1")
    got = q.get(timeout=1)
    assert got == ("mallory", "m0")
    # mallory's second submission waits for the first, even with idle workers.
    assert q.get(timeout=0.05) is None
    q.put("alice", "a0")
    assert q.get(timeout=1) == ("alice", "a0")
    q.done("mallory")
    assert q.get(timeout=1) == ("mallory", "m1")
    assert q.in_flight() == 2 and q.pending() == 0


def test_workers_block_until_work_arrives_and_close_releases_them() -> None:
    q: FairQueue[int] = FairQueue()
    got: list[object] = []
    t = threading.Thread(target=lambda: got.append(q.get()))
    t.start()
    q.put("alice", 1)
    t.join(2)
    assert got == [("alice", 1)]
    t = threading.Thread(target=lambda: got.append(q.get()))
    t.start()
    q.close()
    t.join(2)
    assert got[-1] is None and not t.is_alive()


class SlowEngine:
    """Stands in for a hostile submission: an answer of [9, 9] takes the whole time limit."""

    def __init__(self) -> None:
        self.started: list[Any] = []

    def grade(self, exercise: Any, submission: Any) -> Any:
        from service.grading.quiz import grade_quiz

        self.started.append(submission.answer)
        if submission.answer == [9, 9]:
            time.sleep(0.6)
        return grade_quiz(exercise, submission.answer)


@pytest.mark.skipif(bool(os.environ.get("KIWAME_TEST_BROKER_URL")), reason="swaps the in-process engine; queue mode's cross-worker fairness "
                                               "is tests/services/test_leases.py's fair claim")
def test_a_hostile_learner_holds_at_most_one_worker(make_app: Callable[..., Flask], make_user: Callable) -> None:
    from service.services import submissions
    from service.services.runtime import runtime

    app = make_app(KIWAME_GRADING_WORKERS=2)
    engine = SlowEngine()
    runtime(app).engine = engine  # type: ignore[assignment]
    mallory, alice = make_user("mallory"), make_user("alice")

    def submit(user_id: int, answer: list[int]) -> Any:
        with app.test_request_context():
            return submissions.submit(submissions.SubmitRequest(user_id=user_id, exercise_id="permute-shape-quiz",
                                                                answer=answer))

    slow = [submit(mallory.id, [9, 9]) for _ in range(5)]
    honest = submit(alice.id, [7, 4])
    with app.app_context():
        done = submissions.wait_for(honest.id, 10, viewer_id=alice.id, staff=False)
    assert done.status == "graded"
    # mallory's backlog waits in mallory's own queue: the free worker took alice's next, not mallory's
    # second (with one global FIFO both workers would have been on mallory's submissions first).
    assert engine.started[:2] == [[9, 9], [7, 4]]
    with app.app_context():
        for view in slow:
            submissions.wait_for(view.id, 10, viewer_id=mallory.id, staff=False)
    runtime(app).queue.close()


class TimeoutThenWait:
    """The visible run hits the time limit at once; the hidden run would run on until it is cancelled."""

    def __init__(self) -> None:
        self.hidden_cancelled = False

    def run(self, job: Any, cancel: threading.Event | None = None) -> Any:
        from service.sandbox.protocol import CaseOut, RawRun, Value

        names = [c.name for c in job.cases]
        if job.code.startswith("# reference"):
            return RawRun(status="ok", cases={n: CaseOut(n, value=Value(kind="int", scalar=1)) for n in names})
        if names == ["shown"]:
            return RawRun(status="timeout", limits_hit=["timeout"], detail="wall clock")
        assert cancel is not None
        self.hidden_cancelled = cancel.wait(10)
        return RawRun(status="cancelled")


def test_the_hidden_run_is_cancelled_when_the_visible_run_times_out() -> None:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "grading"))
    from grading_support import exercise

    from service.domain import Case, Submission
    from service.grading.engine import Engine

    ex = exercise(id="t-cancel", solution="# reference\ndef solve(x):\n    return 1\n",
                  cases=(Case("shown", True, {"x": [1]}), Case("secret", False, {"x": [2]})))
    runner = TimeoutThenWait()
    started = time.monotonic()
    r = Engine(runner).grade(ex, Submission(ex.id, code="def solve(x):\n    while True: pass\n"))
    assert runner.hidden_cancelled and time.monotonic() - started < 10
    assert not r.passed and r.diagnoses[0].code == "timeout"
    assert [c.status for c in r.cases if not c.visible] == ["timeout"]


def test_healthz_sees_a_dead_zygote_at_once() -> None:
    import os

    import pytest

    from service.sandbox.pool import SandboxPool
    from service.services import health

    if os.geteuid() != 0:
        pytest.skip("the sandbox needs root")
    pool = SandboxPool(size=1, spares=1)
    try:
        assert health.sandbox_check(pool=pool, fresh=True)["ok"]  # probes and caches the layer report
        assert pool._proc is not None
        pool._proc.kill()  # the zygote dies (OOM killer, a bug, an operator)
        pool._proc.wait()
        report = health.sandbox_check(pool=pool)  # the cached report must not hide it
        assert report["ok"] is False and report["layers"][0]["name"] == "zygote"
    finally:
        pool.close()

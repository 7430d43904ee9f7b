"""Fixtures for the adversarial sandbox suite: one real pool per test session, and a health check."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import numpy as np
import pytest

from service.sandbox.pool import SandboxPool
from service.sandbox.protocol import ArgIn, CaseIn, Job, RawRun

# Planted in the trusted process *before* the zygote starts: it must never be readable from inside.
SECRET = "kiwame-test-secret-7f3a9c"
os.environ.setdefault("KIWAME_SECRET_KEY", SECRET)

X = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
GOOD = "def solve(x):\n    return x.permute(2, 0, 1)\n"


def job(code: str, *, framework: str = "torch", time_s: float = 2.0, memory_mb: int = 512,
        cases: int = 1, arrays: tuple[np.ndarray, ...] = (X,), values: tuple[object, ...] = ()) -> Job:
    args = tuple(ArgIn(f"a{i}", array=a) for i, a in enumerate(arrays))
    args += tuple(ArgIn(f"v{i}", value=v) for i, v in enumerate(values))
    return Job(code=code, entry="solve", framework=framework,  # type: ignore[arg-type]
               cases=tuple(CaseIn(f"case{i}", args) for i in range(cases)), time_s=time_s, memory_mb=memory_mb)


@pytest.fixture(scope="session")
def pool() -> Iterator[SandboxPool]:
    if os.geteuid() != 0:
        pytest.skip("the sandbox needs root (or CAP_SYS_ADMIN); it fails closed without it")
    p = SandboxPool(size=2)
    layers = p.selfcheck()
    bad = [ly for ly in layers if ly.required and not ly.ok]
    assert not bad, f"isolation layers missing: {bad}"
    yield p
    p.close()


def assert_healthy(pool: SandboxPool) -> None:
    """The next, ordinary submission is graded normally after whatever came before."""
    run = pool.run(job(GOOD, cases=3))
    assert run.status == "ok", run
    for case in run.cases.values():
        assert case.value is not None and case.value.array is not None
        np.testing.assert_array_equal(case.value.array, X.transpose(2, 0, 1))
    assert run.stdout == "" and run.stderr == ""


@pytest.fixture
def run(pool: SandboxPool) -> Iterator[object]:
    """`run(code, **job_kwargs) -> RawRun`, followed by a health check of the pool."""
    def go(code: str, **kw: object) -> RawRun:
        return pool.run(job(code, **kw))  # type: ignore[arg-type]
    yield go
    assert_healthy(pool)


def scalars_at_once(pool: SandboxPool, code: str, n: int = 2) -> list[object]:
    """Run `code` in `n` sandboxes at the same time; the scalar each returned ("" if none)."""
    out: list[object] = []

    def go() -> None:
        value = pool.run(job(code)).cases["case0"].value
        out.append(value.scalar if value is not None else "")

    threads = [threading.Thread(target=go) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def leaked(run: RawRun, needle: str = SECRET) -> bool:
    """Whether `needle` shows up anywhere the learner could see it come back."""
    blobs = [run.stdout, run.stderr, run.detail, str(run.error)]
    for case in run.cases.values():
        blobs += [str(case.error), str(case.value.scalar if case.value else "")]
    return any(needle in b for b in blobs)

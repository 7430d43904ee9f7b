"""``kiwame worker`` restarts a Celery worker that dies on its own (worker/supervise.py), with real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from service.worker.supervise import supervise


def _counting(tmp_path: Path, exits: list[int]) -> list[str]:
    """A child that appends a line to a file and exits with the next status of ``exits``."""
    runs = tmp_path / "runs"
    code = (f"import sys, pathlib; p = pathlib.Path({str(runs)!r}); n = len(p.read_text().splitlines()) "
            f"if p.exists() else 0; p.write_text('x\\n' * (n + 1)); sys.exit({exits!r}[min(n, {len(exits) - 1})])")
    return [sys.executable, "-c", code]


def runs(tmp_path: Path) -> int:
    return len((tmp_path / "runs").read_text().splitlines())


def test_a_crashed_worker_is_started_again_until_it_ends_cleanly(tmp_path: Path) -> None:
    # 70 is what Celery exits with after "Unrecoverable error" (seen at a Redis restart).
    assert supervise(_counting(tmp_path, [70, 70, 0]), first_delay=0.01) == 0
    assert runs(tmp_path) == 3


def test_refusal_and_a_clean_exit_are_final(tmp_path: Path) -> None:
    assert supervise(_counting(tmp_path, [2]), first_delay=0.01) == 2  # refused (no GPU, unknown queue)
    assert runs(tmp_path) == 1
    assert supervise(_counting(tmp_path / "..", [0]), first_delay=0.01) == 0


def test_restarts_are_bounded_when_asked(tmp_path: Path) -> None:
    assert supervise(_counting(tmp_path, [70]), max_restarts=2, first_delay=0.01) == 70
    assert runs(tmp_path) == 3


SUPERVISOR = """
import sys
from service.worker.supervise import supervise
sys.exit(supervise([sys.executable, "-c", "import os, signal, sys, time; "
    "signal.signal(signal.SIGTERM, lambda *a: sys.exit(0)); open(sys.argv[1], 'w').write(str(os.getpid())); "
    "time.sleep(60)", sys.argv[1]], first_delay=0.01))
"""


def _start(tmp_path: Path) -> tuple[subprocess.Popen[bytes], int]:
    pid_file = tmp_path / "child.pid"
    proc = subprocess.Popen([sys.executable, "-c", SUPERVISOR, str(pid_file)])
    deadline = time.monotonic() + 20
    while not (pid_file.exists() and pid_file.read_text()):
        assert time.monotonic() < deadline, "the child never started"
        time.sleep(0.05)
    return proc, int(pid_file.read_text())


def _gone(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
            with open(f"/proc/{pid}/stat") as fh:  # a zombie is gone too (its parent may not reap it)
                if fh.read().split(")")[-1].split()[0] == "Z":
                    return True
        except (ProcessLookupError, FileNotFoundError):
            return True
        time.sleep(0.05)
    return False


def test_sigterm_is_passed_on_and_ends_the_loop(tmp_path: Path) -> None:
    proc, child = _start(tmp_path)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0 and _gone(child)


def test_sigkill_of_the_supervisor_kills_the_worker_too(tmp_path: Path) -> None:
    # The fault test SIGKILLs `kiwame worker` mid-grading: the gradings in hand must stop with it.
    proc, child = _start(tmp_path)
    proc.kill()
    proc.wait(10)
    assert _gone(child)


def test_a_worker_that_logs_unrecoverable_and_hangs_still_ends() -> None:
    # Celery 5.7.0 logs CRITICAL "Unrecoverable error" at a broker restart, then can hang in its shutdown.
    code = ("import logging, time, service.worker.__main__ as w; "
            "logging.getLogger('celery.worker').addHandler(w.EndAfterUnrecoverable()); "
            "logging.getLogger('celery.worker').critical('Unrecoverable error: AttributeError()'); time.sleep(30)")
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", code], timeout=20)
    assert done.returncode == 70 and time.monotonic() - started < 15

"""``kiwame worker`` restarts its Celery worker when that worker dies on its own.

Why: Celery 5.7 with the Redis transport can exit with "Unrecoverable error: AttributeError ('NoneType'
object has no attribute 'hostname')" when the broker restarts while a late-acknowledged task is in hand
(kombu restores the unacknowledged message through a connection Celery has already dropped). Seen in
our fault test: both workers exited at a Redis restart and every later submission stayed queued. Docker
Compose restarts such a worker (``restart: unless-stopped``), a bare ``kiwame worker`` did not; now the
command itself is the supervisor, so every deployment gets the same behaviour.

The parent imports nothing heavy and runs the worker as a child process (``python -m service.worker
--child ...``). SIGTERM/SIGINT are passed on and end the loop (a warm shutdown, as before); the child dies
with the parent (PR_SET_PDEATHSIG), so SIGKILL of ``kiwame worker`` still stops the gradings in hand. An
exit with status 0 or 2 (refused: no GPU, bad queues) is final; any other exit is restarted after a
backoff (1 s doubling to 30 s, back to 1 s after a minute of running).
"""

from __future__ import annotations

import ctypes
import logging
import signal
import subprocess
import time
from typing import Any

log = logging.getLogger("service.worker")
FINAL = (0, 2)
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # In the child, before exec: the kernel sends SIGKILL to it when the supervisor dies.
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def supervise(command: list[str], *, max_restarts: int | None = None, first_delay: float = 1.0) -> int:
    """Run ``command`` (the worker: ``python -m service.worker --child ...``) until it ends for good;
    returns its final status."""
    stopping = False
    child: subprocess.Popen[bytes] | None = None

    def forward(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    delay, restarts = first_delay, 0
    while True:
        started = time.monotonic()
        # Its own process group: a terminal's Ctrl-C reaches only this process, which passes it on once
        # (twice would make Celery's warm shutdown a cold one).
        child = subprocess.Popen(command, preexec_fn=_die_with_parent, process_group=0)
        status = child.wait()
        if stopping or status in FINAL or (max_restarts is not None and restarts >= max_restarts):
            return 0 if stopping and status < 0 else status
        if time.monotonic() - started > 60:
            delay = first_delay
        log.error("the worker exited with status %s; restarting it in %.0f s", status, delay)
        time.sleep(delay)
        delay, restarts = min(delay * 2, 30.0), restarts + 1

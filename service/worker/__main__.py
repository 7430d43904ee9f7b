"""``python -m service.worker --queues cpu,gpu --concurrency N`` (what ``kiwame worker`` runs)."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import threading
from typing import NoReturn

from service.worker.supervise import supervise

CLOSE_S = 15.0  # the longest a stopped worker waits for its pool and connections to close


class EndAfterUnrecoverable(logging.Handler):
    """Celery 5.7.0 can log "Unrecoverable error" at a broker restart and then hang in its own shutdown
    (seen in CI's fault test, with every submission after it left queued; a timer thread meant to end
    the process later never ran). So whatever Celery logs as CRITICAL ends this process at once, from the
    thread that logged it, as a SIGKILL would (late acknowledgement and the leases recover what it held);
    the supervisor starts a new worker."""

    def __init__(self) -> None:
        super().__init__(level=logging.CRITICAL)

    def emit(self, record: logging.LogRecord) -> None:
        _abort(70)  # 70: EX_SOFTWARE, what Celery exits with


def _abort(status: int) -> NoReturn:
    # No logging and no stream locks here: the threads Celery left hanging may hold them.
    os.write(2, f"kiwame worker: Celery reported an unrecoverable error; ending with {status}\n".encode())
    os._exit(status)


def _end(status: int) -> NoReturn:
    # Not logging.shutdown(): it takes every handler's lock, which a hung thread may hold (the log handlers
    # here are stream handlers, which flush each record as it is written).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def start(queues: list[str], concurrency: int) -> None:
    """Run a worker until it is stopped (SIGTERM: finish the gradings in hand, then exit)."""
    from service.services import catalog
    from service.services.runtime import runtime
    from service.worker import tasks
    from service.worker.celery_app import celery, configure

    app = configure(queues, concurrency)
    sweeper = tasks.start_sweeper(app)
    name = f"kiwame-{os.getpid()}@{socket.gethostname()}"
    tasks.start_heartbeat(app, name)
    catalog.start_reference_check(app)  # warms the reference cache, and reports broken exercises early
    tasks.publish_all_expected(app)  # the web tier's exercise pages read them (it runs no sandbox)
    try:
        celery.worker_main(["worker", "-P", "threads", "-c", str(concurrency), "-Q", ",".join(queues),
                            "-n", name, "--loglevel", "INFO", "--without-gossip", "--without-mingle"])
    finally:
        # Bounded: closing may wait on a broker or database that is gone (the reason Celery stopped).
        sweeper.stop()
        closing = threading.Thread(target=runtime(app).close, daemon=True)
        closing.start()
        closing.join(CLOSE_S)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kiwame worker")
    parser.add_argument("--queues", default="cpu")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # run by the supervisor
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.child:  # the supervisor: restarts a worker that dies on its own (supervise.py)
        return supervise([sys.executable, "-m", "service.worker", "--child", "--queues", args.queues,
                          "--concurrency", str(args.concurrency)])
    from service.worker.celery_app import WorkerRefused, parse_queues

    # On "celery.worker": Celery empties the handlers of the "celery" logger when it sets up logging.
    logging.getLogger("celery.worker").addHandler(EndAfterUnrecoverable())
    status = 1
    try:
        start(parse_queues(args.queues), max(1, args.concurrency))
        status = 0
    except WorkerRefused as exc:
        print(f"Error: {exc}", file=sys.stderr)
        status = 2
    except SystemExit as exc:  # Celery ends its worker this way, with its exit code
        status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        # Exit now, whatever threads are left (a grading thread blocked on a dead connection, a notifier
        # reconnecting): a worker that stopped must end, so that the supervisor can start a new one.
        _end(status)


if __name__ == "__main__":
    sys.exit(main())

"""Single-use GPU sandbox: a fresh process (never a fork of the zygote) that initialises CUDA itself.

CUDA cannot be used in a child forked from a process that initialised it, and the zygote must stay
CUDA-free, so each GPU job starts `python -I -m service.sandbox.cuda`: it imports torch (CPU-only so
far), then forks one child into the same namespaces and isolation as a zygote child, plus read-write
binds of /dev/nvidia*, without an address-space limit (CUDA reserves host address space of about twice
the device memory). The pool runs one GPU job at a time; the wall-clock kill still applies.
"""

from __future__ import annotations

import glob
import os
import sys

from service.sandbox.driver import drive, new_channels, reap_runner, start_runner
from service.sandbox.limits import DEFAULT_LIMITS, SandboxLimits
from service.sandbox.protocol import Job, RawRun


def gpu_present() -> bool:
    return os.path.exists("/dev/nvidiactl") and bool(glob.glob("/dev/nvidia[0-9]*"))


def run(job: Job, limits: SandboxLimits = DEFAULT_LIMITS) -> RawRun:
    """Engine side: start the single-use runner, drive its child like any other, reap the runner."""
    if not gpu_present():
        return RawRun(status="unavailable", detail="device 'cuda' requested but this machine has no CUDA GPU")
    return run_fresh(job, limits, gpu=True)


def run_fresh(job: Job, limits: SandboxLimits = DEFAULT_LIMITS, gpu: bool = False) -> RawRun:
    """A fresh interpreter for one job, with the same isolation and harness as a zygote child.
    With gpu=False this is the per-submission-interpreter baseline the benchmark compares against."""
    child, theirs = new_channels()
    try:
        proc = start_runner("service.sandbox.cuda", theirs, "gpu" if gpu else "cpu")
    finally:
        for fd in theirs:
            os.close(fd)
    try:
        return drive(child, job, limits)
    finally:
        reap_runner(proc, 10)


def main() -> None:
    """Runner side (a fresh interpreter): set up exactly like the zygote, then fork the one GPU child."""
    import tempfile

    from service.sandbox import isolation, seccomp, zygote

    zygote.warm_up()  # CPU only: CUDA is initialised by the isolated child, never here
    fds = [int(a) for a in sys.argv[1:7]]
    gpu = sys.argv[7] == "gpu"
    mountpoint = tempfile.mkdtemp(prefix="kiwame-fresh-root-")
    try:
        plan = isolation.plan_mounts(mountpoint, gpu=gpu)
        # Above the zygote's uid range, and unique: the pid of this runner is unique while it lives.
        uid = DEFAULT_LIMITS.fresh_uid_base + os.getpid() % 100000
        pid = zygote.spawn(fds, uid, plan, seccomp.Filter(), gpu, [], None)
        _, status = os.waitpid(pid, 0)
        zygote.report_exit(fds[4], status)
    finally:
        os.rmdir(mountpoint)


if __name__ == "__main__":
    main()

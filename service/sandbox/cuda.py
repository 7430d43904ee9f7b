"""Single-use GPU sandbox: a fresh process (never a fork of the zygote) that initialises CUDA itself.

CUDA cannot be used in a child forked from a process that initialised it, and the zygote must stay
CUDA-free, so each GPU job starts `python -I -m service.sandbox.cuda`: it imports torch (CPU-only so
far), then forks one child into the same namespaces and isolation as a zygote child, plus read-write
binds of /dev/nvidia*, without an address-space limit (CUDA reserves host address space of about twice
the device memory). The pool runs one GPU job at a time; the wall-clock kill still applies. Where the
host has cgroups the child gets its own leaf, exactly like a zygote child (memory for all its processes
together, pids, one CPU); the pool sets the job's memory limit on it.
"""

from __future__ import annotations

import glob
import os
import sys
import time

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

    from service.sandbox import cgroups, isolation, seccomp, zygote

    zygote.warm_up()  # CPU only: CUDA is initialised by the isolated child, never here
    fds = [int(a) for a in sys.argv[1:7]]
    gpu = sys.argv[7] == "gpu"
    mountpoint = tempfile.mkdtemp(prefix="kiwame-fresh-root-")
    groups = None
    try:
        # Named like a zygote's groups, so a zygote's sweep removes them if this runner is killed.
        groups = cgroups.Groups.detect(f"kiwame-{os.getppid()}-{os.getpid()}")
    except OSError:
        pass  # no cgroups: as before, per-process limits only (the pool's "bounds" layer says why)
    try:
        plan = isolation.plan_mounts(mountpoint, gpu=gpu)
        # Above the zygote's uid range, and unique: the pid of this runner is unique while it lives.
        uid = DEFAULT_LIMITS.fresh_uid_base + os.getpid() % 100000
        # CUDA starts threads of its own: the same process allowance as the child's RLIMIT_NPROC then.
        dirs = groups.create("c1", 64 if gpu else DEFAULT_LIMITS.nproc) if groups else None
        pid = zygote.spawn(fds, uid, plan, seccomp.Filter(), gpu, [], dirs,
                           groups.memory_file("c1") if groups else "", groups.weight_file("c1") if groups else "")
        _, status = os.waitpid(pid, 0)
        zygote.report_exit(fds[4], status, bool(groups and groups.oom_killed("c1")))
    finally:
        os.rmdir(mountpoint)
        if groups is not None:
            end = time.monotonic() + 2.0  # the namespace's last processes may take a moment to leave
            while not groups.remove("c1") and time.monotonic() < end:
                time.sleep(0.02)
            groups.remove_parents()


if __name__ == "__main__":
    main()

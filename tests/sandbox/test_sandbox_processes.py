"""Processes: fork bombs, thread floods, killing others, daemons that try to survive, ptrace, unshare."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

pytestmark = pytest.mark.sandbox


def sandbox_processes(uids: range) -> list[int]:
    """Host pids running under one of `uids`."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/status") as f:
                uid = next(int(line.split()[1]) for line in f if line.startswith("Uid:"))
        except (OSError, StopIteration):
            continue
        if uid in uids:
            found.append(int(pid))
    return found


def settled(pool, deadline_s: float = 2.0) -> list[int]:
    """Processes under this pool's uids other than its idle spares (there must be none after a run)."""
    end = time.monotonic() + deadline_s
    while True:
        left = sorted(set(sandbox_processes(pool.uids())) - set(pool.pids()))
        if not left or time.monotonic() > end:
            return left
        time.sleep(0.05)


def test_fork_bomb(run, pool):
    r = run("import os\ndef solve(x):\n    while True:\n        try:\n            os.fork()\n"
            "        except OSError:\n            pass\n", time_s=1.0)
    assert r.status in ("timeout", "crashed", "ok") and r.status != "unavailable"
    assert not settled(pool)


def test_thread_flood(run, pool):
    r = run("import threading, time\ndef solve(x):\n    for _ in range(10000):\n"
            "        threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n    return 1\n", time_s=1.0)
    c = r.cases["case0"]
    assert r.status == "ok" and c.value is None and c.error["type"] == "RuntimeError"
    assert not settled(pool)


def test_daemons_do_not_survive(run, pool):
    code = ("import os, time\ndef solve(x):\n    if os.fork() == 0:\n        os.setsid()\n"
            "        if os.fork() == 0:\n            while True:\n                time.sleep(0.01)\n"
            "        os._exit(0)\n    return 1\n")
    r = run(code)
    assert r.status == "ok" and r.cases["case0"].value.scalar == 1
    assert not settled(pool)


def test_cannot_kill_other_processes(run):
    victim = subprocess.Popen(["sleep", "30"])
    try:
        code = ("import os, signal\ndef solve(x):\n    hit = []\n"
                f"    for pid in [{victim.pid}, {os.getpid()}, 2, 3, 4, 5]:\n"
                "        try:\n            os.kill(pid, signal.SIGKILL)\n            hit.append(pid)\n"
                "        except OSError:\n            pass\n"
                "    try:\n        os.kill(-1, signal.SIGKILL)\n    except OSError:\n        pass\n"
                "    return (hit, sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))\n")
        r = run(code)
        hit, visible = r.cases["case0"].value.items
        assert hit.items == [] and [p.scalar for p in visible.items] == [1]
        assert victim.poll() is None
    finally:
        victim.kill()
        victim.wait()


@pytest.mark.parametrize("call", [
    "libc.syscall(101, 16, 1, 0, 0)",  # ptrace(PTRACE_ATTACH, 1)
    "libc.syscall(272, 0x10000000)",  # unshare(CLONE_NEWUSER)
    "libc.syscall(308, 0, 0)",  # setns
    "libc.syscall(425, 8, 0)",  # io_uring_setup
    "libc.syscall(321, 0, 0, 0)",  # bpf
    "libc.syscall(298, 0, 0, -1, -1, 0)",  # perf_event_open
    "libc.syscall(310, 1, 0, 0, 0, 0, 0)",  # process_vm_readv
    "libc.syscall(165, 0, 0, 0, 0, 0)",  # mount
    "libc.syscall(323, 0)",  # userfaultfd
    "libc.syscall(250, 0, 0)",  # keyctl
])
def test_blocked_system_calls_are_a_violation(run, call):
    r = run(f"import ctypes\ndef solve(x):\n    libc = ctypes.CDLL(None)\n    {call}\n    return 1\n")
    assert r.status == "sandbox_violation" and "SIGSYS" in r.detail


def test_namespace_clone_is_refused(run):
    r = run("import ctypes\ndef solve(x):\n    libc = ctypes.CDLL(None, use_errno=True)\n"
            "    r = libc.syscall(56, 0x10000000 | 17, 0, 0, 0, 0)\n    return (r, ctypes.get_errno())\n")
    assert [i.scalar for i in r.cases["case0"].value.items] == [-1, 1]  # EPERM


def test_two_pools_never_share_a_uid(pool):
    from service.sandbox.pool import SandboxPool

    other = SandboxPool(size=1)
    try:
        other.start()
        assert len(other.uids()) and not set(other.uids()) & set(pool.uids())
    finally:
        other.close()

"""Reused cgroup leaves (speed, issue 8): a reaped child's leaf is parked and handed to a later child instead
of a new one. What must hold: a leaf is never shared by two live children, a parked leaf is empty and back
at the default limits, paths given out for a dead child stop existing, and a leaf that is not clean (a
process left, an OOM kill, memory still charged) is removed, not reused."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sandbox_support import job, scalars_at_once

from service.sandbox import cgroups
from service.sandbox.pool import SandboxPool

pytestmark = pytest.mark.sandbox


@pytest.fixture
def leaves() -> Iterator[cgroups.Leaves]:
    if os.geteuid() != 0:
        pytest.skip("creating cgroups needs root")
    try:
        groups = cgroups.Groups.detect(f"kiwame-test-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    except OSError as exc:
        pytest.skip(f"no writable cgroup hierarchy: {exc}")
    lv = cgroups.Leaves(groups, 16)
    yield lv
    lv.close([name for p in groups.parents.values() for name in os.listdir(p) if os.path.isdir(f"{p}/{name}")])


def _hold(dirs: list[str], megabytes: int) -> tuple[int, int]:
    """A process in the leaf that touches `megabytes` and waits; returns (pid, write end to release it)."""
    r, w = os.pipe()
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(w)
            os.close(ready_r)
            cgroups.join(dirs)
            block = bytearray(megabytes << 20)
            for i in range(0, len(block), 4096):
                block[i] = 1
            os.write(ready_w, b"x")
            os.read(r, 1)
        finally:
            os._exit(0)
    os.close(r)
    os.close(ready_w)
    assert os.read(ready_r, 1) == b"x"
    os.close(ready_r)
    return pid, w


def _usage(groups: cgroups.Groups, leaf: str) -> int:
    name = "memory.current" if groups.version == 2 else "memory.usage_in_bytes"
    with open(groups._file("memory", leaf, name)) as f:
        return int(f.read())


def _read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def test_a_parked_leaf_is_renamed_emptied_reset_and_then_reused(leaves: cgroups.Leaves) -> None:
    g = leaves.groups
    first = leaves.take()
    cgroups.set_memory(g.memory_file(first), 300)  # what the pool does for a job
    cgroups.set_weight(g.weight_file(first), lowest=True)  # ... and for a slow one
    pid, release = _hold(g.leaf_dirs(first), 64)
    assert _usage(g, first) >= 64 << 20  # the leaf really accounts for its process
    os.close(release)
    os.waitpid(pid, 0)
    old_paths = g.leaf_dirs(first) + [g.memory_file(first)]
    leaves.release(first, dirty=False)
    if g.version == 2:  # cgroup v2 cannot rename a group: every child gets a new leaf there
        assert not leaves.idle and not any(os.path.exists(p) for p in old_paths)
        return
    assert len(leaves.idle) == 1
    assert not any(os.path.exists(p) for p in old_paths)  # a late write for the dead child finds nothing
    spot = leaves.idle[-1]
    second = leaves.take()
    assert second == spot != first
    assert _usage(g, second) <= cgroups.REUSE_MAX_BYTES
    assert int(_read(g.memory_file(second))) == (cgroups.DEFAULT_MEMORY_MB << 20) + cgroups.SLACK_BYTES
    assert _read(g.weight_file(second)) == "1024"
    assert _read(g._file("pids", second, "pids.max")) == "16"  # the fixed limits stay in place
    assert _read(g._file("cpu", second, "cpu.cfs_quota_us")) == str(cgroups.CPU_PERIOD_US)


def test_live_children_never_share_a_leaf(leaves: cgroups.Leaves) -> None:
    taken = [leaves.take() for _ in range(4)]
    assert len(set(taken)) == 4
    leaves.release(taken[0], dirty=False)
    again = [leaves.take() for _ in range(3)]  # one of them is the parked leaf, under a new name
    assert len(set(taken[1:] + again)) == 6
    for leaf in taken[1:] + again:
        leaves.release(leaf, dirty=False)


def test_a_leaf_that_is_not_clean_is_removed_not_reused(leaves: cgroups.Leaves) -> None:
    g = leaves.groups
    busy = leaves.take()
    pid, release = _hold(g.leaf_dirs(busy), 1)  # still running: the zygote would never do this, but if
    leaves.release(busy, dirty=False)  # a process were left in a leaf, the leaf must not be handed out
    assert not leaves.idle and busy in leaves.stale
    os.close(release)
    os.waitpid(pid, 0)
    oom = leaves.take()  # a leaf whose child was OOM-killed (the zygote passes dirty=True) goes as well
    leaves.release(oom, dirty=True)
    assert not leaves.idle and not os.path.exists(g.leaf_dirs(oom)[0])
    leaves.release(leaves.take(), dirty=False)  # the next release retries the stale removals
    assert not any(os.path.exists(d) for d in g.leaf_dirs(busy))


def test_a_leaf_with_memory_still_charged_is_not_reused(leaves: cgroups.Leaves) -> None:
    g = leaves.groups
    leaf = leaves.take()
    # Page cache written by the leaf's process stays charged to the leaf after the process is gone.
    path = f"/dev/shm/kiwame-test-leaf-{os.getpid()}"
    pid = os.fork()
    if pid == 0:
        try:
            cgroups.join(g.leaf_dirs(leaf))
            with open(path, "wb") as f:
                f.write(b"x" * (cgroups.REUSE_MAX_BYTES + (8 << 20)))
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    try:
        assert _usage(g, leaf) > cgroups.REUSE_MAX_BYTES
        leaves.release(leaf, dirty=False)
        assert not leaves.idle
    finally:
        os.unlink(path)


def test_sandboxes_running_at_once_are_in_different_leaves(pool: SandboxPool) -> None:
    code = "import time\ndef solve(x):\n    time.sleep(0.5)\n    return open('/proc/self/cgroup').read()\n"
    out = [str(x) for x in scalars_at_once(pool, code)]
    leaves = [{ln.rsplit("/", 1)[-1] for ln in text.splitlines() if "/kiwame-" in ln} for text in out]
    assert all(len(lv) == 1 for lv in leaves) and leaves[0] != leaves[1], out


def test_memory_held_by_one_sandbox_does_not_count_against_the_next(pool: SandboxPool) -> None:
    # 400 MiB in a 512 MiB sandbox, several times in a row (later runs reuse earlier runs' leaves): the
    # limit is the job's own each time, and nothing of an earlier run counts against it.
    code = ("def solve(x):\n    b = bytearray(400 << 20)\n    for i in range(0, len(b), 4096):\n"
            "        b[i] = 1\n    return len(b)\n")
    for _ in range(3):
        r = pool.run(job(code, memory_mb=512, time_s=5.0))
        value = r.cases["case0"].value if r.status == "ok" else None
        assert value is not None and value.scalar == 400 << 20, r

"""One cgroup leaf per sandbox child, so memory, process count and CPU are bounded per sandbox, not per process.

Used by the zygote (creates a leaf per child under its own parent group, removes it after reaping) and by
the child (joins its leaf before anything else). The pool sets the memory limit of a job's leaf. cgroup v1
(separate memory, pids and cpu hierarchies) and v2 (one unified hierarchy) are both handled; without a
writable hierarchy `Groups.detect` says why, and the self-check reports the "bounds" layer missing.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

ROOT = "/sys/fs/cgroup"
CPU_PERIOD_US = 100_000  # cpu quota = one period per period: at most one CPU for the whole sandbox
DEFAULT_MEMORY_MB = 1024  # a leaf's limit until the pool sets the job's own
SLACK_BYTES = 64 << 20  # the harness's own pages (copied from the zygote on write) on top of the job's limit
REUSE_MAX_BYTES = 4 << 20  # a reaped child's leaf is reused only if at most this much is still charged to it
# A GPU job's leaf also holds CUDA's host-side context and the pages of the CUDA libraries it loads
# (a guess, not measured on a GPU yet: see docs/sandbox.md, GPU).
CUDA_HOST_MB = 4096


def _own_path(controller: str) -> str:
    """This process's group in `controller`'s v1 hierarchy (or "" for v2's unified line)."""
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, names, path = line.rstrip("\n").split(":", 2)
            if controller in names.split(","):
                return path
    return "/"


@dataclass(frozen=True)
class Groups:
    """The parent groups (one per hierarchy) under which this zygote creates its children's leaves."""

    version: int  # 1 or 2
    parents: dict[str, str]  # controller ("memory", "pids", "cpu"; or "unified") -> absolute parent dir

    @staticmethod
    def detect(name: str, root: str = ROOT) -> Groups:
        """Create `name` under our own groups; raises OSError saying what is missing."""
        if os.path.exists(f"{root}/cgroup.controllers"):  # v2 at /sys/fs/cgroup
            with open(f"{root}/cgroup.controllers") as f:
                have = f.read().split()
            missing = [c for c in ("memory", "pids", "cpu") if c not in have]
            if missing:
                raise OSError(f"cgroup v2 without the {', '.join(missing)} controller(s)")
            parent = root + _own_path("").rstrip("/") + "/" + name
            os.makedirs(parent, exist_ok=True)
            with open(parent + "/cgroup.subtree_control", "w") as f:
                f.write("+memory +pids +cpu")
            _try_write(parent + "/cpu.weight", str(min(10000, 100 * 4 * (os.cpu_count() or 1))))
            return Groups(2, {"unified": parent})
        parents = {}
        for ctl in ("memory", "pids", "cpu"):
            base = f"{root}/{ctl}"
            if not os.path.isdir(base) or not os.path.exists(f"{base}/cgroup.procs"):
                raise OSError(f"no cgroup v1 {ctl} hierarchy at {base}")
            parent = base + _own_path(ctl).rstrip("/") + "/" + name
            os.makedirs(parent, exist_ok=True)
            parents[ctl] = parent
        # One group for all sandboxes would weigh like a single process against everything else on the
        # host; weigh it like one process per slot-ish (each leaf is capped at one CPU by its quota anyway).
        _try_write(parents["cpu"] + "/cpu.shares", str(1024 * 4 * (os.cpu_count() or 1)))
        return Groups(1, parents)

    def sweep(self) -> None:
        """Remove the empty groups left by zygotes that died without cleaning up (SIGKILL, host crash).
        Only `kiwame-<pool>-<zygote>` groups whose zygote pid is gone; rmdir refuses non-empty ones."""
        for parent in self.parents.values():
            above = os.path.dirname(parent)
            for name in os.listdir(above):
                parts = name.split("-")
                if len(parts) != 3 or parts[0] != "kiwame" or not parts[2].isdigit() or _alive(int(parts[2])):
                    continue
                group = f"{above}/{name}"
                for leaf in os.listdir(group):
                    if os.path.isdir(f"{group}/{leaf}"):
                        _rmdir(f"{group}/{leaf}")
                _rmdir(group)

    def leaf_dirs(self, leaf: str) -> list[str]:
        return [f"{p}/{leaf}" for p in self.parents.values()]

    def create(self, leaf: str, nproc: int) -> list[str]:
        """A fresh leaf with the fixed limits (processes, one CPU); memory is set per job by the pool."""
        dirs = self.leaf_dirs(leaf)
        for d in dirs:
            os.mkdir(d)
        set_memory(self.memory_file(leaf), DEFAULT_MEMORY_MB)  # bounded even before the pool sets the job's
        if self.version == 2:
            d = dirs[0]
            _write(d + "/pids.max", str(nproc))
            _write(d + "/cpu.max", f"{CPU_PERIOD_US} {CPU_PERIOD_US}")
            _write(d + "/memory.swap.max", "0")
        else:
            _write(self.parents["pids"] + f"/{leaf}/pids.max", str(nproc))
            _write(self.parents["cpu"] + f"/{leaf}/cpu.cfs_period_us", str(CPU_PERIOD_US))
            _write(self.parents["cpu"] + f"/{leaf}/cpu.cfs_quota_us", str(CPU_PERIOD_US))
        return dirs

    def park(self, leaf: str, spot: str) -> bool:
        """Keep the leaf of a reaped child for the next one, renamed to `spot`, if it is empty and clean.

        Why: creating and removing a memory, pids and cpu group per child (3 mkdir + 3 rmdir, plus the
        kernel's deferred teardown of each memcg) was a tenth of a sandbox's CPU. Reuse is safe only when
        nothing of the last child is left: no process (pids.current 0), no OOM kill on record (the caller checks, it reports it), and at most
        REUSE_MAX_BYTES still charged (kernel objects being freed; the 64 MiB slack covers it). The limits
        go back to the defaults, and the rename makes every path the pool was given for the old child
        (memory limit, CPU weight) stop existing, so a late write can never reach the next child. False
        (the caller removes the leaf) when any check fails or renaming is not supported (cgroup v2)."""
        try:
            if _read_int(self._file("pids", leaf, "pids.current")) != 0 \
                    or _read_int(self._file("memory", leaf, "memory.current" if self.version == 2
                                            else "memory.usage_in_bytes")) > REUSE_MAX_BYTES:
                return False
            set_memory(self.memory_file(leaf), DEFAULT_MEMORY_MB)
            set_weight(self.weight_file(leaf), lowest=False)
            return self.rename(leaf, spot)
        except (OSError, ValueError):
            return False

    def rename(self, old: str, new: str) -> bool:
        """Rename a leaf in every hierarchy (cgroup v1 only); False, with nothing renamed, if that fails."""
        done: list[str] = []
        for p in self.parents.values():
            try:
                os.rename(f"{p}/{old}", f"{p}/{new}")
                done.append(p)
            except OSError:
                for q in done:
                    _try_rename(f"{q}/{new}", f"{q}/{old}")
                return False
        return True

    def _file(self, controller: str, leaf: str, name: str) -> str:
        return f"{self.parents['unified' if self.version == 2 else controller]}/{leaf}/{name}"

    def memory_file(self, leaf: str) -> str:
        if self.version == 2:
            return f"{self.parents['unified']}/{leaf}/memory.max"
        return f"{self.parents['memory']}/{leaf}/memory.limit_in_bytes"

    def weight_file(self, leaf: str) -> str:
        if self.version == 2:
            return f"{self.parents['unified']}/{leaf}/cpu.weight"
        return f"{self.parents['cpu']}/{leaf}/cpu.shares"

    def oom_killed(self, leaf: str) -> bool:
        """Did the kernel's OOM killer act inside this leaf (the sandbox hit its memory limit)?"""
        path = (f"{self.parents['unified']}/{leaf}/memory.events" if self.version == 2
                else f"{self.parents['memory']}/{leaf}/memory.oom_control")
        try:
            with open(path) as f:
                for line in f:
                    key, _, num = line.partition(" ")
                    if key == "oom_kill" and num.strip().isdigit():
                        return int(num) > 0
        except OSError:
            pass
        return False

    def remove(self, leaf: str) -> bool:
        """rmdir the leaf everywhere; False if something is still in it (retry later)."""
        done = True
        for d in self.leaf_dirs(leaf):
            try:
                os.rmdir(d)
            except FileNotFoundError:
                pass
            except OSError:
                done = False
        return done

    def remove_parents(self) -> None:
        for p in self.parents.values():
            _rmdir(p)


class Leaves:
    """The zygote's leaves: one per live child, never shared; a reaped child's leaf is parked (emptied,
    checked, reset and renamed, see `Groups.park`) and handed to a later child instead of a new one."""

    MAX_IDLE = 64  # parked leaves (at most as many as children were ever alive at once)

    def __init__(self, groups: Groups, nproc: int) -> None:
        self.groups, self.nproc = groups, nproc
        self.counter = 0
        self.idle: list[str] = []  # parked, each already renamed for the child that will take it
        self.stale: list[str] = []  # whose rmdir failed (a process still exiting): retried on every release

    def _name(self) -> str:
        self.counter += 1
        return f"c{self.counter}"

    def take(self) -> str:
        """A leaf for a new child: a parked one, else a fresh one with the fixed limits."""
        if self.idle:
            return self.idle.pop()
        leaf = self._name()
        try:
            self.groups.create(leaf, self.nproc)
        except OSError:
            self.stale.append(leaf)
            raise
        return leaf

    def release(self, leaf: str, dirty: bool) -> None:
        """The child of `leaf` is gone with everything it started (reaped PID 1 of its namespace). The
        leaf is renamed at once, to the name its next child will have: paths given out for this child
        stop existing. `dirty` (an OOM kill, a failed start): remove it instead."""
        spot = self._name()
        if not dirty and len(self.idle) < self.MAX_IDLE and self.groups.park(leaf, spot):
            self.idle.append(spot)
        else:
            self.stale += [leaf, spot]
        self.stale = [lf for lf in self.stale if not self.groups.remove(lf)]

    def close(self, live: list[str]) -> None:
        """Remove every leaf and the parent groups (the last children may take a moment to be gone)."""
        stale = self.stale + self.idle + live
        end = time.monotonic() + 2.0
        while stale and time.monotonic() < end:
            stale = [lf for lf in stale if not self.groups.remove(lf)]
            if stale:
                time.sleep(0.02)
        self.groups.remove_parents()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_int(path: str) -> int:
    with open(path) as f:
        return int(f.read().split()[0])


def _try_rename(old: str, new: str) -> None:
    try:
        os.rename(old, new)
    except OSError:
        pass


def _rmdir(path: str) -> None:
    try:
        os.rmdir(path)
    except OSError:
        pass


def join(dirs: list[str]) -> None:
    """Called by the child itself, first thing (still root, host /sys visible): move into its leaf."""
    for d in dirs:
        _write(d + "/cgroup.procs", "0")


def set_weight(path: str, lowest: bool) -> None:
    """The pool's side: a sandbox that runs on past its first moments competes for CPU at the lowest
    weight; lowest=False restores the default."""
    v2 = path.endswith("cpu.weight")
    _write(path, ("1" if v2 else "2") if lowest else ("100" if v2 else "1024"))


def set_memory(path: str, memory_mb: int) -> None:
    """The pool's side: the job's memory limit for everything in the leaf, plus the harness's slack."""
    _write(path, str((memory_mb << 20) + SLACK_BYTES))


def _try_write(path: str, text: str) -> None:
    """Best effort (a weight is a preference, not a bound)."""
    try:
        _write(path, text)
    except OSError:
        pass


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)

"""The zygote: numpy, torch and einops imported once, forking one isolated, single-use child per request.

Run as `python -I -m service.sandbox.zygote CTL_FD` by the pool, with ZYGOTE_ENV as its whole environment
(no secrets, no database handles, no solutions) and CUDA never initialised (it cannot survive fork).
It stays single-threaded, which is what makes its raw clone() safe.

Control protocol (SOCK_SEQPACKET on CTL_FD): the pool sends b"S" with six fds attached by SCM_RIGHTS:
job read end, result write end, stdout write end, stderr write end, status socket, shared inputs memfd. The zygote forks a
child into a new PID namespace (the child unshares the others itself), sends "pid N" plus a pidfd for it on the status socket (so the pool can kill
it without any pid-reuse race), and, once the child is gone, "exit N" or "signal N", then closes it.
"""

from __future__ import annotations

import fcntl
import gc
import os
import select
import signal
import socket
import sys
import tempfile
import time
import traceback
from dataclasses import replace
from typing import NoReturn

# The fork server's own modules first: their long-lived objects, which its loop touches on every fork, then
# sit in the interpreter's early arenas instead of among torch's, so fewer of the 2 MB pages collapsed
# after warm-up are split again by those writes (measured: 6-12 MB more of the zygote stays huge).
from service.sandbox import cgroups, isolation, libc, netns, seccomp
from service.sandbox.limits import DEFAULT_LIMITS

# isort: split
import einops
import numpy as np
import torch

from service.sandbox import harness


def warm_up() -> None:
    """Pay first-op costs once here instead of in every child; single-threaded, CPU only."""
    torch.set_num_threads(1)
    x = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4)
    x.permute(2, 0, 1).contiguous().sum()
    x.transpose(0, 1).reshape(3, 8)
    (x @ x.transpose(1, 2)).softmax(-1)
    a = np.arange(24.0).reshape(2, 3, 4)
    np.ascontiguousarray(a.transpose(2, 0, 1)).sum()
    torch.from_numpy(a).to(torch.bfloat16).view(torch.int16).numpy().tobytes()
    # einops picks a backend per array type on first use: pay for both here, so `import einops` and the
    # first rearrange in a child are a sys.modules hit and a cache hit.
    einops.rearrange(x, "b h w -> h (b w)")
    einops.reduce(a, "b h w -> b h", "sum")
    # Everything imported so far goes to the permanent generation: a child's garbage collections then
    # never walk (and so never copy-on-write) the ~85 MB of torch's Python objects.
    gc.collect()
    gc.freeze()


def use_huge_pages() -> int:
    """Collapse the zygote's anonymous memory (~100 MB of torch's Python objects) into 2 MB pages.

    Why: fork copies, and exit tears down, one page-table entry per resident 4 KB page; with huge pages
    that is one entry per 2 MB. Measured here: clone 3.3 -> 1.2 ms and a child's whole life
    8.9 -> 6.2 ms of CPU. A child that writes into such a page gets the PMD split and copies only the
    4 KB it touched (Linux >= 5.8), so memory use barely changes. Best effort (MADV_COLLAPSE needs
    Linux 6.1); returns the number of regions collapsed.
    """
    done = 0
    huge = 2 << 20
    with open("/proc/self/maps") as f:
        for line in f:
            parts = line.split()
            name = parts[5] if len(parts) > 5 else ""
            if not parts[1].startswith("rw") or name not in ("", "[heap]"):
                continue
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            start, end = (lo + huge - 1) & ~(huge - 1), hi & ~(huge - 1)
            if end > start and libc.madvise(start, end - start, libc.MADV_HUGEPAGE):
                done += libc.madvise(start, end - start, libc.MADV_COLLAPSE)
    return done


def child_main(fds: list[int], uid: int, plan: isolation.MountPlan, filt: seccomp.Filter,
               gpu: bool, cgroup: list[str] | None, netns: int = -1, template: int = -1) -> NoReturn:
    """In the fresh child (PID 1 of its namespaces, still root): isolate, report ready, serve one job.

    `cgroup`: the leaf directories to join first (everything this sandbox ever starts is bounded there);
    None for a fresh single-use runner (GPU, baseline); [] where the host has no usable cgroups, and then
    the job runs in single-process mode (RLIMIT_NPROC 1), so per-process limits are per-sandbox limits.
    `netns`: an empty network namespace lent by the zygote (netns.py); -1 for a new one. `template`: the
    zygote's template mount namespace (`make_template`); -1 to build the root here.
    """
    try:
        if cgroup:
            cgroups.join(cgroup)
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.nice(10 - os.nice(0))  # set up at low priority; the pool boosts us back when we get a job
        if netns >= 0:
            libc.setns(netns, libc.CLONE_NEWNET)
        if template >= 0:  # root and cwd become the template's root; the unshare below copies its mounts
            libc.setns(template, libc.CLONE_NEWNS)
        libc.unshare(libc.CHILD_NS_LENT_NET if netns >= 0 else libc.CHILD_NS)
        if template >= 0:
            isolation.finish_root(DEFAULT_LIMITS)
        else:
            isolation.build_root(plan, DEFAULT_LIMITS)
        isolation.setup_fds(fds[0], fds[1], fds[2], fds[3], fds[5])
        # CUDA opens a dozen device fds and starts a few threads of its own.
        isolation.drop_privileges(uid, replace(DEFAULT_LIMITS, nofile=256, nproc=64) if gpu else DEFAULT_LIMITS)
        if cgroup is not None:
            # Die with the zygote: its uid block is released when it dies (flock), and a restarted zygote,
            # or another pool's, may then hand out our uid again; a spare that outlived it would share a
            # uid with a stranger's sandbox. Set after dropping privileges, which clears it; the zygote is
            # single-threaded, so "the parent thread exits" is "the zygote dies". Not for a fresh
            # single-use runner (cgroup None), whose parent is a short-lived pool thread.
            libc.prctl(libc.PR_SET_PDEATHSIG, signal.SIGKILL)
        harness.prewarm()
        if gpu:  # initialise CUDA now, inside the isolation, so its cost is not the learner's time
            torch.zeros(1, device="cuda").add_(1).cpu()
        harness._send({"t": "ready"})
    except BaseException:  # noqa: B036 - report and die: never serve a job half-isolated
        try:
            os.write(2, traceback.format_exc().encode()[-4000:])
        finally:
            os._exit(2)
    harness.serve(filt, gpu, single_process=cgroup == [])


def spawn(fds: list[int], uid: int, plan: isolation.MountPlan, filt: seccomp.Filter, gpu: bool,
          close_in_child: list[int], cgroup: list[str] | None = None, memory_file: str = "",
          weight_file: str = "", netns: int = -1, template: int = -1) -> int:
    """Fork a child for one job; sends its pid and pidfd on the status socket (fds[4])."""
    # PID 1 of a new PID namespace; the child unshares the other namespaces itself (libc.CHILD_NS).
    pid = libc.fork_into_namespaces(libc.CLONE_NEWPID)  # raises OSError before any fd is touched
    if pid == 0:
        for fd in close_in_child + [fds[4]]:
            os.close(fd)
        child_main(fds, uid, plan, filt, gpu, cgroup, netns, template)
    pidfd = os.pidfd_open(pid)
    try:
        status = socket.socket(fileno=os.dup(fds[4]))
        msg = f"pid {pid}\n" + (f"cg {memory_file}\ncgcpu {weight_file}\n" if memory_file else "")
        socket.send_fds(status, [msg.encode()], [pidfd])
        status.detach()
    except OSError:
        pass  # the pool gave up on this child already; it will get EOF on its job pipe and exit
    finally:
        os.close(pidfd)
        for fd in fds[:4] + fds[5:]:
            os.close(fd)
    return pid


def make_template(plan: isolation.MountPlan) -> int:
    """A mount namespace holding the sandbox root (read-only binds, /dev, empty /tmp and /proc), built once
    by a helper process; returns an fd that keeps it alive (children `setns` into it and copy it), or -1
    where children must build their own root (`isolation.templatable`)."""
    if not isolation.templatable(plan):
        return -1
    ready_r, ready_w = os.pipe()
    hold_r, hold_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 2
        try:
            os.close(ready_r)
            os.close(hold_w)
            libc.unshare(libc.CLONE_NEWNS)
            isolation.build_root(plan, DEFAULT_LIMITS, template=True)
            os.write(ready_w, b"k")
            os.read(hold_r, 1)  # until the zygote has opened our namespace and closes its end
            code = 0
        finally:
            os._exit(code)
    os.close(ready_w)
    os.close(hold_r)
    try:
        # No template (e.g. no CAP_SYS_ADMIN): children build their own root, and fail there the way the
        # self-check reports layer by layer, instead of this zygote failing to start.
        return os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC) if os.read(ready_r, 1) == b"k" else -1
    finally:
        os.close(ready_r)
        os.close(hold_w)
        os.waitpid(pid, 0)


def _refuse(fds: list[int], line: str) -> None:
    try:
        os.write(fds[4], (line.replace("\n", " ") + "\n").encode())
    except OSError:
        pass
    for fd in fds:
        os.close(fd)


def report_exit(status_fd: int, wait_status: int, oom: bool = False) -> None:
    if os.WIFSIGNALED(wait_status):
        msg = f"signal {os.WTERMSIG(wait_status)}{' oom' if oom else ''}\n"
    else:
        msg = f"exit {os.waitstatus_to_exitcode(wait_status)}\n"
    try:
        os.write(status_fd, msg.encode())
    except OSError:
        pass
    os.close(status_fd)


def _drain(live: dict[int, tuple[int, int, str, int]], timeout_s: float = 5.0) -> None:
    """Wait (bounded) for the last children, so none is still using the mountpoint we are about to remove."""
    end = time.monotonic() + timeout_s
    while live and time.monotonic() < end:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid in live:
            os.close(live.pop(pid)[1])
        elif pid == 0:
            time.sleep(0.01)


def claim_uid_block() -> tuple[int, int]:
    """Lock one block of uids for this zygote's lifetime (released by the kernel when we die).

    Returns (first uid, lock fd). The lock files live in the host's temp dir, which no sandbox can see.
    """
    for block in range(DEFAULT_LIMITS.uid_blocks):
        path = os.path.join(tempfile.gettempdir(), f"kiwame-uid-block-{block}.lock")
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return DEFAULT_LIMITS.uid_base + block * DEFAULT_LIMITS.uid_slots, fd
        except OSError:
            os.close(fd)
    raise OSError("every sandbox uid block is taken (too many zygotes on this host)")


def serve(ctl: socket.socket, cgroup_root: str = cgroups.ROOT) -> None:
    """`cgroup_root` "off": no cgroup leaves, every child in single-process mode (the pool's choice)."""
    filt = seccomp.Filter()  # assembled once: children only load it
    uid_base, _lock = claim_uid_block()
    mountpoint = tempfile.mkdtemp(prefix="kiwame-root-")
    # Unique on a shared host: several pools (and other services' sandboxes) may run side by side.
    try:
        if cgroup_root == "off":
            raise OSError("cgroups turned off by configuration")
        groups: cgroups.Groups | None = cgroups.Groups.detect(f"kiwame-{os.getppid()}-{os.getpid()}", cgroup_root)
        cg_word = f"cgroup-v{groups.version}" if groups else ""
        if groups is not None:
            groups.sweep()
    except OSError as exc:
        groups, cg_word = None, f"no-cgroup {exc}"
    leaves = cgroups.Leaves(groups, DEFAULT_LIMITS.nproc) if groups is not None else None
    nets = netns.NetworkNamespaces()
    live: dict[int, tuple[int, int, str, int]] = {}  # pid -> (slot, status fd, cgroup leaf, netns fd)
    try:
        plan = isolation.plan_mounts(mountpoint)
        template = make_template(plan)
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        free = list(range(DEFAULT_LIMITS.uid_slots))
        ctl.send(f"ready {uid_base} {cg_word}".encode()[:1000])
        while True:
            ready, _, _ = select.select([ctl.fileno(), wake_r], [], [])
            if wake_r in ready:
                os.read(wake_r, 4096)
            while live:  # reap every finished child; its uid slot becomes free again
                pid, wstatus = os.waitpid(-1, os.WNOHANG)
                if pid == 0:
                    break
                if pid in live:
                    slot, status_fd, leaf, net = live.pop(pid)
                    nets.release(net)  # kept only if nothing of this sandbox is left in it
                    oom = bool(leaves and leaf and leaves.groups.oom_killed(leaf))
                    report_exit(status_fd, wstatus, oom)
                    free.append(slot)
                    if leaves is not None:  # the PID namespace died with its init: the leaf is empty
                        leaves.release(leaf, oom)
            if ctl.fileno() in ready:
                msg, fds, _, _ = socket.recv_fds(ctl, 64, 8)
                if not msg:  # the pool is gone: its children see EOF on their job pipes and exit
                    if leaves is not None:
                        leaves.stale += [leaf for _, _, leaf, _ in live.values() if leaf]
                    _drain(live)
                    return
                if msg != b"S" or len(fds) != 6 or not free:
                    for fd in fds:
                        os.close(fd)  # the pool sees EOF on the status socket and reports unavailable
                    continue
                slot = free.pop(0)
                leaf, net = "", -1
                try:
                    leaf = leaves.take() if leaves is not None else ""  # a parked leaf or a new one
                    net = nets.take()
                    pid = spawn(fds, uid_base + slot, plan, filt, False, [ctl.fileno(), wake_r, wake_w],
                                leaves.groups.leaf_dirs(leaf) if leaves else [],
                                leaves.groups.memory_file(leaf) if leaves else "",
                                leaves.groups.weight_file(leaf) if leaves else "", net, template)
                except OSError as exc:  # e.g. no CAP_SYS_ADMIN for new namespaces: say so, stay up
                    free.append(slot)
                    if leaves is not None and leaf:
                        leaves.release(leaf, True)
                    if net >= 0:
                        os.close(net)
                    _refuse(fds, f"error clone: {exc.strerror or exc}")
                    continue
                live[pid] = (slot, fds[4], leaf, net)
    finally:
        if leaves is not None:
            leaves.close([leaf for _, _, leaf, _ in live.values() if leaf])
        try:
            os.rmdir(mountpoint)
        except OSError:
            pass


def main() -> None:
    # No PR_SET_PDEATHSIG: it fires when the *thread* that started us exits, and the pool may start the
    # zygote from a short-lived request thread. EOF on the control socket ends us instead.
    warm_up()
    threads = isolation.proc_status("Threads")
    if threads != 1:  # a raw clone() of a multi-threaded process could copy a held lock: refuse to run
        raise SystemExit(f"zygote: {threads} threads after warm-up (set OMP_NUM_THREADS=1)")
    use_huge_pages()
    os.nice(5)  # forking spares is background work; running jobs come first
    serve(socket.socket(fileno=int(sys.argv[1])), *sys.argv[2:3])


if __name__ == "__main__":
    main()

"""Isolation a fresh child sets up for itself, as root, before it ever sees a job (off the latency path).

Order matters and every step fails closed (an exception here kills the child before any job is read):
private mounts -> tmpfs root with read-only binds of only what Python needs -> fresh /proc, minimal
/dev, size-limited /tmp -> pivot_root and detach the host -> hostname -> fds -> rlimits -> drop to the
per-child uid -> no_new_privs -> empty environment. Per-job limits (CPU, address space) come later in
`apply_job_limits`, then seccomp, then the learner's code. A zygote builds the read-only part of the
root once, in a template mount namespace (`build_root(template=True)`); its children copy that and add
only their own /tmp and /proc (`finish_root`).
"""

from __future__ import annotations

import fcntl
import glob
import os
import resource
import sys
from dataclasses import dataclass, field

from service.sandbox import libc
from service.sandbox.limits import DEFAULT_LIMITS, SandboxLimits

# Fixed fd numbers inside the child.
FD_JOB, FD_RESULT, FD_INPUTS = 3, 4, 5
HOSTNAME = "kiwame-sandbox"
_RO = libc.MS_BIND | libc.MS_REMOUNT | libc.MS_RDONLY | libc.MS_NOSUID | libc.MS_NODEV


@dataclass(frozen=True)
class MountPlan:
    """What the child's root contains, worked out once in the zygote from the live interpreter."""

    mountpoint: str  # an empty host directory; each child mounts its own tmpfs root over it privately
    ro_dirs: tuple[str, ...]  # bound read-only at the same path
    ro_files: tuple[str, ...]
    symlinks: tuple[tuple[str, str], ...]  # (path, target), e.g. ("/lib", "usr/lib")
    devices: tuple[str, ...] = ("/dev/null", "/dev/zero", "/dev/urandom", "/dev/random")
    gpu_devices: tuple[str, ...] = field(default_factory=tuple)


def plan_mounts(mountpoint: str, gpu: bool = False) -> MountPlan:
    """Only /usr, the libc bits, and the Python installation and venv. Never the project dir, the
    instance dir, the database or exercises/ (the project's own modules the harness needs are already
    imported in the zygote's memory, so they need no files)."""
    dirs: list[str] = ["/usr"]
    links: list[tuple[str, str]] = []
    for top in ("/lib", "/lib64", "/lib32", "/bin", "/sbin"):
        if os.path.islink(top):
            links.append((top, os.readlink(top)))
        elif os.path.isdir(top):
            dirs.append(top)
    for p in (sys.base_prefix, sys.prefix, *sys.path):
        p = os.path.realpath(p) if p else ""
        if p and os.path.isdir(p) and not any(p == d or p.startswith(d + "/") for d in dirs):
            if p.endswith("site-packages") or p in (os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)):
                dirs.append(p)
    files = [f for f in ("/etc/ld.so.cache",) if os.path.isfile(f)]
    gpu_devs = tuple(sorted(glob.glob("/dev/nvidia*"))) if gpu else ()
    if gpu and os.path.isdir("/proc/driver/nvidia"):
        dirs.append("/sys")  # the CUDA driver reads PCI topology; read-only, nosuid, nodev
    return MountPlan(mountpoint, tuple(dirs), tuple(files), tuple(links), gpu_devices=gpu_devs)


def _mkdirs(root: str, path: str) -> str:
    target = root + path
    os.makedirs(target, mode=0o755, exist_ok=True)  # 0755 parents: /root is 0700 on the host
    return target


def _bind(src: str, target: str) -> None:
    libc.mount(src, target, None, libc.MS_BIND | libc.MS_REC)
    # A bind mount ignores flags on creation; read-only/nosuid/nodev only stick on a remount.
    libc.mount(None, target, None, _RO)


def templatable(plan: MountPlan) -> bool:
    """Can children share one template root (`build_root(template=True)`)? Not when something must be bound
    under /tmp (a venv in a CI clone under /tmp): each child's own /tmp would hide it."""
    return not any(p == "/tmp" or p.startswith("/tmp/") for p in plan.ro_dirs + plan.ro_files)


def build_root(plan: MountPlan, limits: SandboxLimits, template: bool = False) -> None:
    """Replace the whole filesystem view of this (new) mount namespace.

    template=True builds everything but the two per-sandbox mounts, /tmp and /proc, which stay empty
    directories: the zygote keeps that namespace, and each child copies it and adds them (`finish_root`),
    instead of building the same root again (a dozen mounts) in every child."""
    # Nothing we mount may propagate back to the host, and nothing the host mounts later reaches us.
    libc.mount(None, "/", None, libc.MS_REC | libc.MS_PRIVATE)
    root = plan.mountpoint
    libc.mount("tmpfs", root, "tmpfs", libc.MS_NOSUID | libc.MS_NODEV, "size=1m,mode=0755")
    # The only writable place: a size-limited private tmpfs, world-writable with the sticky bit.
    # Mounted BEFORE the read-only binds: a venv or checkout that lives under the host's /tmp (as a CI
    # clone may) is then bound on top of it, instead of being hidden by it. Its parent directories are
    # root-owned 0755 inside the tmpfs and mountpoints cannot be removed, so the learner cannot tamper.
    if template:
        _mkdirs(root, "/tmp")
    else:
        _mount_tmp(_mkdirs(root, "/tmp"), limits)
    for d in sorted(plan.ro_dirs):  # parents before anything below them
        _bind(d, _mkdirs(root, d))
    for f in plan.ro_files:
        _mkdirs(root, os.path.dirname(f))
        open(root + f, "wb").close()
        _bind(f, root + f)
    for path, target in plan.symlinks:
        os.symlink(target, root + path)
    # /dev: a tiny tmpfs with only harmless devices bound from the host (plus the GPU for CUDA jobs).
    dev = _mkdirs(root, "/dev")
    libc.mount("tmpfs", dev, "tmpfs", libc.MS_NOSUID | libc.MS_NOEXEC, "size=64k,mode=0755")
    for d in plan.devices + plan.gpu_devices:
        if os.path.isdir(d):  # e.g. /dev/nvidia-caps
            os.makedirs(root + d, exist_ok=True)
        else:
            open(root + d, "wb").close()
        libc.mount(d, root + d, None, libc.MS_BIND | libc.MS_REC)
        rw = d.startswith("/dev/nvidia") or d in ("/dev/null", "/dev/zero")
        libc.mount(None, root + d, None, libc.MS_BIND | libc.MS_REMOUNT | libc.MS_NOSUID | libc.MS_NOEXEC
                   | (0 if rw else libc.MS_RDONLY))
    os.symlink("/proc/self/fd", dev + "/fd")
    libc.mount(None, dev, None, libc.MS_REMOUNT | libc.MS_RDONLY | libc.MS_NOSUID | libc.MS_NOEXEC)
    _mkdirs(root, "/proc")
    if not template:
        _mount_proc(root + "/proc")
    libc.mount(None, root, None, libc.MS_REMOUNT | libc.MS_RDONLY | libc.MS_NOSUID | libc.MS_NODEV)
    # pivot_root(".", ".") stacks the old root under the new one; detaching it makes the host unreachable.
    os.chdir(root)
    libc.pivot_root(".", ".")
    libc.umount2(".", libc.MNT_DETACH)
    os.chdir("/tmp")


def finish_root(limits: SandboxLimits) -> None:
    """In a child's private copy of the template namespace: its own /tmp and a /proc for its PID namespace."""
    _mount_tmp("/tmp", limits)
    _mount_proc("/proc")
    os.chdir("/tmp")


def _mount_tmp(target: str, limits: SandboxLimits) -> None:
    libc.mount("tmpfs", target, "tmpfs", libc.MS_NOSUID | libc.MS_NODEV,
               f"size={limits.tmpfs_bytes},nr_inodes={limits.tmpfs_inodes},mode=1777")


def _mount_proc(target: str) -> None:
    """A fresh /proc for our PID namespace (we are its PID 1): shows only our own processes.
    hidepid=invisible additionally hides processes of other uids (there are none, but it is free)."""
    proc_flags = libc.MS_NOSUID | libc.MS_NODEV | libc.MS_NOEXEC
    try:
        libc.mount("proc", target, "proc", proc_flags, "hidepid=invisible")
    except OSError:  # kernels before 5.8 only know the numeric form
        libc.mount("proc", target, "proc", proc_flags, "hidepid=2")


def setup_fds(job_r: int, res_w: int, out_w: int, err_w: int, inputs: int) -> None:
    """stdin=/dev/null, 1/2 = capture pipes, 3 = job, 4 = result, 5 = shared inputs; every other fd closed."""
    # Move everything above the target range first so dup2 never clobbers a source.
    high = [_dup_high(fd) for fd in (job_r, res_w, out_w, err_w, inputs)]
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    for src, dst in zip(high, (FD_JOB, FD_RESULT, 1, 2, FD_INPUTS), strict=True):
        os.dup2(src, dst)
    os.closerange(6, 1 << 20)


def _dup_high(fd: int) -> int:
    new = fcntl.fcntl(fd, fcntl.F_DUPFD, 100)
    os.close(fd)
    return new


def drop_privileges(uid: int, limits: SandboxLimits = DEFAULT_LIMITS) -> None:
    libc.sethostname(HOSTNAME)
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits.nofile, limits.nofile))
    resource.setrlimit(resource.RLIMIT_NPROC, (limits.nproc, limits.nproc))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.fsize_bytes, limits.fsize_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # Supplementary groups first (needs root), then gid, then uid (after which we cannot go back).
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    if os.getuid() == 0 or os.geteuid() == 0:
        raise OSError("still root after setresuid")
    libc.prctl(libc.PR_SET_NO_NEW_PRIVS, 1)
    # Clears the C-level environ too (os.environ.clear() calls unsetenv). /proc/1/environ still shows the
    # zygote's exec-time environment, which is why the zygote starts with ZYGOTE_ENV and nothing else.
    os.environ.clear()


def apply_job_limits(time_s: float, memory_mb: int, gpu: bool, limits: SandboxLimits = DEFAULT_LIMITS,
                     single_process: bool = False) -> None:
    cpu = limits.cpu_seconds(time_s)
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))  # SIGXCPU at soft, SIGKILL at hard
    if single_process:  # no cgroup leaf to bound the group: no second process or thread may exist
        resource.setrlimit(resource.RLIMIT_NPROC, (1, 1))
    if not gpu:  # CUDA reserves host address space ~2x device memory: an AS limit would break it
        resource.setrlimit(resource.RLIMIT_AS, ((proc_status("VmSize") << 10) + (memory_mb << 20),) * 2)


def proc_status(name: str) -> int:
    """The number after `name:` in /proc/self/status (VmSize in KiB, Threads...)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(name + ":"):
                return int(line.split()[1])
    raise OSError(f"no {name} in /proc/self/status")

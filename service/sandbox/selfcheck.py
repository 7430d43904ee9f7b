"""Probe every isolation layer from inside a real sandbox child; the pool refuses to grade if one fails."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass

from service.sandbox.protocol import ArgIn, CaseIn, Job, RawRun

ROOT_HOW = ("needs root or CAP_SYS_ADMIN: run the worker as root, or in a container with "
            "--cap-add SYS_ADMIN --security-opt seccomp=unconfined --security-opt apparmor=unconfined")
HOW: dict[str, str] = {
    "zygote": "check that `python -I -m service.sandbox.zygote` starts (torch and numpy importable); " + ROOT_HOW,
    "uid": ROOT_HOW + " (setresuid to a per-child uid)",
    "mount": ROOT_HOW + " (mount namespace, tmpfs, pivot_root)",
    "network": ROOT_HOW + " (network namespace)",
    "pid": ROOT_HOW + " (PID namespace)",
    "ipc": ROOT_HOW + " (IPC namespace)",
    "uts": ROOT_HOW + " (UTS namespace)",
    "seccomp": "a Linux x86_64 kernel with CONFIG_SECCOMP_FILTER; do not run under a seccomp profile that "
               "forbids seccomp() itself",
    "rlimits": "setrlimit must work (it always does on Linux unless the hard limits are already lower)",
    "environment": "start the worker normally; the zygote is always started with a minimal environment",
    "wallclock": "pidfd_open needs Linux >= 5.3",
    "bounds": "give the worker a writable cgroup hierarchy with the memory, pids and cpu controllers (cgroup v1 "
              "hierarchies under /sys/fs/cgroup, or v2 with those controllers delegated); without one, every "
              "sandbox runs in single-process mode (RLIMIT_NPROC 1)",
}
REQUIRED: tuple[str, ...] = tuple(HOW)


@dataclass(frozen=True)
class LayerStatus:
    name: str
    ok: bool
    required: bool
    detail: str
    how_to_enable: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


# Runs as learner code inside a child (after seccomp): every check observes the real layer.
PROBE = r'''
import ctypes, json, os, resource, socket
def solve(project, ns):
    r = {}
    status = dict(l.split(":", 1) for l in open("/proc/self/status").read().splitlines() if ":" in l)
    caps, nnp = int(status["CapEff"], 16), status["NoNewPrivs"].strip()
    r["uid"] = [os.getuid() != 0 and os.geteuid() != 0 and os.getgroups() == [] and caps == 0 and nnp == "1",
                f"uid={os.getuid()} CapEff={caps:x} NoNewPrivs={nnp}"]
    lines = open("/proc/net/dev").read().splitlines()[2:]
    ifaces = sorted(l.split(":")[0].strip() for l in lines)
    r["network"] = [ifaces in ([], ["lo"]) and os.readlink("/proc/self/ns/net") != ns["net"], f"interfaces={ifaces}"]
    pids = [p for p in os.listdir("/proc") if p.isdigit()]
    r["pid"] = [os.getpid() == 1 and len(pids) <= 2 and os.readlink("/proc/self/ns/pid") != ns["pid"], f"visible pids={pids}"]
    r["ipc"] = [os.readlink("/proc/self/ns/ipc") != ns["ipc"], ""]
    r["uts"] = [socket.gethostname() == "kiwame-sandbox" and os.readlink("/proc/self/ns/uts") != ns["uts"], socket.gethostname()]
    try:
        open("/usr/kiwame-probe", "w"); ro = False
    except OSError:
        ro = True
    hidden = [p for p in project if os.path.exists(p)]
    r["mount"] = [ro and not hidden and os.readlink("/proc/self/ns/mnt") != ns["mnt"], f"visible={hidden} root={sorted(os.listdir('/'))}"]
    try:
        socket.socket(socket.AF_INET, socket.SOCK_STREAM); inet = True
    except PermissionError:
        inet = False
    libc = ctypes.CDLL(None, use_errno=True)
    userns = libc.syscall(56, ctypes.c_ulong(0x10000000 | 17), None, None, None, None)
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)[0]
    groups = [l.split(":", 2) for l in open("/proc/self/cgroup").read().splitlines()]
    v1 = {c: p for _, names, p in groups for c in names.split(",") if c in ("memory", "pids", "cpu")}
    leaf = all("/kiwame-" in p for p in v1.values()) if len(v1) == 3 else any(
        n == "" and "/kiwame-" in p for _, n, p in groups)
    r["bounds"] = [leaf or nproc == 1, ("cgroup leaf " + (str(sorted(set(v1.values()))) if v1 else str(groups)))
                   if leaf else f"single-process mode (RLIMIT_NPROC={nproc})"]
    if nproc == 1:
        killed = True  # no second process can exist here to try ptrace from
    else:
        pid = os.fork()
        if pid == 0:
            libc.syscall(101, 0, 0, 0, 0)  # ptrace(TRACEME): must be killed by SIGSYS
            os._exit(0)
        _, st = os.waitpid(pid, 0)
        killed = os.WIFSIGNALED(st) and os.WTERMSIG(st) == 31
    r["seccomp"] = [status["Seccomp"].strip() == "2" and not inet and userns < 0 and killed,
                    f"mode={status['Seccomp'].strip()} inet={inet} clone_newuser={userns} ptrace_killed={killed}"]
    lim = {n: resource.getrlimit(getattr(resource, "RLIMIT_" + n))[0] for n in ("CPU", "AS", "NPROC", "FSIZE", "NOFILE", "CORE")}
    r["rlimits"] = [all(v != resource.RLIM_INFINITY for v in lim.values()) and lim["CORE"] == 0, str(lim)]
    try:  # unreadable is fine too (the child is not dumpable after dropping root)
        env1 = open("/proc/1/environ", "rb").read().split(b"\0")
    except PermissionError:
        env1 = []
    keys = sorted(e.split(b"=")[0].decode() for e in env1 if e)
    r["environment"] = [not os.environ and set(keys) <= set(ns["env_ok"]), f"/proc/1/environ keys={keys}"]
    return json.dumps(r)
'''


def _host_facts() -> dict[str, object]:
    from service.sandbox.limits import ZYGOTE_ENV

    ns = {n: os.readlink(f"/proc/self/ns/{n}") for n in ("net", "pid", "ipc", "uts", "mnt")}
    return {**ns, "env_ok": sorted(ZYGOTE_ENV)}


def _secret_paths() -> list[str]:
    """Paths that must be invisible inside: the project checkout (exercises, solutions) and the instance dir."""
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    # The checkout's own directories (an in-tree venv makes the checkout dir itself exist, but empty).
    names = ("service", "exercises", "instance", "pyproject.toml", ".git")
    paths = [os.path.join(root, n) for root in {here, os.getcwd()} for n in names]
    return [p for p in paths if os.path.exists(p) and not p.startswith(sys.prefix)]


def probe(run: Callable[[Job], RawRun]) -> list[LayerStatus]:
    job = Job(code=PROBE, entry="solve", framework="numpy", time_s=10.0,
              cases=(CaseIn("probe", (ArgIn("project", value=_secret_paths()), ArgIn("ns", value=_host_facts()))),))
    raw = run(job)
    case = raw.cases.get("probe")
    if raw.status != "ok" or case is None or case.value is None or case.value.kind != "str":
        why = raw.detail or (case.error or {}).get("message", "") if case else raw.detail or raw.status
        return zygote_failed(f"probe run failed ({raw.status}): {why} {raw.stderr[-300:]}")
    facts = json.loads(str(case.value.scalar))
    out = [LayerStatus("zygote", True, "zygote" in REQUIRED, "torch/numpy/einops preloaded, forks isolated children", "")]
    for name in REQUIRED:
        if name in facts:
            ok, detail = facts[name]
            out.append(LayerStatus(name, bool(ok), True, str(detail)[:300], "" if ok else HOW[name]))
    out.append(LayerStatus("wallclock", hasattr(os, "pidfd_open"), True, "pool SIGKILLs the PID namespace",
                           "" if hasattr(os, "pidfd_open") else HOW["wallclock"]))
    return out


def bounds_mode(layers: list[LayerStatus], bounds: str, mode: str) -> list[LayerStatus]:
    """Name the missing cgroups in the "bounds" layer: single-process sandboxes are enough with mode
    "auto" (the detail says why there is no leaf); with "require" the layer fails, so nothing is graded."""
    if bounds.startswith("cgroup"):
        return layers
    why = bounds.removeprefix("no-cgroup").strip() or "the zygote reported no cgroup leaves"
    out = []
    for ly in layers:
        if ly.name == "bounds" and mode == "require":
            ly = LayerStatus("bounds", False, ly.required,
                             f"cgroups are required (KIWAME_SANDBOX_CGROUPS=require) but unusable: {why}"[:500],
                             HOW["bounds"])
        elif ly.name == "bounds" and ly.ok:
            ly = LayerStatus("bounds", True, ly.required, f"{ly.detail}; no cgroup leaf: {why}"[:500], "")
        out.append(ly)
    return out


def zygote_failed(detail: str) -> list[LayerStatus]:
    return [LayerStatus(name, False, True, detail[:500], how) for name, how in HOW.items()]


def refusal(layers: list[LayerStatus], required: tuple[str, ...]) -> str:
    """'' when every required layer is ok, else the reason to refuse grading (names layer and fix)."""
    bad = [ly for ly in layers if not ly.ok and ly.name in required]
    return "; ".join(f"isolation layer '{ly.name}' is missing ({ly.detail}): {ly.how_to_enable}" for ly in bad)

"""Engine side of one sandbox run: feed the job, read results and output under caps and a deadline.

Trusted code. It only ever reads pipes (never a path inside the box), parses length-prefixed JSON plus
raw bytes (never pickle), and turns whatever happened into a `RawRun`, never an exception.
"""

from __future__ import annotations

import fcntl
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from service.sandbox import cgroups, facts, wire
from service.sandbox.limits import DEFAULT_LIMITS, ZYGOTE_ENV, SandboxLimits
from service.sandbox.protocol import CaseOut, Job, RawRun

SETUP_TIMEOUT_S = 20.0  # a child that is not isolated and ready by then is an infrastructure failure
DRAIN_S = 0.5  # after the child is gone or killed: how long to wait for pipes to hit EOF
# A correct answer runs in a few ms; code still running after this is (nearly always) going to the time
# limit: it keeps running, but at the lowest CPU weight, so it cannot slow anyone else's grading.
DEMOTE_S = 0.25


@dataclass
class Child:
    """The trusted side's ends of one child's channels."""

    job_w: int
    res_r: int
    out_r: int
    err_r: int
    status: socket.socket
    inputs: int = -1  # the shared inputs file (memfd): the child maps it, we keep our own copy
    pid: int = 0
    pidfd: int = -1
    exit: str = ""  # "exit N" / "signal N" / "signal 9 oom" once the child is gone
    memory_file: str = ""  # the memory limit file of the child's cgroup leaf (when the zygote made one)
    cpu_weight_file: str = ""  # ...and its CPU weight file (cpu.shares / cpu.weight)
    demoted: bool = False
    created: float = field(default_factory=time.monotonic)
    boosted: bool = False

    def boost(self) -> None:
        """Back to normal priority: spares set themselves up at low priority (nice 10) so they never slow
        down a job that is running; the one taken for a job must not wait behind them."""
        self.boosted = True
        if self.pid:
            try:
                os.setpriority(os.PRIO_PROCESS, self.pid, 0)
            except OSError:
                pass  # not root (then spares were not reniced either) or already gone

    def demote(self, lowest: bool = True) -> None:
        """Lowest CPU weight for the whole sandbox (its cgroup leaf) and nice 19 for its init; with
        lowest=False, back to the default weight (so that a killed sandbox is torn down promptly)."""
        if self.cpu_weight_file:
            try:
                cgroups.set_weight(self.cpu_weight_file, lowest)
            except OSError:
                pass
        if self.pid:
            try:
                os.setpriority(os.PRIO_PROCESS, self.pid, 19 if lowest else 0)
            except OSError:
                pass
        self.demoted = lowest

    def read_status(self) -> bool:
        """Consume status messages; False on EOF (the zygote closed it)."""
        try:
            msg, fds, _, _ = socket.recv_fds(self.status, 256, 2)
        except BlockingIOError:
            return True
        except OSError:
            msg, fds = b"", []
        for fd in fds:
            if self.pidfd < 0:
                self.pidfd = fd
            else:
                os.close(fd)
        for line in msg.decode(errors="replace").splitlines():
            word, _, num = line.partition(" ")
            if word == "pid" and num.isdigit():
                self.pid = int(num)
                if self.boosted:
                    self.boost()
            elif word == "cg":
                self.memory_file = num
            elif word == "cgcpu":
                self.cpu_weight_file = num
            elif word in ("exit", "signal", "error"):
                self.exit = line
        return bool(msg)

    def kill(self) -> None:
        """SIGKILL the child, PID 1 of its namespace: the kernel then kills everything the learner made."""
        if self.pidfd < 0 and self.status.fileno() >= 0:
            self.status.setblocking(False)
            self.read_status()  # the pidfd may still be waiting in the socket
        if self.pidfd >= 0 and not self.exit:
            try:
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            except OSError:
                pass
        if self.demoted:  # dying takes CPU too: at the lowest weight a busy host would stretch it out
            self.demote(lowest=False)

    def close(self) -> None:
        for fd in (self.job_w, self.res_r, self.out_r, self.err_r, self.pidfd, self.inputs):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.status.close()
        self.job_w = self.res_r = self.out_r = self.err_r = self.pidfd = self.inputs = -1


def start_runner(module: str, fds: list[int], *args: str) -> subprocess.Popen[bytes]:
    """Start `python -I -m module FD... ARG...`, a process that forks sandbox children (the zygote, or a
    fresh single-use runner): -I ignores PYTHON* variables and the user site, ZYGOTE_ENV is its whole
    environment (no secrets, ever), cwd is /, and `fds` are the only descriptors it inherits."""
    return subprocess.Popen([sys.executable, "-I", "-m", module, *map(str, fds), *args],
                            env=dict(ZYGOTE_ENV), close_fds=True, pass_fds=fds, cwd="/", stdin=subprocess.DEVNULL)


def reap_runner(proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    """Wait for a runner that was told to stop (EOF on its fds); SIGKILL it after `timeout_s`."""
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def new_channels() -> tuple[Child, list[int]]:
    """Fresh pipes, a status socket and an (empty) shared inputs file for one sandbox child: the trusted
    side's ends as a `Child`, and the child's six fds (job read, result write, stdout write, stderr write,
    status socket, inputs), which the caller hands over (to the zygote or a fresh runner) and then closes."""
    job_r, job_w = os.pipe2(os.O_CLOEXEC)
    res_r, res_w = os.pipe2(os.O_CLOEXEC)
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    inputs = os.memfd_create("kiwame-inputs", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    return (Child(job_w, res_r, out_r, err_r, mine, inputs),
            [job_r, res_w, out_w, err_w, theirs.detach(), os.dup(inputs)])


# Once written, the inputs file can neither shrink nor grow: a child truncating it could otherwise make
# the trusted side read short (or, were it mapped here, fault).
_SEALS = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL


def write_inputs(fd: int, blob: bytes) -> None:
    os.ftruncate(fd, len(blob))
    view = memoryview(blob)
    while view:
        view = view[os.pwrite(fd, view, len(blob) - len(view)):]
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS)


def read_inputs(fd: int, size: int) -> bytes:
    """The shared inputs as they are now (the child is dead): short reads come back short, never fault."""
    out = bytearray()
    while len(out) < size:
        chunk = os.pread(fd, size - len(out), len(out))
        if not chunk:
            break
        out += chunk
    return bytes(out)


def clean_text(raw: bytes) -> str:
    """Decode captured output for display only: invalid utf-8 replaced, control characters (ESC...) gone."""
    text = raw.decode("utf-8", errors="replace")
    return "".join(ch for ch in text if ch in "\n\t" or not (ord(ch) < 32 or 0x7F <= ord(ch) < 0xA0))


class _Run:
    """Mutable state of one drive; `finish()` turns it into the RawRun."""

    def __init__(self, child: Child, job: Job, limits: SandboxLimits) -> None:
        self.child, self.job, self.limits = child, job, limits
        self.reader = wire.FrameReader(limits.header_max_bytes, limits.payload_max_bytes)
        self.logical = [limits.payload_max_bytes]  # the run's values once rebuilt from their memory spans
        self.stdout, self.stderr = bytearray(), bytearray()
        self.out = {child.out_r: self.stdout, child.err_r: self.stderr}
        self.out_total = 0
        self.ready = self.done = False
        self.killed = ""  # why *we* killed it: timeout / output / violation / result_size
        self.violation = ""
        self.job_msg: dict[str, Any] | None = None
        self.names = {c.name for c in job.cases}
        self.cases: dict[str, CaseOut] = {}
        self.stamps: Any = None  # the child's own monotonic clock: job read, locked down, cases run
        self.t_written = 0.0
        self.t_start = time.monotonic()
        self.t_done = 0.0

    def on_frame(self, header: dict[str, Any], payload: bytes) -> None:
        """Accept frames only in the one order the harness writes them: ready, then either one job-level
        frame or one frame per job case (each name once), an optional limit, then done, then nothing.
        Anything else was written by the learner's code (it shares the process): the run is a violation
        and contributes no results."""
        t = header.get("t")
        if t == "ready" and not self.ready:
            self.ready = True
        elif not self.ready or self.done:
            raise wire.WireError("violation", f"unexpected message {str(t)[:20]!r} on the result channel")
        elif t == "case" and self.job_msg is None:
            name = header.get("name")
            if not isinstance(name, str) or name not in self.names or name in self.cases:
                raise wire.WireError("violation", "a result for a case that is not in this job, or twice")
            self.cases[name] = _case(header, payload, self.limits, self.logical)
        elif t == "job" and self.job_msg is None and not self.cases \
                and header.get("status") in ("syntax_error", "runtime_error", "missing_function"):
            self.job_msg = header
        elif t == "limit":
            self.killed = "result_size"
        elif t == "done":
            self.done = True
            self.t_done = time.monotonic()
            self.stamps = header.get("stamps")
        else:
            raise wire.WireError("violation", f"unexpected message {str(t)[:20]!r} on the result channel")


def _case(h: dict[str, Any], payload: bytes, limits: SandboxLimits, logical: list[int]) -> CaseOut:
    err = h.get("error")
    if err is not None and not isinstance(err, dict):
        raise wire.WireError("violation", "malformed case error")
    value = None
    if err is None:
        pos = [0]
        value = wire.decode_value(h.get("value"), memoryview(payload), pos, limits, budget=logical)
        if pos[0] != len(payload):
            raise wire.WireError("violation", "extra bytes after a case result")
    warns = h.get("warnings") or []
    elapsed = h.get("elapsed_ms")
    meta = h.get("meta_changed") or []
    if not isinstance(warns, list) or not isinstance(elapsed, int | float | None) or not isinstance(meta, list):
        raise wire.WireError("violation", "malformed case facts")
    # Only a confession is taken from the child (an input object re-shaped or re-pointed in place): it can
    # make "unchanged" false, never true. facts.apply adds the trusted comparison of the memory.
    return CaseOut(name=str(h.get("name")), value=value, inputs_unchanged={str(n)[:100]: False for n in meta[:64]},
                   error={k: str(err.get(k, ""))[:4000] for k in ("type", "message", "traceback")} if err else None,
                   warnings=[clean_text(str(w).encode())[:500] for w in warns[:20]],
                   elapsed_ms=float(elapsed or 0.0))


def _limit_memory(child: Child, job: Job) -> None:
    """Set the job's memory limit on the child's cgroup leaf before the job can reach it. The zygote sends
    the leaf with the pid, right after the fork: wait for that message if it is not here yet."""
    if not child.pid:
        child.status.settimeout(SETUP_TIMEOUT_S)
        try:
            child.read_status()
        finally:
            child.status.setblocking(False)
    if child.memory_file:
        cuda = cgroups.CUDA_HOST_MB if job.device == "cuda" else 0  # CUDA's own host memory on top
        cgroups.set_memory(child.memory_file, job.memory_mb + cuda)


def drive(child: Child, job: Job, limits: SandboxLimits = DEFAULT_LIMITS,
          cancel: threading.Event | None = None) -> RawRun:
    """Run `job` in `child` (a fresh one; single use) and always return a RawRun. Setting `cancel` kills the
    child (checked every 50 ms): the run then ends "cancelled"."""
    st = _Run(child, job, limits)
    child.boost()
    head, blob, regions = wire.encode_job(job)
    data = memoryview(head)
    try:
        write_inputs(child.inputs, blob)
        _limit_memory(child, job)
    except OSError as exc:  # our own memfd or cgroup: an infrastructure failure, no learner code has run
        child.kill()
        child.close()
        return RawRun(status="unavailable", detail=f"could not write the inputs: {exc}")
    sel = selectors.DefaultSelector()
    for fd in (child.job_w, child.res_r, child.out_r, child.err_r):
        os.set_blocking(fd, False)
    child.status.setblocking(False)
    sel.register(child.job_w, selectors.EVENT_WRITE)
    for fd in (child.res_r, child.out_r, child.err_r):
        sel.register(fd, selectors.EVENT_READ)
    sel.register(child.status, selectors.EVENT_READ)
    open_fds = {child.res_r, child.out_r, child.err_r}
    deadline = time.monotonic() + SETUP_TIMEOUT_S
    demote_at = float("inf")  # set once ready: a run still going after DEMOTE_S yields the CPU to others
    ending = 0.0  # set once the child is gone or killed: drain pipes until then
    try:
        while open_fds or (not child.exit and not ending):
            now = time.monotonic()
            if ending and now > ending:
                break
            if not ending and now > deadline:
                st.killed = "timeout" if st.ready else "setup"
                child.kill()
                ending = now + DRAIN_S
                continue
            if now >= demote_at:
                child.demote()
                demote_at = float("inf")
            if cancel is not None and cancel.is_set() and not ending:
                st.killed = "cancelled"
                child.kill()
                ending = now + DRAIN_S
                continue
            wait = max(0.0, min(ending or deadline, demote_at) - now)
            for key, _ in sel.select(min(wait, 0.05) if cancel is not None else wait):
                fd = key.fd
                if fd == child.job_w:
                    try:
                        data = data[os.write(fd, data[:1 << 16]):]
                    except BlockingIOError:
                        continue
                    except OSError:
                        data = data[:0]  # the child died; its exit status will tell why
                    if not data:
                        st.t_written = time.monotonic()
                        sel.unregister(fd)
                        os.close(fd)
                        child.job_w = -1
                elif fd in open_fds:  # result, stdout or stderr
                    chunk = os.read(fd, 1 << 20 if fd == child.res_r else 1 << 16)
                    if not chunk:
                        sel.unregister(fd)
                        open_fds.discard(fd)
                    elif fd == child.res_r:
                        was_ready = st.ready
                        for header, payload in st.reader.feed(chunk):
                            st.on_frame(header, payload)
                        if st.ready and not was_ready:  # the learner's clock starts when isolation is done
                            deadline = time.monotonic() + limits.wall_seconds(job.time_s)
                            demote_at = time.monotonic() + DEMOTE_S
                    else:
                        keep = st.out[fd]
                        keep += chunk[:max(0, limits.output_keep_bytes - len(keep))]
                        st.out_total += len(chunk)
                        if st.out_total > limits.output_hard_bytes and not st.killed:
                            st.killed = "output"
                else:
                    eof = not child.read_status()
                    if eof:
                        sel.unregister(child.status)
                    # the child is gone, or the zygote is (EOF without an exit: nobody will report)
                    if (child.exit or eof) and not ending:
                        ending = time.monotonic() + DRAIN_S
            if (st.done or st.killed) and not ending:
                child.kill()  # done: single use, tear down now; killed: for cause
                ending = time.monotonic() + DRAIN_S
    except wire.WireError as exc:
        st.killed = "result_size" if exc.kind == "limit" else "violation"
        st.violation = exc.detail
    except OSError as exc:
        st.killed, st.violation = "violation", f"result channel error: {exc.strerror}"
    finally:
        sel.close()
        child.kill()  # whatever happened: single use, and killed for cause on a wire error
        try:
            facts.apply(st.cases, regions, blob, read_inputs(child.inputs, len(blob)))
        finally:
            child.close()
    return finish(st)


_SIGNAMES = {int(signal.SIGSEGV): "segmentation fault", int(signal.SIGBUS): "bus error",
             int(signal.SIGABRT): "abort", int(signal.SIGFPE): "arithmetic error",
             int(signal.SIGILL): "illegal instruction"}


def _memory_limit(run: RawRun, job: Job) -> None:
    """The module body or a case raised MemoryError (the harness also maps torch's allocation failures)."""
    run.status, run.limits_hit = "memory_limit", ["memory"]
    run.detail = f"ran out of memory (limit {job.memory_mb} MiB)"


def finish(st: _Run) -> RawRun:
    run = RawRun(status="ok", cases=st.cases, stdout=clean_text(bytes(st.stdout)),
                 stderr=clean_text(bytes(st.stderr)))
    s = st.stamps
    if isinstance(s, list) and len(s) == 3 and all(isinstance(x, float) for x in s) and st.t_written:
        now = time.monotonic()
        run.timings = {"pool_write": (st.t_written - st.t_start) * 1000,
                       "child_wait": (s[0] - st.t_written) * 1000, "child_lockdown": (s[1] - s[0]) * 1000,
                       "child_run": (s[2] - s[1]) * 1000, "child_done": (st.t_done - s[2]) * 1000,
                       "pool_drain": (now - st.t_done) * 1000}
    how, _, num = st.child.exit.partition(" ")
    num, _, oom = num.partition(" ")
    sig = int(num) if how == "signal" and num.isdigit() else 0
    if st.killed == "cancelled":
        run.status, run.detail, run.cases = "cancelled", "stopped by the grader", {}
    elif st.killed == "timeout":
        run.status, run.limits_hit = "timeout", ["timeout"]
        run.detail = f"time limit exceeded: stopped after {st.limits.wall_seconds(st.job.time_s):.1f} s"
    elif st.killed == "output":
        run.status, run.limits_hit = "output_limit", ["output"]
        run.detail = f"printed more than {st.limits.output_hard_bytes >> 10} KiB of output"
    elif st.killed == "result_size":
        run.status, run.limits_hit = "output_limit", ["result_size"]
        run.detail = f"the returned values are larger than {st.limits.payload_max_bytes >> 20} MiB"
    elif st.killed == "violation":
        run.status, run.detail = "sandbox_violation", f"invalid result message: {st.violation}"
        run.cases = {}  # a run that forged frames contributes no results at all
    elif not st.ready:
        run.status = "unavailable"
        run.detail = f"the sandbox could not start ({st.child.exit or st.killed or 'no status'}): {run.stderr[-500:]}"
    elif st.job_msg is not None:
        run.status, run.error = st.job_msg["status"], st.job_msg.get("error")
        if run.status == "runtime_error" and isinstance(run.error, dict) and run.error.get("type") == "MemoryError":
            _memory_limit(run, st.job)
    elif st.done:
        names = {c.name for c in st.job.cases}
        if set(st.cases) != names:
            run.status, run.detail = "sandbox_violation", "case results do not match the job's cases"
            run.cases = {}
        elif any(c.error and c.error.get("type") == "MemoryError" for c in st.cases.values()):
            _memory_limit(run, st.job)
    elif sig == signal.SIGSYS:
        run.status, run.detail = "sandbox_violation", "killed by SIGSYS: a blocked system call"
        run.cases = {}
    elif sig == signal.SIGKILL and oom == "oom":  # the kernel's OOM killer, inside the sandbox's own leaf
        _memory_limit(run, st.job)
        run.cases = {}
    elif sig in (signal.SIGXCPU, signal.SIGKILL):
        run.status, run.limits_hit = "timeout", ["cpu"]
        run.detail = f"CPU time limit exceeded ({st.limits.cpu_seconds(st.job.time_s)} s)"
    elif sig:
        run.status = "crashed"
        run.detail = f"crashed with {signal.Signals(sig).name} ({_SIGNAMES.get(sig, 'signal')})" \
            if sig in signal.Signals._value2member_map_ else f"crashed with signal {sig}"
    else:
        run.status = "crashed"
        run.detail = f"your code ended the process early ({st.child.exit.replace('exit', 'exit code') or 'no exit status'})"
    return run

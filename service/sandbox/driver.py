"""Engine side of one sandbox run: feed the job, read results and output under caps and a deadline.

Trusted code. It only ever reads pipes (never a path inside the box), parses length-prefixed JSON plus
raw bytes (never pickle), and turns whatever happened into a `RawRun`, never an exception.
"""

from __future__ import annotations

import fcntl
import mmap
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
from service.sandbox.protocol import CaseOut, Job, RawRun, RunStatus

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
    inputs_next: int = -1  # a second phase's (hidden cases'): empty until the first phase is final
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
        for fd in (self.job_w, self.res_r, self.out_r, self.err_r, self.pidfd, self.inputs, self.inputs_next):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.status.close()
        self.job_w = self.res_r = self.out_r = self.err_r = self.pidfd = self.inputs = self.inputs_next = -1


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
    """Fresh pipes, a status socket and two (empty) shared inputs files for one sandbox child: the trusted
    side's ends as a `Child`, and the child's seven fds (job read, result write, stdout write, stderr write,
    status socket, inputs, second phase's inputs), which the caller hands over (to the zygote or a fresh
    runner) and then closes."""
    job_r, job_w = os.pipe2(os.O_CLOEXEC)
    res_r, res_w = os.pipe2(os.O_CLOEXEC)
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    inputs = os.memfd_create("kiwame-inputs", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    nxt = os.memfd_create("kiwame-inputs-next", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    return (Child(job_w, res_r, out_r, err_r, mine, inputs, nxt),
            [job_r, res_w, out_w, err_w, theirs.detach(), os.dup(inputs), os.dup(nxt)])


# Once written, the inputs file can neither shrink nor grow: a child truncating it could otherwise make
# the trusted side read short (or, were it mapped here, fault).
_SEALS = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL


def write_inputs(fd: int, blob: bytes) -> None:
    """Fill and seal an inputs file. A second phase's file was open in the child during the first phase:
    if the learner's code sealed or resized it meanwhile, this raises OSError (the phase is then a
    violation), and the size is checked once sealed, so the trusted side never reads short."""
    os.ftruncate(fd, len(blob))
    view = memoryview(blob)
    while view:
        view = view[os.pwrite(fd, view, len(blob) - len(view)):]
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS)
    if os.fstat(fd).st_size != len(blob):
        raise OSError("the inputs file was resized while it was written")


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

    def __init__(self, child: Child, job: Job, limits: SandboxLimits, inputs_fd: int, second: bool = False,
                 encoded: tuple[bytes, bytes, list[wire.Region]] | None = None, **extra: Any) -> None:
        self.child, self.job, self.limits, self.inputs_fd = child, job, limits, inputs_fd
        self.head, self.blob, self.regions = encoded or wire.encode_job(job, **extra)
        self.reader = wire.FrameReader(limits.header_max_bytes, limits.payload_max_bytes)
        self.logical = [limits.payload_max_bytes]  # the run's values once rebuilt from their memory spans
        self.stdout, self.stderr = bytearray(), bytearray()
        self.out = {child.out_r: self.stdout, child.err_r: self.stderr}
        self.out_total = 0
        # A second phase's child is ready already (no new "ready" frame), and what it prints is never kept:
        # that phase is the sealed one (hidden cases), its output is counted for the cap and dropped.
        self.keep_output = not second
        self.ready, self.done = second, False
        self.second = second  # the module was loaded in the first phase: no job-level frame is possible
        self.killed = ""  # why *we* killed it: timeout / output / violation / result_size
        self.violation = ""
        self.job_msg: dict[str, Any] | None = None
        self.names = {c.name for c in job.cases}
        self.cases: dict[str, CaseOut] = {}
        self.stamps: Any = None  # the child's own monotonic clock: job read, locked down, cases run
        self.t_written = 0.0
        self.t_start = time.monotonic()
        self.t_done = 0.0
        self.final = False  # facts applied and RawRun made (a first phase that ended the child)

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
        elif t == "job" and self.job_msg is None and not self.cases and not self.second \
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


def _limit_memory(child: Child, memory_mb: int, device: str) -> None:
    """Set the job's memory limit on the child's cgroup leaf before the job can reach it. The zygote sends
    the leaf with the pid, right after the fork: wait for that message if it is not here yet."""
    if not child.pid:
        child.status.settimeout(SETUP_TIMEOUT_S)
        try:
            child.read_status()
        finally:
            child.status.setblocking(False)
    if child.memory_file:
        cuda = cgroups.CUDA_HOST_MB if device == "cuda" else 0  # CUDA's own host memory on top
        cgroups.set_memory(child.memory_file, memory_mb + cuda)


def drive(child: Child, job: Job, limits: SandboxLimits = DEFAULT_LIMITS,
          cancel: threading.Event | None = None) -> RawRun:
    """Run `job` in `child` (a fresh one; single use) and always return a RawRun. Setting `cancel` kills the
    child (checked every 50 ms): the run then ends "cancelled"."""
    return drive_phases(child, job, None, limits, cancel)[0]


def skipped(first: RawRun) -> RawRun:
    """The second phase's run when it was never sent: the first phase did not end "ok"."""
    status: RunStatus = "unavailable" if first.status == "unavailable" else "cancelled"
    return RawRun(status=status, detail=f"not run: the first phase ended {first.status}")


def drive_phases(child: Child, job: Job, nxt: Job | None, limits: SandboxLimits = DEFAULT_LIMITS,
                 cancel: threading.Event | None = None) -> tuple[RawRun, RawRun | None]:
    """Run `job` in `child`, then, only if that ended "ok", `nxt` in the same child; one RawRun per phase
    (None for `nxt` when there is none). Strictly sequential: the first RawRun is final (results, trusted
    facts, stdout/stderr drained to EAGAIN) before a byte of `nxt` (inputs file or job frame) is written,
    and nothing the child prints after that is kept (docs/sandbox.md, "Two phases, one process")."""
    extra: dict[str, Any] = {}
    later = wire.encode_job(nxt) if nxt is not None else None
    if nxt is not None and later is not None:  # one CPU budget for both phases, room for the second's inputs
        extra = {"more": True, "cpu_s": limits.cpu_seconds(job.time_s) + limits.cpu_seconds(nxt.time_s),
                 "reserve_bytes": len(later[1]) + (-len(later[1]) % mmap.PAGESIZE)}
    st = _Run(child, job, limits, child.inputs, **extra)
    first: RawRun | None = None  # set once the first phase is final
    child.boost()
    data = memoryview(st.head)
    try:
        write_inputs(child.inputs, st.blob)
        _limit_memory(child, max(job.memory_mb, nxt.memory_mb if nxt else 0), job.device)
    except OSError as exc:  # our own memfd or cgroup: an infrastructure failure, no learner code has run
        child.kill()
        child.close()
        run = RawRun(status="unavailable", detail=f"could not write the inputs: {exc}")
        return run, skipped(run) if nxt else None
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
                        if nxt is None or first is not None:  # nothing more to send: the child sees EOF
                            os.close(fd)
                            child.job_w = -1
                elif fd in open_fds:  # result, stdout or stderr
                    was_ready = st.ready
                    if not _take(st, fd, os.read(fd, 1 << 20 if fd == child.res_r else 1 << 16)):
                        sel.unregister(fd)
                        open_fds.discard(fd)
                    if st.ready and not was_ready:  # the learner's clock starts when isolation is done
                        deadline = time.monotonic() + limits.wall_seconds(job.time_s)
                        demote_at = time.monotonic() + DEMOTE_S
                else:
                    eof = not child.read_status()
                    if eof:
                        sel.unregister(child.status)
                    # the child is gone, or the zygote is (EOF without an exit: nobody will report)
                    if (child.exit or eof) and not ending:
                        ending = time.monotonic() + DRAIN_S
            if st.done and not st.killed and not ending and nxt is not None and first is None:
                first = _end_first(st, sel, open_fds)
                if first.status == "ok":  # only now may anything of the second phase exist
                    st = _Run(child, nxt, limits, child.inputs_next, second=True, encoded=later)
                    data = memoryview(st.head)
                    write_inputs(child.inputs_next, st.blob)  # OSError: the learner tampered with it
                    sel.register(child.job_w, selectors.EVENT_WRITE)
                    deadline = time.monotonic() + limits.wall_seconds(nxt.time_s)
                    continue
            if (st.done or st.killed) and not ending:
                child.kill()  # done: single use, tear down now; killed: for cause
                ending = time.monotonic() + DRAIN_S
    except wire.WireError as exc:
        st.killed = "result_size" if exc.kind == "limit" else "violation"
        st.violation = exc.detail
    except OSError as exc:
        st.killed, st.violation = "violation", f"result channel error: {exc.strerror or exc}"
    finally:
        sel.close()
        child.kill()  # whatever happened: single use, and killed for cause on a wire error
        try:
            if not st.final:
                facts.apply(st.cases, st.regions, st.blob, read_inputs(st.inputs_fd, len(st.blob)))
        finally:
            child.close()
    if st.final:  # the first phase ended the child (its RawRun was made in _end_first)
        assert first is not None
        return first, skipped(first)
    if first is None:
        first = finish(st)
        return first, skipped(first) if nxt is not None else None
    return first, finish(st)


def _take(st: _Run, fd: int, chunk: bytes) -> bool:
    """Handle bytes read from the result, stdout or stderr pipe; False at EOF."""
    if not chunk:
        return False
    if fd == st.child.res_r:
        for header, payload in st.reader.feed(chunk):
            st.on_frame(header, payload)
        return True
    if st.keep_output:
        keep = st.out[fd]
        keep += chunk[:max(0, st.limits.output_keep_bytes - len(keep))]
    st.out_total += len(chunk)
    if st.out_total > st.limits.output_hard_bytes and not st.killed:
        st.killed = "output"
    return True


def _end_first(st: _Run, sel: selectors.BaseSelector, open_fds: set[int]) -> RawRun:
    """Make the first phase's RawRun final: read every pipe to EAGAIN (pipes are FIFO: all of it was
    written before anything of the second phase exists), refuse anything after `done` on the result
    channel, compute the trusted facts from the inputs file now. Raises WireError on a violation."""
    for fd in (st.child.res_r, st.child.out_r, st.child.err_r):
        while fd in open_fds:
            try:
                chunk = os.read(fd, 1 << 16)
            except BlockingIOError:
                break
            if not _take(st, fd, chunk):
                sel.unregister(fd)
                open_fds.discard(fd)
    if st.reader.pending():
        raise wire.WireError("violation", "data on the result channel after done")
    facts.apply(st.cases, st.regions, st.blob, read_inputs(st.inputs_fd, len(st.blob)))
    st.final = True
    run = finish(st)
    if run.status == "ok":
        st.final = False  # the run object is kept as it is; the child goes on with the next phase
    return run


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

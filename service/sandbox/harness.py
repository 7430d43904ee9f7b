"""Runs inside the isolated child: read the job, lock down, run the learner's code, send plain data back.

Everything the harness itself relies on (functions, classes) is captured at import time, in the zygote,
before any learner code exists: monkeypatching torch or numpy later cannot change how inputs are built
or results encoded (see encode.py). The learner can still lie about *their own* output's structural facts by patching memory
with ctypes (see docs/sandbox.md, threat model): the values are compared outside, by the trusted side.
"""

from __future__ import annotations

import builtins
import mmap
import os
import sys
import time
import traceback
import types
import warnings
from typing import Any, NoReturn

import numpy as np
import torch

from service.sandbox import encode, isolation, seccomp, wire
from service.sandbox.limits import DEFAULT_LIMITS
from service.sandbox.protocol import ArgIn, CaseIn, Job

FILENAME = "<submission>"
_write, _read, _exit = os.write, os.read, os._exit
_type_name, _type, _issubclass, _len = encode._type_name, type, issubclass, len
# Not torch.manual_seed: it also queues a lazy CUDA seeding that formats a stack trace (~2 ms) each time.
_manual_seed, _np_seed = torch.default_generator.manual_seed, np.random.seed
_perf = time.perf_counter
_from_numpy, _to, _cuda_sync = torch.from_numpy, torch._C.TensorBase.to, torch.cuda.synchronize
_view, _encode_value = torch._C.TensorBase.view, encode.encode_value
_MEMORY_HINTS = ("can't allocate memory", "not enough memory", "out of memory")


def _send(header: dict[str, Any], payload: list[bytes] | None = None) -> None:
    data = memoryview(wire.frame(header, payload))
    while data:
        data = data[_write(isolation.FD_RESULT, data):]


def _read_exact(n: int) -> bytes:
    buf = bytearray()
    while _len(buf) < n:
        chunk = _read(isolation.FD_JOB, min(n - _len(buf), 1 << 20))
        if not chunk:
            raise EOFError("job pipe closed")
        buf += chunk
    return bytes(buf)


def _read_job(inputs_fd: int) -> tuple[Job, dict[str, Any]]:
    """One job frame from the pipe (exactly one: a second phase's may follow later); the inputs by mapping
    the shared inputs file `inputs_fd` read-write, so the arrays the learner gets live in memory the trusted
    side can inspect after the run. Returns the job and its header (which carries the phase fields)."""
    header = wire.read_job_frame(_read_exact, DEFAULT_LIMITS.job_max_bytes)
    size = int(header.get("inputs_size") or 0)
    inputs: Any = mmap.mmap(inputs_fd, size, mmap.MAP_SHARED) if size else b""
    os.close(inputs_fd)
    encode.set_arena(np.frombuffer(inputs, np.uint8).__array_interface__["data"][0] if size else 0, size)
    return wire.decode_job(header, inputs), header


def _finish_phase(streams: tuple[Any, Any], last: bool, stamps: list[float]) -> None:
    for stream in streams:  # the harness's own, as they were before the learner's code ran
        try:
            stream.flush()
        except BaseException:  # noqa: B036 - the learner may have broken the stream
            pass
    if last:  # close our ends first so the trusted side sees EOF now, not after this process's teardown
        for fd in (0, 1, 2):
            try:
                os.close(fd)
            except OSError:
                pass
    _send({"t": "done", "stamps": stamps})


def serve(filt: seccomp.Filter, gpu: bool = False, single_process: bool = False) -> NoReturn:
    """The child's whole life after isolation: one job, or two phases (visible cases, then, only if the
    trusted side sends it once the first phase's results are final, the hidden cases), then exit."""
    code = 3
    try:
        job, header = _read_job(isolation.FD_INPUTS)
        more = header.get("more") is True
        if not more:
            os.close(isolation.FD_INPUTS_NEXT)
        stamps = [time.monotonic()]
        # A two-phase child gets one CPU budget for both phases (the trusted side sums them in "cpu_s") and
        # address space for the second phase's inputs ("reserve_bytes"), since setrlimit runs only here.
        isolation.apply_job_limits(job.time_s, job.memory_mb, gpu, single_process=single_process,
                                   cpu_s=int(header.get("cpu_s") or 0),
                                   reserve_bytes=int(header.get("reserve_bytes") or 0))
        filt.load()  # from here on, only the learner's code and our encoding run
        stamps.append(time.monotonic())
        streams = (sys.stdout, sys.stderr)
        fn, lines = run_job(job)
        stamps.append(time.monotonic())
        _finish_phase(streams, not more, stamps)
        if more and fn is not None:
            try:  # blocks until the trusted side sends the second phase; it kills us instead if it does not
                job, _ = _read_job(isolation.FD_INPUTS_NEXT)
            except EOFError:
                _exit(0)
            stamps = [time.monotonic()] * 2
            _run_cases(job, fn, lines)
            stamps.append(time.monotonic())
            _finish_phase(streams, True, stamps)
        os.close(isolation.FD_RESULT)
        code = 0
    except BaseException:  # noqa: B036 - nothing may escape a sandbox child
        pass
    _exit(code)


def _error(exc: BaseException, lines: list[str]) -> dict[str, Any]:
    """Type, message and a traceback trimmed to the learner's own frames (no harness, no torch internals)."""
    name = _type_name(_type(exc))
    try:
        message = str(exc)[:2000]
    except BaseException:  # noqa: B036 - str() runs the learner's __str__
        message = ""
    tb = ["Traceback (most recent call last):"]
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename == FILENAME:
            tb.append(f'  File "{FILENAME}", line {lineno}, in {frame.f_code.co_name}')
            if 0 < lineno <= _len(lines):
                tb.append("    " + lines[lineno - 1].strip())
    tb.append(f"{name}: {message}" if message else name)
    return {"type": name, "message": message, "traceback": "\n".join(tb)}


def run_job(job: Job) -> tuple[Any, list[str]]:
    """Compile and execute the module, then run the job's cases; returns the entry function (None after a
    job-level error) and the source lines, which a second phase reuses: it runs in the same module."""
    lines = job.code.splitlines()
    try:
        compiled = compile(job.code, FILENAME, "exec", dont_inherit=True)
    except BaseException as exc:  # noqa: B036 - SyntaxError, ValueError (null bytes), RecursionError...
        err = _error(exc, lines)
        if _issubclass(_type(exc), SyntaxError):
            se: Any = exc
            err.update(line=se.lineno, offset=se.offset, text=(se.text or "")[:500], message=str(se.msg)[:2000])
        _send({"t": "job", "status": "syntax_error", "error": err})
        return None, lines
    module = types.ModuleType("submission")
    module.__dict__["__builtins__"] = builtins
    torch.set_warn_always(True)  # `.T` on an N-D tensor must warn on every call, not just once
    try:
        exec(compiled, module.__dict__)
    except BaseException as exc:  # noqa: B036 - SystemExit at import time too
        _send({"t": "job", "status": "runtime_error", "error": _memory_typed(_error(exc, lines))})
        return None, lines
    fn = module.__dict__.get(job.entry)
    if not callable(fn):
        _send({"t": "job", "status": "missing_function",
               "error": {"type": "missing_function", "message": f"no function named {job.entry!r}"}})
        return None, lines
    _run_cases(job, fn, lines)
    return fn, lines


def _run_cases(job: Job, fn: Any, lines: list[str]) -> None:
    budget = [DEFAULT_LIMITS.payload_max_bytes]  # for the whole phase, like the pool's cap
    for case in job.cases:
        _run_case(job, case, fn, lines, budget)


def prewarm() -> None:
    """Run the case machinery once on dummy data while the child waits for its job: the copy-on-write
    page faults of touching torch's and numpy's state are then paid off the latency path."""
    arr = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    for framework in ("torch", "numpy"):
        job = Job(code="", entry="f", framework=framework,  # type: ignore[arg-type]
                  cases=(CaseIn("warm", (ArgIn("x", array=arr), ArgIn("n", value=1))),))
        _run_case(job, job.cases[0], lambda x, n: (x.transpose(0, 1), x.sum(), n), [], [1 << 20], send=False)


def _run_case(job: Job, case: Any, fn: Any, lines: list[str], budget: list[int], send: bool = True) -> None:
    cuda = job.device == "cuda"
    args: list[Any] = []
    metas: list[tuple[str, Any, Any]] = []
    for a in case.args:
        if a.array is None:
            args.append(a.value)
            continue
        x: Any = a.array  # a view into the shared inputs mapping: no copy, the trusted side sees it
        if job.framework == "torch":
            x = _from_numpy(x)
            if a.torch_dtype == "bfloat16":  # the trusted side already wrote the bf16 bit patterns
                x = _view(x, torch.bfloat16)
            elif a.torch_dtype:
                x = _to(x, getattr(torch, a.torch_dtype))
            if cuda:
                x = _to(x, "cuda")
        args.append(x)
        metas.append((a.name, x, _meta(x)))
    _manual_seed(0)
    _np_seed(0)
    if cuda:
        torch.cuda.manual_seed_all(0)
    value: Any = None
    error = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = _perf()
        try:
            value = fn(*args)
            if cuda:
                _cuda_sync()
        except BaseException as exc:  # noqa: B036 - SystemExit/KeyboardInterrupt are just errors here
            error = _error(exc, lines)
        elapsed = (_perf() - start) * 1000
    header: dict[str, Any] = {"t": "case", "name": case.name, "elapsed_ms": elapsed, "error": error,
                              "warnings": [_safe_str(w.message)[:500] for w in caught[:20]],
                              "meta_changed": [n for n, x, before in metas if _meta(x) != before]}
    if error is not None:
        _memory_typed(error)
    payload: list[bytes] = []
    if error is None:
        try:
            header["value"] = _encode_value(value, payload, budget, 0)
        except encode.TooBig:
            _send({"t": "limit", "what": "result"})
            _exit(0)
    if send:
        _send(header, payload)


def _meta(x: Any) -> Any:
    """Shape, strides and data pointer of an input object: `x.t_()`, `x.set_(...)` or `a.shape = ...` change
    the caller's object without touching the shared memory. Reported by the child, so it can only ever add a
    failure: memory changes are judged on the trusted side."""
    try:
        if _issubclass(_type(x), torch.Tensor):
            return encode.tensor_meta(x)
        return (x.shape, x.strides, np.ndarray.__dict__["__array_interface__"].__get__(x)["data"][0])
    except BaseException:  # noqa: B036 - a learner-broken object counts as changed
        return None


def _memory_typed(error: dict[str, Any]) -> dict[str, Any]:
    """torch reports a failed allocation as RuntimeError("... can't allocate memory"): call it MemoryError,
    which the pool turns into status memory_limit."""
    if any(h in error["message"] for h in _MEMORY_HINTS):
        error["type"] = "MemoryError"
    return error


def _safe_str(x: Any) -> str:
    try:
        return str(x)
    except BaseException:  # noqa: B036
        return ""

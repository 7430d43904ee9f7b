"""Runs inside the isolated child: read the job, lock down, run the learner's code, send plain data back.

Everything the harness itself relies on (functions, classes) is captured at import time, in the zygote,
before any learner code exists: monkeypatching torch or numpy later cannot change how results are
encoded. The learner can still lie about *their own* output's structural facts by patching memory
with ctypes (see docs/sandbox.md, threat model): the values are compared outside, by the trusted side.
"""

from __future__ import annotations

import builtins
import os
import sys
import time
import traceback
import types
import warnings
from typing import Any, NoReturn

import numpy as np
import torch

from service.sandbox import isolation, seccomp, wire
from service.sandbox.limits import DEFAULT_LIMITS
from service.sandbox.protocol import DTYPES, ArgIn, CaseIn, Job

FILENAME = "<submission>"
_write, _read, _exit = os.write, os.read, os._exit
_Tensor, _ndarray, _generic = torch.Tensor, np.ndarray, np.generic
_as_subclass = torch.Tensor.as_subclass
_no_torch_function = torch._C.DisableTorchFunctionSubclass
_type_name = type.__dict__["__name__"].__get__  # tp_name straight from C, no metaclass hooks
_issubclass, _type, _len = issubclass, type, len
# Not torch.manual_seed: it also queues a lazy CUDA seeding that formats a stack trace (~2 ms) each time.
_manual_seed, _np_seed = torch.default_generator.manual_seed, np.random.seed
_perf = time.perf_counter
_TORCH_DTYPES = {getattr(torch, n): n for n in DTYPES}
# Tensor methods and properties as captured C-level callables: `torch.Tensor.numpy = ...` or
# `torch.Tensor.shape = property(...)` in learner code cannot reach these references.
_TB = torch._C.TensorBase
_detach, _cpu, _contiguous, _clone, _view = _TB.detach, _TB.cpu, _TB.contiguous, _TB.clone, _TB.view
_resolve_conj, _resolve_neg, _to_numpy, _to = _TB.resolve_conj, _TB.resolve_neg, _TB.numpy, _TB.to
_size, _stride, _is_contiguous, _storage = _TB.size, _TB.stride, _TB.is_contiguous, _TB.untyped_storage
_numel, _element_size, _dim = _TB.numel, _TB.element_size, _TB.dim
_dtype, _device, _layout, _is_meta = (_TB.__dict__[n].__get__ for n in ("dtype", "device", "layout", "is_meta"))
_from_numpy, _cuda_sync = torch.from_numpy, torch.cuda.synchronize
_may_share, _ascontiguous, _tobytes = np.may_share_memory, np.ascontiguousarray, np.ndarray.tobytes
_MEMORY_HINTS = ("can't allocate memory", "not enough memory", "out of memory")


def _send(header: dict[str, Any], payload: list[bytes] | None = None) -> None:
    data = memoryview(wire.frame(header, payload))
    while data:
        data = data[_write(isolation.FD_RESULT, data):]


def _read_job() -> Job:
    buf = bytearray()
    while True:  # the trusted side writes one frame and closes the pipe
        chunk = _read(isolation.FD_JOB, 1 << 20)
        if not chunk:
            break
        buf += chunk
        if len(buf) > DEFAULT_LIMITS.job_max_bytes:
            raise OSError("job too large")
    reader = wire.FrameReader(DEFAULT_LIMITS.header_max_bytes + _len(buf), DEFAULT_LIMITS.job_max_bytes)
    for header, payload in reader.feed(bytes(buf)):
        return wire.decode_job(header, payload)
    raise OSError("no job received")


def serve(filt: seccomp.Filter, gpu: bool = False) -> NoReturn:
    """The child's whole life after isolation: one job, then exit. Never returns."""
    code = 3
    try:
        job = _read_job()
        stamps = [time.monotonic()]
        isolation.apply_job_limits(job.time_s, job.memory_mb, gpu)
        filt.load()  # from here on, only the learner's code and our encoding run
        stamps.append(time.monotonic())
        out, err = sys.stdout, sys.stderr
        run_job(job)
        stamps.append(time.monotonic())
        for stream in (out, err):
            try:
                stream.flush()
            except BaseException:  # noqa: B036 - the learner may have broken the stream
                pass
        # Close our ends first so the trusted side sees EOF now, not after this process's teardown.
        for fd in (0, 1, 2):
            try:
                os.close(fd)
            except OSError:
                pass
        _send({"t": "done", "stamps": stamps})
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


def run_job(job: Job) -> None:
    lines = job.code.splitlines()
    try:
        compiled = compile(job.code, FILENAME, "exec", dont_inherit=True)
    except BaseException as exc:  # noqa: B036 - SyntaxError, ValueError (null bytes), RecursionError...
        err = _error(exc, lines)
        if _issubclass(_type(exc), SyntaxError):
            se: Any = exc
            err.update(line=se.lineno, offset=se.offset, text=(se.text or "")[:500], message=str(se.msg)[:2000])
        _send({"t": "job", "status": "syntax_error", "error": err})
        return
    module = types.ModuleType("submission")
    module.__dict__["__builtins__"] = builtins
    torch.set_warn_always(True)  # `.T` on an N-D tensor must warn on every call, not just once
    try:
        exec(compiled, module.__dict__)
    except BaseException as exc:  # noqa: B036 - SystemExit at import time too
        _send({"t": "job", "status": "runtime_error", "error": _memory_typed(_error(exc, lines))})
        return
    fn = module.__dict__.get(job.entry)
    if not callable(fn):
        _send({"t": "job", "status": "missing_function",
               "error": {"type": "missing_function", "message": f"no function named {job.entry!r}"}})
        return
    for case in job.cases:
        _run_case(job, case, fn, lines)


def prewarm() -> None:
    """Run the case machinery once on dummy data while the child waits for its job: the copy-on-write
    page faults of touching torch's and numpy's state are then paid off the latency path."""
    arr = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    for framework in ("torch", "numpy"):
        job = Job(code="", entry="f", framework=framework,  # type: ignore[arg-type]
                  cases=(CaseIn("warm", (ArgIn("x", array=arr), ArgIn("n", value=1))),))
        _run_case(job, job.cases[0], lambda x, n: (x.transpose(0, 1), x.sum(), n), [], send=False)


def _run_case(job: Job, case: Any, fn: Any, lines: list[str], send: bool = True) -> None:
    cuda = job.device == "cuda"
    args, inputs = [], []
    for a in case.args:
        if a.array is None:
            args.append(a.value)
            continue
        x: Any = a.array
        if job.framework == "torch":
            x = _from_numpy(x)
            if a.torch_dtype:
                x = _to(x, getattr(torch, a.torch_dtype))
            if cuda:
                x = _to(x, "cuda")
        args.append(x)
        inputs.append((a.name, x, _snapshot(x)))
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
                              "inputs_unchanged": {n: _unchanged(x, s) for n, x, s in inputs},
                              "warnings": [_safe_str(w.message)[:500] for w in caught[:20]]}
    if error is not None:
        _memory_typed(error)
    payload: list[bytes] = []
    if error is None:
        budget = [DEFAULT_LIMITS.payload_max_bytes]
        try:
            header["value"] = encode_value(value, inputs, payload, budget, 0)
        except _TooBig:
            _send({"t": "limit", "what": "result"})
            _exit(0)
    if send:
        _send(header, payload)


def _memory_typed(error: dict[str, Any]) -> dict[str, Any]:
    """torch reports a failed allocation as RuntimeError("... can't allocate memory"): call it MemoryError,
    which the pool turns into status memory_limit."""
    if any(h in error["message"] for h in _MEMORY_HINTS):
        error["type"] = "MemoryError"
    return error


class _TooBig(Exception):
    pass


def _safe_str(x: Any) -> str:
    try:
        return str(x)
    except BaseException:  # noqa: B036
        return ""


def _raw_tensor(t: torch.Tensor) -> torch.Tensor:
    c = _contiguous(_resolve_neg(_resolve_conj(_cpu(_detach(t)))))
    return _view(c, torch.int16) if _dtype(c) == torch.bfloat16 else c


def _snapshot(x: Any) -> Any:
    with _no_torch_function():
        if _issubclass(_type(x), _Tensor):
            return (tuple(_size(x)), _dtype(x), _tobytes(_to_numpy(_clone(_raw_tensor(x)))))
        return (x.shape, x.dtype, _tobytes(x))


def _unchanged(x: Any, snap: Any) -> bool:
    try:
        return _snapshot(x) == snap
    except BaseException:  # noqa: B036
        return False


def encode_value(x: Any, inputs: list[Any], payload: list[bytes], budget: list[int], depth: int) -> dict[str, Any]:
    """Describe `x` as plain JSON + raw bytes, reading facts from the C level, never via learner hooks."""
    t = _type(x)
    try:
        if _issubclass(t, _Tensor):
            return _encode_tensor(x, inputs, payload, budget)
        if _issubclass(t, _ndarray):
            return _encode_ndarray(np.ndarray.view(x, np.ndarray), inputs, payload, budget)
        if x is None:
            return {"kind": "none"}
        if t is bool or _issubclass(t, np.bool_):
            return {"kind": "bool", "scalar": bool(x)}
        if _issubclass(t, int):
            return {"kind": "int", "scalar": int.__int__(x)} if abs(int.__int__(x)) < 1 << 63 else _other(x)
        if _issubclass(t, np.integer):
            return {"kind": "int", "scalar": int(x)}
        if _issubclass(t, float) or _issubclass(t, np.floating):
            return {"kind": "float", "scalar": float(x) if _issubclass(t, _generic) else float.__float__(x)}
        if _issubclass(t, complex) or _issubclass(t, np.complexfloating):
            c = complex(x) if _issubclass(t, _generic) else complex(complex.real.__get__(x), complex.imag.__get__(x))
            return {"kind": "complex", "scalar": [c.real, c.imag]}
        if _issubclass(t, str):
            return {"kind": "str", "scalar": str.__str__(x)[:10000]}
        if (_issubclass(t, tuple) or _issubclass(t, list)) and depth < DEFAULT_LIMITS.max_depth:
            items = list(tuple.__iter__(x) if _issubclass(t, tuple) else list.__iter__(x))
            if _len(items) > DEFAULT_LIMITS.max_items:
                return _other(x)
            return {"kind": "tuple" if _issubclass(t, tuple) else "list",
                    "items": [encode_value(i, inputs, payload, budget, depth + 1) for i in items]}
    except _TooBig:
        raise
    except Exception:  # a value we cannot describe faithfully is just "other"
        pass
    return _other(x)


def _other(x: Any) -> dict[str, Any]:
    return {"kind": "other", "type_name": _type_name(_type(x))}


def _take(nbytes: int, budget: list[int]) -> None:
    budget[0] -= nbytes
    if budget[0] < 0:  # checked before the copy: a huge output never gets materialised twice
        raise _TooBig


def _encode_tensor(x: Any, inputs: list[Any], payload: list[bytes], budget: list[int]) -> dict[str, Any]:
    with _no_torch_function():
        t = _as_subclass(x, _Tensor)  # a plain Tensor view of a subclass: its overrides no longer run
        name = _TORCH_DTYPES.get(_dtype(t))
        if name is None or _layout(t) != torch.strided or _is_meta(t) or _dim(t) > DEFAULT_LIMITS.max_ndim:
            return {"kind": "other", "type_name": f"Tensor[{str(_dtype(t)).removeprefix('torch.')}]"}
        _take(_numel(t) * _element_size(t), budget)
        ptr = _storage(t).data_ptr()
        shares = [n for n, inp, _ in inputs if _issubclass(_type(inp), _Tensor)
                  and _storage(inp).data_ptr() == ptr]
        raw = _tobytes(_to_numpy(_raw_tensor(t)))
        payload.append(raw)
        return {"kind": "tensor", "dtype": name, "shape": list(_size(t)), "strides": list(_stride(t)),
                "device": _device(t).type, "contiguous": _is_contiguous(t),
                "channels_last": _dim(t) == 4 and _is_contiguous(t, memory_format=torch.channels_last),
                "shares_input": shares, "nbytes": len(raw)}


def _encode_ndarray(a: np.ndarray, inputs: list[Any], payload: list[bytes], budget: list[int]) -> dict[str, Any]:
    if a.dtype.name not in DTYPES or a.ndim > DEFAULT_LIMITS.max_ndim or a.dtype.hasobject:
        return {"kind": "other", "type_name": f"ndarray[{a.dtype.name}]"}
    _take(a.nbytes, budget)
    shares = [n for n, inp, _ in inputs if _issubclass(_type(inp), _ndarray) and _may_share(a, inp)]
    contiguous = bool(a.flags.c_contiguous)
    strides = [s // a.itemsize for s in a.strides]
    if not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("="))
    raw = _tobytes(_ascontiguous(a))
    payload.append(raw)
    return {"kind": "ndarray", "dtype": a.dtype.name, "shape": list(a.shape), "strides": strides,
            "device": "cpu", "contiguous": contiguous, "channels_last": None, "shares_input": shares,
            "nbytes": len(raw)}

"""Framing used on both sides of the sandbox: a length-prefixed JSON header, then raw bytes. Never pickle.

A frame is `u32 big-endian header length | header JSON (utf-8) | payload`, where the header's integer
field "nbytes" says how many payload bytes follow. Caps are checked *before* anything is buffered or
allocated, so a hostile child cannot make the trusted side allocate a claimed 1 TB shape.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from service.sandbox.limits import DEFAULT_LIMITS, SandboxLimits
from service.sandbox.protocol import DTYPES, ArgIn, CaseIn, Job, Value

_LEN = struct.Struct(">I")


class WireError(Exception):
    """A malformed or oversized message. `kind` is "violation" (malformed) or "limit" (too big)."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


def np_dtype(name: str) -> np.dtype:
    """The numpy dtype a wire dtype name is stored as (bfloat16 travels as its raw int16 pattern)."""
    if name not in DTYPES:
        raise WireError("violation", f"dtype {name!r} is not allowed")
    return np.dtype("int16" if name == "bfloat16" else name)


def frame(header: dict[str, Any], payload: list[bytes] | None = None) -> bytes:
    parts = payload or []
    header = dict(header, nbytes=sum(len(p) for p in parts))
    raw = json.dumps(header, separators=(",", ":")).encode()
    return b"".join([_LEN.pack(len(raw)), raw, *parts])


class FrameReader:
    """Incremental decoder: `feed()` bytes as they arrive, iterate complete (header, payload) frames."""

    def __init__(self, header_max: int, payload_max: int) -> None:
        self._buf = bytearray()
        self._header_max = header_max
        self._payload_left = payload_max  # a budget for the whole stream, not per frame

    def feed(self, data: bytes) -> Iterator[tuple[dict[str, Any], bytes]]:
        self._buf += data
        while len(self._buf) >= 4:
            (hlen,) = _LEN.unpack_from(self._buf)
            if hlen > self._header_max:
                raise WireError("violation", f"result header of {hlen} bytes is over the cap")
            if len(self._buf) < 4 + hlen:
                return
            try:
                header = json.loads(bytes(self._buf[4:4 + hlen]))
            except (ValueError, RecursionError) as exc:
                raise WireError("violation", f"result header is not valid JSON ({type(exc).__name__})") from None
            nbytes = header.get("nbytes") if isinstance(header, dict) else None
            if type(nbytes) is not int or nbytes < 0:
                raise WireError("violation", "result header has no valid nbytes")
            if nbytes > self._payload_left:
                raise WireError("limit", "result data is over the size cap")
            if len(self._buf) < 4 + hlen + nbytes:
                return
            payload = bytes(self._buf[4 + hlen:4 + hlen + nbytes])
            del self._buf[:4 + hlen + nbytes]
            self._payload_left -= nbytes
            yield header, payload


# ---- jobs (trusted side -> child) ------------------------------------------------------------------

@dataclass(frozen=True)
class Region:
    """Where one input array lives in the shared inputs file (bytes), and what it is."""

    case: str
    arg: str
    offset: int
    size: int
    dtype: str  # wire dtype name (bfloat16 is its raw int16 pattern)
    shape: tuple[int, ...]


def _input_bytes(arg: ArgIn, framework: str) -> tuple[str, bytes]:
    """The exact bytes the learner's tensor will hold, made here on the trusted side (so the trusted copy
    is what the child maps): `torch_dtype` casts happen here, bfloat16 by round-to-nearest-even."""
    arr = np.ascontiguousarray(arg.array)
    want = arg.torch_dtype if framework == "torch" else None
    if want == "bfloat16":
        f = np.ascontiguousarray(arr, dtype=np.float32).view(np.uint32)
        bits = ((f + np.uint32(0x7FFF) + ((f >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)).astype(np.uint16)
        bits[np.isnan(f.view(np.float32))] = 0x7FC0
        return "bfloat16", bits.view(np.int16).tobytes()
    if want:
        arr = arr.astype(np_dtype(want))
    np_dtype(arr.dtype.name)  # only allowlisted dtypes cross the boundary
    return arr.dtype.name, arr.tobytes()


def encode_job(job: Job) -> tuple[bytes, bytes, list[Region]]:
    """The job frame (code, entry, case layout), the inputs file's contents and where each input sits.

    Input arrays never travel in the frame: they go into a memfd the trusted side keeps, so it can check
    "unchanged" and "view of the input" against its own copy after the run (docs/sandbox.md).
    """
    blob: list[bytes] = []
    regions: list[Region] = []
    offset = 0
    cases = []
    for case in job.cases:
        args = []
        for arg in case.args:
            if arg.array is not None:
                dtype, raw = _input_bytes(arg, job.framework)
                shape = tuple(int(d) for d in np.shape(arg.array))
                args.append({"name": arg.name, "dtype": dtype, "shape": list(shape), "offset": offset,
                             "size": len(raw)})
                regions.append(Region(case.name, arg.name, offset, len(raw), dtype, shape))
                blob.append(raw)
                offset += len(raw)
                offset += -offset % 64  # aligned like an allocator would: views keep their alignment
                blob.append(b"\0" * (-len(raw) % 64))
            else:
                args.append({"name": arg.name, "value": arg.value})
        cases.append({"name": case.name, "args": args})
    header = {"code": job.code, "entry": job.entry, "framework": job.framework, "cases": cases,
              "time_s": job.time_s, "memory_mb": job.memory_mb, "device": job.device, "inputs_size": offset}
    return frame(header), b"".join(blob), regions


def decode_job(header: dict[str, Any], inputs: Any) -> Job:
    """The child's view of a job: every array is a writable view into the shared inputs mapping."""
    cases = []
    for c in header["cases"]:
        args = []
        for a in c["args"]:
            if "dtype" in a:
                arr = np.frombuffer(inputs, dtype=np_dtype(a["dtype"]), count=math.prod(a["shape"]),
                                    offset=a["offset"]).reshape(a["shape"])
                args.append(ArgIn(a["name"], array=arr, torch_dtype="bfloat16" if a["dtype"] == "bfloat16" else None))
            else:
                args.append(ArgIn(a["name"], value=a["value"]))
        cases.append(CaseIn(c["name"], tuple(args)))
    return Job(code=header["code"], entry=header["entry"], framework=header["framework"], cases=tuple(cases),
               time_s=header["time_s"], memory_mb=header["memory_mb"], device=header["device"])


# ---- values (child -> trusted side) ------------------------------------------------------------------

def decode_value(node: Any, payload: memoryview, pos: list[int], limits: SandboxLimits = DEFAULT_LIMITS,
                 depth: int = 0, budget: list[int] | None = None) -> Value:
    """Rebuild a `Value` from the header tree, slicing tensor bytes from `payload` in order.

    Everything is checked: kinds, dtype allowlist, shape bounds, strides against the bytes sent.
    `pos` is a one-element cursor into the payload shared across the recursion; `budget` the logical bytes
    (after expanding strides) the run may still produce, shared across a run's cases.
    """
    budget = [limits.payload_max_bytes] if budget is None else budget
    if not isinstance(node, dict) or depth > limits.max_depth:
        raise WireError("violation", "malformed value tree")
    kind = node.get("kind")
    if kind in ("tensor", "ndarray"):
        return _decode_array(node, payload, pos, limits, budget)
    if kind in ("tuple", "list"):
        items = node.get("items")
        if not isinstance(items, list) or len(items) > limits.max_items:
            raise WireError("violation", "malformed sequence")
        return Value(kind=kind, items=[decode_value(i, payload, pos, limits, depth + 1, budget) for i in items])
    if kind in ("int", "float", "bool", "complex", "str", "none"):
        scalar = node.get("scalar")
        if kind == "complex":
            if not (isinstance(scalar, list) and len(scalar) == 2):
                raise WireError("violation", "malformed complex")
            scalar = complex(float(scalar[0]), float(scalar[1]))
        elif kind == "str":
            scalar = str(scalar)[:10000]
        elif kind in ("int", "float", "bool") and not isinstance(scalar, int | float | bool):
            raise WireError("violation", f"malformed {kind}")
        return Value(kind=kind, scalar=scalar if kind != "none" else None)
    if kind == "other":
        return Value(kind="other", type_name=str(node.get("type_name", ""))[:200])
    raise WireError("violation", f"unknown value kind {str(kind)[:40]!r}")


def _decode_array(node: dict[str, Any], payload: memoryview, pos: list[int], limits: SandboxLimits,
                  budget: list[int]) -> Value:
    """A tensor or array from its raw memory span, its strides and its first element's index in the span.

    The values are rebuilt here with as_strided, so the strides (and every layout fact derived from them in
    facts.py) are as trustworthy as the values: a child claiming other strides than its tensor has sends
    bytes that, read with the claimed strides, are not the right answer.
    """
    kind, dtype, shape, strides, first = (node.get(k) for k in ("kind", "dtype", "shape", "strides", "first"))
    if not isinstance(dtype, str) or not isinstance(shape, list) or len(shape) > limits.max_ndim \
            or any(type(d) is not int or d < 0 for d in shape):
        raise WireError("violation", "malformed tensor description")
    if not isinstance(strides, list) or len(strides) != len(shape) \
            or any(type(s) is not int or abs(s) > 1 << 40 for s in strides):
        raise WireError("violation", "malformed tensor strides")
    npd = np_dtype(dtype)
    nbytes = node.get("nbytes")
    if type(nbytes) is not int or type(first) is not int or nbytes < 0 or nbytes % npd.itemsize:
        raise WireError("violation", "malformed tensor memory")
    if pos[0] + nbytes > len(payload):
        raise WireError("violation", "tensor bytes missing from the result")
    span = payload[pos[0]:pos[0] + nbytes]
    pos[0] += nbytes
    arr = strided(span, npd, tuple(shape), tuple(strides), first, budget)
    if dtype == "bfloat16":  # widen the raw bf16 pattern: it is the top half of a float32
        arr = (arr.astype(np.uint16).astype(np.uint32) << 16).view(np.float32)
    window = node.get("window")
    if window is not None and (type(window) is not int or window < 0):
        raise WireError("violation", "malformed tensor window")
    # Where the span sits in the shared inputs is the child's claim; facts.py checks it against the trusted
    # copy of the inputs, comparing the span's bytes (kept until then).
    return Value(kind="tensor" if kind == "tensor" else "ndarray", array=arr, dtype=dtype, shape=tuple(shape),
                 device=_str(node.get("device")), strides=tuple(strides), window=window,
                 span=bytes(span) if window is not None else None)


def strided(span: memoryview | bytes, npd: np.dtype, shape: tuple[int, ...], strides: tuple[int, ...],
            first: int, budget: list[int]) -> np.ndarray:
    """The logical values (a new C-order array) of the memory `span` read with element `strides` from element
    `first`. The strides must cover the span exactly, first element to last: checked with exact integers
    before as_strided touches anything, so every index it reads lies inside `span`. Negative and
    overlapping (zero) strides are fine: the array is only read. `budget` is charged before allocating."""
    n, count = len(span) // npd.itemsize, math.prod(shape)
    lo, hi = span_bounds(shape, strides, first)
    if (n or first) if count == 0 else (lo != 0 or hi != n - 1):
        raise WireError("violation", "tensor strides do not cover exactly the memory sent")
    budget[0] -= count * npd.itemsize
    if budget[0] < 0:  # stride-0 (expanded) tensors are small on the wire but not once rebuilt
        raise WireError("limit", "result data is over the size cap")
    if count == 0:
        return np.zeros(shape, npd)
    if n == count and first == 0 and list(strides) == c_strides(shape):  # the common case: C order
        return np.frombuffer(span, npd).reshape(shape).copy()
    # Like as_strided, straight from the C constructor (numpy checks the extent against the buffer again).
    view = np.ndarray(shape, npd, buffer=span, offset=first * npd.itemsize,
                      strides=tuple(s * npd.itemsize for s in strides))
    return np.array(view, order="C", copy=True)


def span_bounds(shape: tuple[int, ...], strides: tuple[int, ...], first: int) -> tuple[int, int]:
    """Lowest and highest element index a non-empty strided tensor touches, counted from index `first`."""
    lo = hi = first
    for d, s in zip(shape, strides, strict=True):
        if s < 0:
            lo += (d - 1) * s
        else:
            hi += (d - 1) * s
    return lo, hi


def c_strides(shape: tuple[int, ...]) -> list[int]:
    """Element strides of a C-order (row-major) array of `shape`."""
    out, step = [0] * len(shape), 1
    for i in range(len(shape) - 1, -1, -1):
        out[i] = step
        step *= shape[i]
    return out


def _str(x: Any) -> str | None:
    return x[:40] if isinstance(x, str) else None


def _bool(x: Any) -> bool | None:
    return x if isinstance(x, bool) else None

"""Plain data that crosses the sandbox boundary: the job going in and the decoded run coming out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

# Why an allowlist: the trusted side only ever reinterprets raw bytes as one of these numpy dtypes.
# bfloat16 travels as its raw 16-bit pattern ("bfloat16") and is widened to float32 on decode.
DTYPES: tuple[str, ...] = (
    "bool", "uint8", "int8", "int16", "int32", "int64",
    "float16", "bfloat16", "float32", "float64", "complex64", "complex128",
)

RunStatus = Literal[
    "ok",                 # the harness ran every case (individual cases may still have raised)
    "syntax_error",       # the code did not compile
    "missing_function",   # no callable named `entry` after executing the module
    "runtime_error",      # the module body itself raised
    "timeout",            # wall-clock or CPU limit
    "memory_limit",
    "output_limit",       # result channel or stdout over its cap
    "sandbox_violation",  # a blocked system call (SIGSYS) or a hostile result message
    "crashed",            # died by a signal or exited before finishing (details say how)
    "unavailable",        # infrastructure: the sandbox could not be started (fail closed)
    "cancelled",          # the trusted side stopped it (the visible run already timed out)
]


@dataclass(frozen=True)
class ArgIn:
    """One argument for the entry function: an array (becomes a tensor/ndarray) or a plain JSON value."""

    name: str
    array: np.ndarray | None = None  # for tensors / ndarrays
    value: Any = None  # for plain values ({value: ...} in YAML)
    # Optional torch dtype the sandbox casts the array to (e.g. "bfloat16", which numpy lacks).
    torch_dtype: str | None = None


@dataclass(frozen=True)
class CaseIn:
    name: str
    args: tuple[ArgIn, ...]


@dataclass(frozen=True)
class Job:
    """Everything the sandbox needs, and nothing it must not see (no solution, no expected values)."""

    code: str
    entry: str
    framework: Literal["torch", "numpy"]
    cases: tuple[CaseIn, ...]
    time_s: float = 2.0
    memory_mb: int = 1024
    device: str = "cpu"  # "cpu" or "cuda"


@dataclass
class Value:
    """A decoded output value. Tensors and arrays carry a numpy array; sequences carry items."""

    kind: Literal["tensor", "ndarray", "int", "float", "bool", "complex", "str", "none",
                  "tuple", "list", "other"]
    array: np.ndarray | None = None  # for tensor / ndarray
    dtype: str | None = None  # the original dtype name (e.g. "bfloat16" even though array is float32)
    shape: tuple[int, ...] | None = None
    device: str | None = None
    # In elements. The values were rebuilt on the trusted side from the child's raw memory with these
    # strides (wire.strided), so a false stride is a wrong value.
    strides: tuple[int, ...] | None = None
    # Byte offset of the tensor's memory span in the shared inputs file, as the child claimed it (None: not
    # there). The three facts below are computed on the trusted side (facts.py).
    window: int | None = None
    # The raw memory span the child sent for a claimed window, kept only until facts.py has checked the claim.
    span: bytes | None = None
    shares_input: tuple[str, ...] = ()  # input args this output is a verified strided window of
    contiguous: bool | None = None
    channels_last: bool | None = None
    scalar: Any = None  # for int / float / bool / complex / str
    items: list[Value] = field(default_factory=list)  # for tuple / list
    type_name: str = ""  # Python type name as reported, for "other" (e.g. "dict")


@dataclass
class CaseOut:
    name: str
    value: Value | None = None  # None when the call raised
    error: dict[str, Any] | None = None  # {"type", "message", "traceback"} trimmed to learner lines
    inputs_unchanged: dict[str, bool] = field(default_factory=dict)  # computed on the trusted side
    warnings: list[str] = field(default_factory=list)
    elapsed_ms: float = 0.0


@dataclass
class RawRun:
    status: RunStatus
    cases: dict[str, CaseOut] = field(default_factory=dict)
    error: dict[str, Any] | None = None  # job-level: syntax error / missing function / module raised
    stdout: str = ""
    stderr: str = ""
    limits_hit: list[str] = field(default_factory=list)
    detail: str = ""  # human-readable explanation for non-ok statuses (e.g. "killed by SIGSYS")
    timings: dict[str, float] = field(default_factory=dict)  # ms: queue, run, total
    # Set by the engine when the failure came from a hidden-case run: only `status` may be shown...
    sealed: bool = False
    # ...to a learner; staff may see the hidden run's detail (GradeResult.staff).
    sealed_detail: str = ""

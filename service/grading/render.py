"""Turn sandbox Values and input arrays into the JSON learners see (display only: comparison uses full precision)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from service.sandbox.protocol import ArgIn, Value

MAX_SHOWN = 4096  # elements; above this only a preview of the first ones is sent
PREVIEW = 16
DIGITS = 6  # significant digits shown for floats


def _float(v: float, digits: int | None) -> float | str:
    # Strict JSON has no NaN/Infinity: send them as strings the front end prints verbatim.
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v if digits is None else float(f"{v:.{digits}g}")


def json_scalar(v: Any, digits: int | None = DIGITS) -> Any:
    """A strict-JSON scalar: complex as [re, im], NaN/inf as strings, floats to ``digits`` (None: all of them)."""
    if isinstance(v, bool | np.bool_):
        return bool(v)
    if isinstance(v, int | np.integer):
        return int(v)
    if isinstance(v, float | np.floating):
        return _float(float(v), digits)
    if isinstance(v, complex | np.complexfloating):
        return [_float(float(v.real), digits), _float(float(v.imag), digits)]
    if v is None or isinstance(v, str):
        return v
    return repr(v)


def _nested(a: np.ndarray) -> Any:
    if a.ndim == 0:
        return json_scalar(a.item())
    return [_nested(sub) for sub in a]


def array_json(a: np.ndarray, kind: str, dtype: str | None = None, device: str | None = None) -> dict[str, Any]:
    """{"kind", "dtype", "shape", "device", "values"} with large arrays elided to a flat preview."""
    out: dict[str, Any] = {"kind": kind, "dtype": dtype or str(a.dtype), "shape": list(a.shape),
                           "device": device or "cpu"}
    if a.size > MAX_SHOWN:
        out["values"] = None
        out["elided"] = True
        out["preview"] = [json_scalar(v) for v in a.reshape(-1)[:PREVIEW]]
    else:
        out["values"] = _nested(a)
    return out


def render_value(v: Value | None) -> dict[str, Any] | None:
    if v is None:
        return None
    if v.kind in ("tensor", "ndarray") and v.array is not None:
        out = array_json(v.array, v.kind, v.dtype, v.device if v.kind == "tensor" else "cpu")
        if v.strides is not None:
            out["strides"] = list(v.strides)
        return out
    if v.kind in ("tuple", "list"):
        return {"kind": v.kind, "items": [render_value(i) for i in v.items]}
    if v.kind == "other":
        return {"kind": "other", "type": v.type_name}
    return {"kind": v.kind, "value": json_scalar(v.scalar)}


def render_inputs(args: Sequence[ArgIn], framework: str) -> dict[str, Any]:
    kind = "tensor" if framework == "torch" else "ndarray"
    out: dict[str, Any] = {}
    for arg in args:
        if arg.array is not None:
            # torch_dtype: what the learner's tensor really is (bfloat16 travels as float32 numpy data).
            dtype = arg.torch_dtype if framework == "torch" else None
            out[arg.name] = array_json(arg.array, kind, dtype)
        else:
            out[arg.name] = {"kind": "value", "value": json_scalar(arg.value) if not isinstance(arg.value, list | dict)
                             else arg.value}
    return out

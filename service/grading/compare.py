"""Compare one case's output with the reference: type, strict shape, dtype, device, values, then structure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from service.domain import CheckSpec, Exercise
from service.grading import messages as m
from service.grading.diagnose import (
    Finding,
    close_mask,
    mismatch_details,
    moved_axes,
    rearrangement_finding,
    trace,
)
from service.grading.diagnose_ops import operation_finding
from service.grading.findings import finding_message, trace_sentence
from service.grading.messages_ops import operation_message
from service.results import Check, Diagnosis, DiagnosisCode
from service.sandbox.protocol import ArgIn, CaseOut, Value

# torch.testing.assert_close defaults (rtol, atol); complex uses its float parts; everything else is exact.
TOLERANCES: dict[str, tuple[float, float]] = {
    "float16": (1e-3, 1e-5),
    "bfloat16": (1.6e-2, 1e-5),
    "float32": (1.3e-6, 1e-5),
    "float64": (1e-7, 1e-7),
    "complex64": (1.3e-6, 1e-5),
    "complex128": (1e-7, 1e-7),
}
ARRAY_KINDS = ("tensor", "ndarray")
SEQUENCE_KINDS = ("tuple", "list")  # interchangeable: `return a, b` and `return [a, b]` mean the same to learners


@dataclass
class CaseVerdict:
    passed: bool
    checks: list[Check] = field(default_factory=list)
    diagnoses: list[Diagnosis] = field(default_factory=list)
    searched: bool = False  # the operation search ran (the engine runs it on a few cases only)


def tolerance(spec: CheckSpec, expected_dtype: str | None, actual_dtype: str | None) -> tuple[float, float]:
    """(rtol, atol): exact unless ``values: close``; then the larger dtype default, overridable per exercise."""
    if spec.values != "close":
        return 0.0, 0.0
    defaults = [TOLERANCES.get(d or "", (0.0, 0.0)) for d in (expected_dtype, actual_dtype)]
    rtol = max(d[0] for d in defaults)
    atol = max(d[1] for d in defaults)
    return (spec.rtol if spec.rtol is not None else rtol), (spec.atol if spec.atol is not None else atol)


@dataclass
class _Ctx:
    exercise: Exercise
    inputs: Sequence[ArgIn]
    facts: CaseOut | None
    visible: bool
    checks: list[Check] = field(default_factory=list)
    diagnoses: list[Diagnosis] = field(default_factory=list)
    failed: bool = False
    operations: bool = True  # may run the (costlier) operation search of diagnose_ops
    searched: bool = False
    on_gpu: bool = False  # the trusted engine ran this case on CUDA (never the child's own claim)

    def add(self, name: str, passed: bool, msg: m.Msg, code: DiagnosisCode | None = None,
            details: dict | None = None) -> None:
        self.checks.append(m.check(name, passed, msg))
        if not passed:
            self.failed = True
            if code is not None:
                self.diagnose(code, msg, details)

    def diagnose(self, code: DiagnosisCode, msg: m.Msg, details: dict | None = None) -> None:
        self.diagnoses.append(m.diagnosis(self.exercise, code, msg, details))


def _type_name(v: Value) -> str:
    if v.kind in ARRAY_KINDS:
        return "torch.Tensor" if v.kind == "tensor" else "numpy.ndarray"
    return "None" if v.kind == "none" else (v.type_name or v.kind)


def compare_case(
    exercise: Exercise, case_inputs: Sequence[ArgIn], expected: Value, actual: Value,
    facts: CaseOut | None, *, visible: bool = True, operations: bool = True, on_gpu: bool = False,
) -> CaseVerdict:
    """Pure: judge ``actual`` against the reference's ``expected`` for one case.

    ``visible=False`` (hidden cases) keeps shapes, dtypes and counts in messages but never values or indices.
    ``on_gpu``: the case ran with device="cuda" (the engine's ``<case>@cuda`` cases).
    """
    ctx = _Ctx(exercise, case_inputs, facts, visible, operations=operations, on_gpu=on_gpu)
    _compare(ctx, "out", expected, actual)
    spec = exercise.check
    # On CUDA the function got a GPU copy of each input: the shared file cannot show an in-place change
    # there, so only the CPU cases (always run beside them) judge input_unchanged.
    if spec.input_unchanged and facts is not None and not on_gpu:
        changed = sorted(name for name, same in facts.inputs_unchanged.items() if not same)
        subject = {"en": "Input", "ja": "入力"}
        if changed:
            names = ", ".join(f"`{n}`" for n in changed)
            msg = m.line(subject, {"en": f"modified in place ({', '.join(changed)})",
                                   "ja": f"関数の中で {names} が書き換えられました"},
                         m.both("the input left unchanged", ""), m.both("an in-place change", ""),
                         ja="入力は変えずに、新しいテンソルを返しましょう。")
            ctx.add("input_unchanged", False, msg, "input_mutated", {"inputs": changed})
        else:
            ctx.add("input_unchanged", True, {"en": "Input: ok, left unchanged", "ja": "入力: OK、変更されていません"})
    return CaseVerdict(passed=not ctx.failed, checks=ctx.checks, diagnoses=ctx.diagnoses, searched=ctx.searched)


def _compare(ctx: _Ctx, path: str, exp: Value, act: Value) -> None:
    same_family = exp.kind == act.kind or (exp.kind in SEQUENCE_KINDS and act.kind in SEQUENCE_KINDS)
    if not same_family:
        msg = m.line(m.what(path, "type"), {"en": "wrong type", "ja": "型が違います"},
                     _type_name(exp), _type_name(act))
        ctx.add("type", False, msg, "wrong_type", {"path": path, "expected": _type_name(exp), "got": _type_name(act)})
        return
    if exp.kind in ARRAY_KINDS:
        _compare_arrays(ctx, path, exp, act)
    elif exp.kind in SEQUENCE_KINDS:
        if len(exp.items) != len(act.items):
            msg = m.line(m.what(path, "length"), {"en": "wrong number of items", "ja": "要素の数が違います"},
                         m.both(str(len(exp.items)), f"{len(exp.items)} 個"), m.both(str(len(act.items)), f"{len(act.items)} 個"))
            ctx.add("length", False, msg, "shape_mismatch",
                    {"path": path, "expected": len(exp.items), "got": len(act.items)})
            return
        before = ctx.failed
        ctx.failed = False
        for i, (e, a) in enumerate(zip(exp.items, act.items, strict=True)):
            _compare(ctx, f"{path}[{i}]", e, a)
        if ctx.failed:
            _explain_stacked(ctx, exp.items, act.items)
        ctx.failed = ctx.failed or before
    else:
        _compare_scalars(ctx, path, exp, act)


def _compare_scalars(ctx: _Ctx, path: str, exp: Value, act: Value) -> None:
    if exp.kind == "other":
        # The sandbox sends no contents for other types, so equality cannot be judged: never pass blindly.
        same_type = exp.type_name == act.type_name
        msg = m.line(m.what(path, "type"), {"en": "a value of this type cannot be graded",
                                            "ja": "この型の値は採点できません"}, exp.type_name, act.type_name)
        ctx.add("type", False, msg, "wrong_answer" if same_type else "wrong_type",
                {"path": path, "expected": exp.type_name, "got": act.type_name})
        return
    if exp.kind in ("float", "complex") and ctx.exercise.check.values == "close":
        rtol, atol = tolerance(ctx.exercise.check, "float64", "float64")
        good = bool(close_mask(np.asarray(exp.scalar), np.asarray(act.scalar), rtol, atol).all())
    elif exp.kind == "float":
        good = bool(close_mask(np.asarray(exp.scalar), np.asarray(act.scalar), 0.0, 0.0).all())
    else:
        good = exp.scalar == act.scalar
    if good:
        ctx.add("value", True, m.ok(path, "value"))
        return
    shown = (repr(exp.scalar), repr(act.scalar)) if ctx.visible else (None, None)
    msg = m.line(m.what(path, "value"), {"en": "wrong answer", "ja": "答えが違います"}, *shown)
    ctx.add("value", False, msg, "wrong_answer", {"path": path} | (
        {"expected": exp.scalar, "got": act.scalar} if ctx.visible else {}))


def _compare_arrays(ctx: _Ctx, path: str, exp: Value, act: Value) -> None:
    spec = ctx.exercise.check
    assert exp.array is not None and act.array is not None
    e_arr, a_arr = exp.array, act.array
    if e_arr.shape != a_arr.shape:
        # Strict: never broadcast. (3,) vs (1, 3) is a wrong answer, however close the numbers are.
        msg = m.line(m.what(path, "shape"), {"en": "wrong shape", "ja": "形状が違います"},
                     m.fmt_shape(e_arr.shape), m.fmt_shape(a_arr.shape))
        ctx.add("shape", False, msg, "shape_mismatch",
                {"path": path, "expected": list(e_arr.shape), "got": list(a_arr.shape)})
        _explain(ctx, e_arr, a_arr)
        return
    ctx.add("shape", True, m.ok(path, "shape", m.fmt_shape(e_arr.shape)))
    if spec.dtype:
        good = exp.dtype == act.dtype
        msg = m.ok(path, "dtype", str(exp.dtype)) if good else m.line(
            m.what(path, "dtype"), {"en": "wrong dtype", "ja": "dtype が違います"}, str(exp.dtype), str(act.dtype))
        ctx.add("dtype", good, msg, "dtype_mismatch", {"path": path, "expected": exp.dtype, "got": act.dtype})
    if spec.device:
        good = (exp.device or "cpu") == (act.device or "cpu")
        msg = m.ok(path, "device", str(exp.device or "cpu")) if good else m.line(
            m.what(path, "device"), {"en": "wrong device", "ja": "デバイスが違います"},
            str(exp.device), str(act.device))
        ctx.add("device", good, msg, "device_mismatch", {"path": path, "expected": exp.device, "got": act.device})
    rtol, atol = tolerance(spec, exp.dtype, act.dtype)
    mask = close_mask(e_arr, a_arr, rtol, atol)
    if bool(mask.all()):
        ctx.add("values", True, m.ok(path, "values"))
    else:
        details = mismatch_details(e_arr, a_arr, mask, ctx.visible) | {"path": path, "rtol": rtol, "atol": atol}
        where_en = where_ja = ""
        if ctx.visible and details.get("first"):
            first = [(m.fmt_shape(f["index"]), *_shown_pair(f["expected"], f["got"])) for f in details["first"]]
            where_en = "; " + "; ".join(f"at {i}: expected {e}, got {g}" for i, e, g in first)
            where_ja = "。" + "、".join(f"{i} の位置は {e} のはずが {g}" for i, e, g in first) + " になっています"
        n, total = details["mismatched"], details["total"]
        msg = m.line(m.what(path, "values"),
                     {"en": f"{n} of {total} elements differ{where_en}",
                      "ja": f"{total} 個中 {n} 個の要素が違います{where_ja}"})
        ctx.add("values", False, msg, "value_mismatch", details)
        _explain(ctx, e_arr, a_arr)
    _structure(ctx, path, act)


def _shown_pair(expected: Any, got: Any) -> tuple[str, str]:
    """Floats with 7 significant digits, or all 17 when 7 would make two different numbers look equal."""
    for digits in (7, 17):
        pair = tuple(f"{v:.{digits}g}" if isinstance(v, float) else str(v) for v in (expected, got))
        if pair[0] != pair[1]:
            break
    return pair[0], pair[1]


def _explain(ctx: _Ctx, expected: np.ndarray, actual: np.ndarray) -> None:
    """Add the specific mistake (axis order, reshape vs permute, heads...) against the first input it fits."""
    warnings = ctx.facts.warnings if ctx.facts is not None else []
    for arg in ctx.inputs:
        if arg.array is None or arg.array.size != actual.size:
            continue
        finding = rearrangement_finding(arg.array, expected, actual, warnings)
        if finding is not None:
            extra: dict = {"input": arg.name}
            moved = moved_axes(arg.array, expected)
            if moved is not None:
                extra["moved_axes"] = moved
            traced = trace(arg.array, expected, actual) if ctx.visible else None  # hidden cases: no positions
            if traced is not None:
                extra["trace"] = traced
            finding = Finding(finding.code, finding.details | extra)
        if (finding is not None and finding.code == "wrong_axis_order" and ctx.exercise.check.channels_last
                and finding.details["expected"] == sorted(finding.details["expected"])):
            # Asked for channels_last memory, got an NHWC permute: the classic confusion of layout and shape.
            finding = Finding("not_channels_last", {"applied": finding.details["applied"], "permuted": True,
                                                    "input": arg.name})
        if finding is not None:
            ctx.diagnose(finding.code, finding_message(finding.code, finding.details), dict(finding.details))
            return
    if ctx.operations and not ctx.searched:
        ctx.searched = True
        arrays = [(arg.name, arg.array) for arg in ctx.inputs if arg.array is not None]
        op = operation_finding(arrays, expected, actual)
        if op is not None:
            ctx.diagnose(op.code, operation_message(op.code, op.details), op.details)
            return
    _trace_plain(ctx, expected, actual)


def _trace_plain(ctx: _Ctx, expected: np.ndarray, actual: np.ndarray) -> None:
    """No named mistake, but the values are the input's, moved: say where one of them went (visible cases
    only). "Values differ" alone teaches nothing; "`out[0, 1]` holds `x[1, 0]`" is the picture in words."""
    last = ctx.diagnoses[-1] if ctx.diagnoses else None
    if not ctx.visible or last is None or last.code not in ("value_mismatch", "shape_mismatch"):
        return
    for arg in ctx.inputs:
        if arg.array is None or arg.array.size != actual.size:
            continue
        traced = trace(arg.array, expected, actual)
        if traced is not None:
            sentence = trace_sentence({"trace": traced, "input": arg.name})
            if sentence is not None:
                last.details["trace"] = traced
                last.details["input"] = arg.name
                en, ja = last.messages["en"], last.messages["ja"]
                last.messages = {"en": en + ("" if en.endswith(".") else ".") + " " + sentence["en"],
                                 "ja": ja + ("" if ja.endswith("。") else "。") + sentence["ja"]}
                last.message = last.messages["en"]
            return


def _explain_stacked(ctx: _Ctx, expected: list[Value], actual: list[Value]) -> None:
    """q, k, v = ...: explain the pieces together, as one stacked array (e.g. (3, B, H, T, D) from (B, T, 3C))."""
    stacks = []
    for values in (expected, actual):
        arrays = [v.array for v in values if v.kind in ARRAY_KINDS and v.array is not None]
        if len(arrays) != len(values) or len({a.shape for a in arrays}) != 1:
            return
        stacks.append(np.stack(arrays))
    _explain(ctx, stacks[0], stacks[1])


def _structure(ctx: _Ctx, path: str, act: Value) -> None:
    spec = ctx.exercise.check
    # A CUDA output lives in GPU memory the trusted side never sees, so whether it shares the (GPU copy of
    # the) input cannot be verified there: the CPU cases of the same grading judge view_of_input. The flag
    # comes from the engine, not from the value's device, which the child reports and could forge.
    if spec.view_of_input and not ctx.on_gpu:
        good = bool(act.shares_input)
        msg = m.ok(path, "view_of_input", m.both("(a view of the input)", "(入力のビュー)")) if good else m.line(
            m.what(path, "view_of_input"),
            {"en": "not a view, it is a copy", "ja": "ビューではなくコピーになっています"},
            m.both("a view sharing the input's memory", ""), m.both("a new copy", ""),
            ja="入力とメモリを共有するビューを返しましょう。")
        ctx.add("view_of_input", good, msg, "not_a_view", {"path": path})
    if spec.contiguous is not None:
        _layout(ctx, path, "contiguous", act.contiguous, spec.contiguous,
                "contiguous" if spec.contiguous else "non-contiguous", "not_contiguous", act)
    if spec.channels_last is not None:
        _layout(ctx, path, "channels_last", act.channels_last, spec.channels_last,
                "channels_last" if spec.channels_last else "contiguous (not channels_last)", "not_channels_last", act)


def _layout(ctx: _Ctx, path: str, name: str, got: bool | None, want: bool, label: str, code: DiagnosisCode,
            act: Value) -> None:
    """A memory-layout flag the exercise asks for (contiguous / channels_last), reported with the strides."""
    good = got is want
    label_ja = _LABELS_JA.get(label, label)
    msg = m.ok(path, name, m.both(f"({label})", f"({label_ja})")) if good else m.line(
        m.what(path, name), {"en": f"not {label}", "ja": f"{label_ja}ではありません"}, label, _strides(act),
        ja=f"ストライドは {m.fmt_shape(act.strides)} です。")
    ctx.add(name, good, msg, code, {"path": path, "expected": want, "strides": list(act.strides or ())})


_LABELS_JA = {"contiguous": "連続(contiguous)", "non-contiguous": "連続でない並び",
              "channels_last": "channels_last", "contiguous (not channels_last)": "連続(channels_last ではない)"}


def _strides(act: Value) -> m.Msg:
    shown = m.fmt_shape(act.strides)
    return m.both(f"strides {shown}", f"ストライド {shown}")

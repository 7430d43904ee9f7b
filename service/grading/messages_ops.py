"""Bilingual messages for the operation diagnoses of diagnose_ops.py (reductions, keepdim, broadcasting...)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service.grading.messages import Msg, fmt_perm, fmt_shape, line

RESULT = {"en": "Result", "ja": "結果"}


def _axes(axes: list[int]) -> str:
    return str(axes[0]) if len(axes) == 1 else fmt_perm(axes)


def operation_message(code: str, details: Mapping[str, Any]) -> Msg:
    """The message for one operation finding, in the grammar "<what>: <problem>, expected X, got Y"."""
    if code == "missing_keepdim" and details.get("form", "r") != "r":
        op, name, axes = details["op"], details.get("input", "x"), _axes(details["axes"])
        return line(RESULT,
                    {"en": f"the {op} lost its reduced axis, so broadcasting lined it up with the wrong axis of {name}",
                     "ja": f"{op} で集約した軸が消えたため、ブロードキャストで {name} の違う軸と組み合わされています"},
                    f"{name}.{op}(axis={axes}, keepdims=True)", f"{name}.{op}(axis={axes})")
    if code == "missing_keepdim":
        return line({"en": "Result shape", "ja": "結果の形状"},
                    {"en": "the reduced axis was dropped; keep it with keepdim=True (torch) or keepdims=True (NumPy)",
                     "ja": "集約した軸が消えています。torch では keepdim=True、NumPy では keepdims=True で残せます"},
                    fmt_shape(details["expected_shape"]), fmt_shape(details["got_shape"]))
    if code == "wrong_broadcast_axes":
        problem = ({"en": "the size-1 axis is in the wrong place, so broadcasting lines up the wrong axes",
                    "ja": "大きさ 1 の軸の位置が違うため、ブロードキャストで違う軸どうしが組み合わされています"})
        return line({"en": "Result axes", "ja": "結果の軸"}, problem,
                    fmt_shape(details["expected_shape"]), fmt_shape(details["got_shape"]))
    if code == "wrong_reduction_axes":
        op, form = details["op"], details.get("form", "r")

        def call(src: str, axes: list[int]) -> str:
            reduced = f"{src}.{op}(axis={_axes(axes)}{'' if form == 'r' else ', keepdims=True'})"
            return reduced if form == "r" else f"{details.get('input', 'x')} {form[2]} {reduced}"

        return line(RESULT,
                    {"en": f"the {op} was taken over the wrong axes",
                     "ja": f"{op} を計算する軸が違います"},
                    call(details.get("expected_source", "x"), details["expected_axes"]),
                    call(details.get("source", "x"), details["applied_axes"]))
    if code == "wrong_contraction":
        return line(RESULT,
                    {"en": "summed over the wrong index (check which axes of the two inputs are multiplied together)",
                     "ja": "和をとる添字が違います。2 つの入力のどの軸どうしを掛け合わせるかを確かめましょう"},
                    f"einsum('{details['expected']}')", f"einsum('{details['applied']}')")
    if code == "wrong_window":
        exp, got = details["expected"], details["applied"]
        return line({"en": "Result windows", "ja": "結果の窓"},
                    {"en": "the sliding window has the wrong size or step",
                     "ja": "スライディングウィンドウの幅か移動量（ステップ）が違います"},
                    {"en": f"size {exp['size']}, step {exp['step']}", "ja": f"幅 {exp['size']}、ステップ {exp['step']}"},
                    {"en": f"size {got['size']}, step {got['step']}", "ja": f"幅 {got['size']}、ステップ {got['step']}"})
    raise KeyError(code)

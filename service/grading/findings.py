"""Messages for the tensor-mistake codes found by diagnose.py, one rung per stage of the hint ladder.

Stage 1 names the kind of mistake and traces one value; stage 2 adds which seats (axes) are wrong; stage 3
adds the call that gives the answer. Nothing below stage 3 names the expected call or permutation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from service.grading.messages import Msg, fmt_perm

FINDING_CODES = ("wrong_axis_order", "transpose_all_axes", "reshape_instead_of_permute", "heads_split_wrong",
                 "not_channels_last")
# Finding details that give the answer away: kept out of every response below stage 3.
ANSWER_DETAILS = ("expected", "expected_call")
CHANNELS_LAST_CALL = "x.contiguous(memory_format=torch.channels_last)"


def _idx(name: str, index: Sequence[int]) -> str:
    return f"`{name}[{', '.join(str(int(i)) for i in index)}]`"


def trace_sentence(details: Mapping[str, Any]) -> Msg | None:
    """ "`out[0, 1]` holds `x[1, 0]`; it should hold `x[0, 1]`." (visible cases only carry a trace)."""
    t = details.get("trace")
    if not t:
        return None
    x = str(details.get("input") or "x")
    if t["kind"] == "holds":
        at, got, want = _idx("out", t["at"]), _idx(x, t["got"]), _idx(x, t["want"])
        return {"en": f"{at} holds {got}; it should hold {want}.",
                "ja": f"{at} には {got} が入っています。入るべきなのは {want} です。"}
    value, at, want = _idx(x, t["value"]), _idx("out", t["at"]), _idx("out", t["want"])
    return {"en": f"{value} landed at {at}; it belongs at {want}.",
            "ja": f"{value} が {at} に来ています。正しい位置は {want} です。"}


def _and(items: Sequence[str], lang: str) -> str:
    if lang == "ja":
        return "と".join(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def seats_sentence(applied: Sequence[int], expected: Sequence[int]) -> Msg | None:
    """Which seats hold the wrong axis, and what sits there now (never what belongs there)."""
    wrong = [i for i, (a, e) in enumerate(zip(applied, expected, strict=False)) if a != e]
    if not wrong or len(applied) != len(expected):
        return None
    seats_en = _and([str(i) for i in wrong], "en")
    now_en = _and([f"axis {applied[i]} in seat {i}" for i in wrong], "en")
    seats_ja = _and([f"席{i}" for i in wrong], "ja")
    now_ja = "、".join(f"席{i}に入力の軸{applied[i]}" for i in wrong)
    plural = "s" if len(wrong) > 1 else ""
    return {"en": f"Seat{plural} {seats_en} of the result hold{'' if plural else 's'} the wrong {'axes' if plural else 'axis'} "
                  f"(now the input's {now_en})" + ("; the other seats are right." if len(wrong) < len(applied) else "."),
            "ja": f"結果の{seats_ja}に座っている軸が違います(今は{now_ja}が座っています)。"
                  + ("ほかの席は合っています。" if len(wrong) < len(applied) else "")}


def _moved_sentence(axes: Sequence[int] | None) -> Msg | None:
    if not axes:
        return None
    return {"en": f"Here the input's axes {_and([str(a) for a in axes], 'en')} must change seats.",
            "ja": f"ここでは入力の{_and([f'軸{a}' for a in axes], 'ja')}が席を移る必要があります。"}


def _call_sentence(applied: str | None, expected: str | None) -> Msg | None:
    if not expected:
        return None
    if applied:
        return {"en": f"Your result equals `{applied}`; the exercise asks for `{expected}`.",
                "ja": f"あなたの結果は `{applied}` と同じです。求められているのは `{expected}` です。"}
    return {"en": f"The exercise asks for `{expected}`.", "ja": f"求められているのは `{expected}` です。"}


def _join(*parts: Msg | None) -> Msg:
    kept = [p for p in parts if p]
    return {"en": " ".join(p["en"] for p in kept), "ja": "".join(p["ja"] for p in kept)}


def _perm_call(details: Mapping[str, Any], key: str) -> str | None:
    perm = details.get(key)
    return None if perm is None else f"{details.get('input') or 'x'}.permute{fmt_perm(perm)}"


def finding_message(code: str, details: Mapping[str, Any], stage: int = 3) -> Msg:
    """The learner-facing message for a finding at ``stage`` (1: what and where, 2: which axes, 3: the call)."""
    trace = trace_sentence(details)
    if code in ("wrong_axis_order", "transpose_all_axes"):
        applied = list(details["applied"])
        if code == "transpose_all_axes":
            warned = details.get("warning_seen", False)
            head = {"en": f"Result axes: all {details['ndim']} axes came out reversed, as `.T` does"
                          + (" (PyTorch also warned that `.T` on tensors that are not 2-D is deprecated)." if warned else "."),
                    "ja": f"結果の軸の順番: `.T` と同じように、{details['ndim']}つの軸がすべて逆順になっています。"
                          + ("(PyTorch も、2次元以外のテンソルへの `.T` は非推奨だと警告しています。)" if warned else "")}
        elif applied == sorted(applied):
            head = {"en": "Result axes: the axes are still in the input's order; none of them moved.",
                    "ja": "結果の軸の順番: 軸が入力の順番のままで、どの軸も動いていません。"}
        else:
            head = {"en": "Result axes: the axes are in another order than the exercise asks for.",
                    "ja": "結果の軸の順番: 軸の並びが求められている順番と違います。"}
        seats = seats_sentence(applied, details["expected"]) if stage >= 2 and details.get("expected") else None
        call = _call_sentence(_perm_call(details, "applied"), _perm_call(details, "expected")) if stage >= 3 else None
        return _join(head, trace, seats, call)
    if code == "reshape_instead_of_permute":
        head = {"en": "Result: the values are still in the input's reading order. reshape/view only change the shape "
                      "and never move values; permute/transpose move axes.",
                "ja": "結果: 値が入力を読む順(メモリ上の並び)のまま並んでいます。reshape/view は形状を変えるだけで、"
                      "値は動かしません。軸そのものを動かすのは permute/transpose です。"}
        moved = _moved_sentence(details.get("moved_axes")) if stage >= 2 else None
        call = _call_sentence(details.get("applied_call"), details.get("expected_call")) if stage >= 3 else None
        return _join(head, trace, moved, call)
    if code == "heads_split_wrong":
        if details.get("direction", "split") == "split":
            head = {"en": "Result: the axis was split in the wrong order. A reshape alone never moves an axis: split it, "
                          "then move the new axis with permute/transpose.",
                    "ja": "結果: 軸の分割の順番が違います。reshape だけでは軸は移動しません。分割してから、"
                          "新しい軸を permute/transpose で移動させましょう。"}
        else:
            head = {"en": "Result: the axes were merged in the wrong order. Move the axes to merge next to each other "
                          "with permute/transpose first, then reshape.",
                    "ja": "結果: 軸の結合の順番が違います。結合する軸を先に permute/transpose で隣り合わせに並べてから、"
                          "reshape しましょう。"}
        yours = None
        if stage == 2 and details.get("applied_call"):
            yours = {"en": f"Your result equals `{details['applied_call']}`.",
                     "ja": f"あなたの結果は `{details['applied_call']}` と同じです。"}
        call = _call_sentence(details.get("applied_call"), details.get("expected_call")) if stage >= 3 else None
        return _join(head, trace, yours, call)
    if code == "not_channels_last":
        head = {"en": "Result memory format: channels_last keeps the shape (N, C, H, W) and changes only the strides; "
                      "your result moved the axes instead.",
                "ja": "結果のメモリ形式: channels_last は形状 (N, C, H, W) をそのままにして、ストライドだけを変えます。"
                      "あなたの結果は軸そのものを動かしています。"}
        call = ({"en": f"The exercise asks for `{CHANNELS_LAST_CALL}`.",
                 "ja": f"求められているのは `{CHANNELS_LAST_CALL}` です。"} if stage >= 3 else None)
        return _join(head, call)
    raise KeyError(code)

"""Bilingual learner messages with one grammar: "<what>: <problem>, expected X, got Y" (and its Japanese twin)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from service.domain import Exercise
from service.results import Check, Diagnosis, DiagnosisCode

Msg = dict[str, str]  # {"en": ..., "ja": ...}

# What each check looks at, in both languages; a nested path ("out[1]") is inserted after "Result".
ASPECTS: dict[str, tuple[str, str]] = {
    "type": ("type", "型"),
    "shape": ("shape", "形状"),
    "length": ("length", "要素数"),
    "dtype": ("dtype", "dtype"),
    "device": ("device", "デバイス"),
    "values": ("values", "値"),
    "value": ("value", "値"),
    "view_of_input": ("storage", "メモリ共有"),
    "contiguous": ("memory layout", "メモリ配置"),
    "channels_last": ("memory format", "メモリフォーマット"),
}


def what(path: str, aspect: str) -> Msg:
    en, ja = ASPECTS[aspect]
    if path == "out":
        return {"en": f"Result {en}", "ja": f"結果の{ja}"}
    return {"en": f"Result {path} {en}", "ja": f"結果 {path} の{ja}"}


def fmt_shape(shape: Sequence[int] | None) -> str:
    if shape is None:
        return "?"
    return "(" + ", ".join(str(int(n)) for n in shape) + ("," if len(shape) == 1 else "") + ")"


def _pick(v: str | Msg, lang: str) -> str:
    return v if isinstance(v, str) else v[lang]


def line(subject: Msg, problem: Msg, expected: str | Msg | None = None, got: str | Msg | None = None) -> Msg:
    """Build one message in the fixed grammar; ``expected``/``got`` are code-like strings or bilingual phrases."""
    en = f"{subject['en']}: {problem['en']}"
    ja = f"{subject['ja']}: {problem['ja']}"
    if expected is not None and got is not None:
        en += f", expected {_pick(expected, 'en')}, got {_pick(got, 'en')}"
        ja += f"（期待: {_pick(expected, 'ja')}、あなたの結果: {_pick(got, 'ja')}）"
    elif expected is not None:
        en += f", expected {_pick(expected, 'en')}"
        ja += f"（期待: {_pick(expected, 'ja')}）"
    return {"en": en, "ja": ja}


def both(en: str, ja: str) -> Msg:
    return {"en": en, "ja": ja}


def ok(path: str, aspect: str, shown: str | Msg = "") -> Msg:
    subject = what(path, aspect)
    en, ja = _pick(shown, "en"), _pick(shown, "ja")
    return {"en": f"{subject['en']}: ok" + (f" {en}" if en else ""),
            "ja": f"{subject['ja']}: OK" + (f" {ja}" if ja else "")}


def check(name: str, passed: bool, msg: Msg) -> Check:
    return Check(name=name, passed=passed, message=msg["en"], messages=dict(msg))


def diagnosis(
    exercise: Exercise | None, code: DiagnosisCode, msg: Msg, details: Mapping[str, Any] | None = None,
    case: str | None = None,
) -> Diagnosis:
    """A Diagnosis with the exercise's hint for ``code`` attached (hints are keyed by diagnosis code)."""
    hint = None
    if exercise is not None:
        text = exercise.hints.get(code)
        if text is not None:
            hint = text.to_dict()
    return Diagnosis(code=code, message=msg["en"], details=dict(details or {}), messages=dict(msg),
                     hint=hint, case=case)


def fmt_perm(perm: Sequence[int]) -> str:
    return fmt_shape(tuple(perm))


# ---- messages for the specific tensor-mistake codes found by diagnose.py ----------------------------------

def finding_message(code: str, details: Mapping[str, Any]) -> Msg:
    subject = {"en": "Result", "ja": "結果"}
    if code == "wrong_axis_order":
        got, exp = fmt_perm(details["applied"]), fmt_perm(details["expected"])
        return {
            "en": f"Result axes: your axes are in the order {got}, not {exp}, expected permute{exp}, got permute{got}",
            "ja": f"結果の軸の順番: あなたの軸の並びは {got} で、{exp} ではありません"
                  f"（期待: permute{exp}、あなたの結果: permute{got}）",
        }
    if code == "transpose_all_axes":
        exp = fmt_perm(details["expected"]) if details.get("expected") else "a partial permute"
        warned = details.get("warning_seen", False)
        extra_en = " (PyTorch also warned that .T on non-2-D tensors is deprecated)" if warned else ""
        extra_ja = "（PyTorch も N 次元テンソルへの .T は非推奨と警告しています）" if warned else ""
        return {
            "en": f"Result axes: all {details['ndim']} axes were reversed (like .T){extra_en}, "
                  f"expected permute{exp}, got permute{fmt_perm(details['applied'])}",
            "ja": f"結果の軸の順番: .T のように {details['ndim']} 個の軸がすべて逆順になっています{extra_ja}"
                  f"（期待: permute{exp}、あなたの結果: permute{fmt_perm(details['applied'])}）",
        }
    if code == "reshape_instead_of_permute":
        return line(
            subject,
            {"en": "the values are still in the input's memory order (reshape/view only relabels the shape; "
                   "permute/transpose moves the axes)",
             "ja": "値が入力のメモリ上の順番のまま並んでいます。reshape/view は形を付け替えるだけで、"
                   "軸を入れ替えるのは permute/transpose です"},
            details.get("expected_call"), details.get("applied_call"),
        )
    if code == "heads_split_wrong":
        direction = details.get("direction", "split")
        problem = (
            {"en": "the axis was split in the wrong order (reshape alone never moves an axis: split it, "
                   "then move the new axis with permute/transpose)",
             "ja": "軸の分割の順番が違います。reshape だけでは軸は移動しません。分割してから permute/transpose "
                   "で新しい軸を移動させましょう"}
            if direction == "split" else
            {"en": "the axes were merged in the wrong order (move the axes to merge next to each other with "
                   "permute/transpose first, then reshape)",
             "ja": "軸の結合の順番が違います。結合する軸を先に permute/transpose で隣どうしに並べてから "
                   "reshape しましょう"}
        )
        return line(subject, problem, details.get("expected_call"), details.get("applied_call"))
    if code == "not_channels_last":
        got = fmt_perm(details["applied"])
        return {
            "en": f"Result memory format: channels_last keeps the shape (N, C, H, W) and only changes the strides, "
                  f"expected x.contiguous(memory_format=torch.channels_last), got permute{got}",
            "ja": f"結果のメモリフォーマット: channels_last は形状 (N, C, H, W) はそのままでストライドだけを変えます"
                  f"（期待: x.contiguous(memory_format=torch.channels_last)、あなたの結果: permute{got}）",
        }
    raise KeyError(code)

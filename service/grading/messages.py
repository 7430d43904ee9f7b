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
    "contiguous": ("memory layout", "メモリの並び"),
    "channels_last": ("memory format", "メモリ形式"),
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


def line(subject: Msg, problem: Msg, expected: str | Msg | None = None, got: str | Msg | None = None,
         ja: str | None = None) -> Msg:
    """Build one message: English "<what>: <problem>, expected X, got Y"; Japanese as sentences
    (「正しくは X ですが、Y になっています。」), or ``ja`` when the pair does not read well as that sentence."""
    en = f"{subject['en']}: {problem['en']}"
    head = f"{subject['ja']}: {_sentence(problem['ja'])}"
    if expected is not None and got is not None:
        en += f", expected {_pick(expected, 'en')}, got {_pick(got, 'en')}"
    elif expected is not None:
        en += f", expected {_pick(expected, 'en')}"
    if ja is not None:
        return {"en": en, "ja": head + ja}
    if expected is not None and got is not None:
        head += f"正しくは {_pick(expected, 'ja')} ですが、{_pick(got, 'ja')} になっています。"
    elif expected is not None:
        head += f"正しくは {_pick(expected, 'ja')} です。"
    return {"en": en, "ja": head}


def _sentence(text: str) -> str:
    """End a Japanese clause with 「。」 (once): messages are whole sentences, never bare noun fragments."""
    return text if text.endswith(("。", "？", "！", "?", "!")) else text + "。"


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



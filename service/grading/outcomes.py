"""Explain what happened when the learner's code did not return normally: run-level and per-case failures."""

from __future__ import annotations

import re
from typing import Any

from service.domain import Exercise
from service.grading import messages as m
from service.results import Diagnosis, DiagnosisCode
from service.sandbox.protocol import RawRun

CODE = {"en": "Your code", "ja": "コード"}

# Run statuses that mean the learner's code itself failed (each is also a diagnosis code).
RUN_FAILURES: tuple[DiagnosisCode, ...] = ("syntax_error", "missing_function", "runtime_error", "timeout", "memory_limit",
                "output_limit", "sandbox_violation", "crashed")

# Well-known runtime errors worth a pointer beyond the raw exception text.
ERROR_HINTS: tuple[tuple[str, dict[str, str]], ...] = (
    ("view size is not compatible", {
        "en": "view() needs memory laid out in order: use .reshape(...), or call .contiguous() first",
        "ja": "view() はメモリが順番に並んでいる必要があります。.reshape(...) を使うか、先に .contiguous() を呼んでください"}),
    ("number of dims don't match in permute", {
        "en": "permute() needs one index for every axis",
        "ja": "permute() にはすべての軸の番号を 1 つずつ渡します"}),
    ("could not be broadcast together", {
        "en": "the shapes do not line up for broadcasting: a reduced axis may need keepdims=True, or a new axis (None)",
        "ja": "ブロードキャストで形状が合いません。集約した軸を keepdims=True で残すか、None で新しい軸を足す必要があるかもしれません"}),
    ("must match the size of tensor b", {
        "en": "the shapes do not line up for broadcasting: a reduced axis may need keepdim=True, or a new axis (None)",
        "ja": "ブロードキャストで形状が合いません。集約した軸を keepdim=True で残すか、None で新しい軸を足す必要があるかもしれません"}),
    ("repeated dim in permute", {
        "en": "each axis may appear only once in permute()",
        "ja": "permute() では同じ軸を 2 回使えません"}),
)


def _error_text(error: dict[str, Any] | None) -> tuple[str, str, int | None]:
    error = error or {}
    line = error.get("line") or error.get("lineno")
    if not line:
        # Case errors carry no line number of their own: take the learner's innermost frame in the traceback.
        frames = re.findall(r"line (\d+)", str(error.get("traceback") or ""))
        line = frames[-1] if frames else None
    return str(error.get("type") or "Error"), str(error.get("message") or ""), int(line) if line else None


def run_failure(exercise: Exercise, run: RawRun) -> Diagnosis:
    """One diagnosis for a run that never reached the cases (or stopped part-way)."""
    status = run.status
    etype, emsg, line = _error_text(run.error)
    detail = run.detail
    at_en = f" on line {line}" if line else ""
    at_ja = f"{line} 行目に" if line else ""
    msg: m.Msg
    if status == "syntax_error":
        msg = {"en": f"Your code: syntax error{at_en}, {emsg or detail}",
               "ja": f"コード: {at_ja}構文エラーがあります（{emsg or detail}）"}
    elif status == "missing_function":
        msg = m.line(CODE, {"en": f"no function named `{exercise.entry}`",
                            "ja": f"関数 `{exercise.entry}` が見つかりません"},
                     f"def {exercise.entry}(...)", m.both("no such function", "その関数はありません"))
    elif status == "runtime_error":
        msg = {"en": f"Your code: raised {etype} while loading{at_en}: {emsg}",
               "ja": f"コード: 読み込み中に{at_ja} {etype} が発生しました: {emsg}"}
    elif status == "timeout":
        msg = m.line(CODE, {"en": "ran too long and was stopped (an endless loop?)",
                            "ja": "実行時間が長すぎるため停止しました。無限ループになっていませんか？"},
                     m.both(f"under {exercise.limits.time_s:g} s", f"{exercise.limits.time_s:g} 秒以内"),
                     m.both("stopped at the time limit", "制限時間で停止"))
    elif status == "memory_limit":
        msg = m.line(CODE, {"en": "used too much memory and was stopped",
                            "ja": "メモリを使いすぎたため停止しました"},
                     m.both(f"under {exercise.limits.memory_mb} MB", f"{exercise.limits.memory_mb} MB 以内"),
                     m.both("stopped at the memory limit", "メモリ上限で停止"))
    elif status == "output_limit":
        msg = m.line(CODE, {"en": "printed or returned too much output and was stopped",
                            "ja": "出力（print や戻り値）が大きすぎるため停止しました"},
                     m.both("a small output", "小さな出力"), m.both("stopped at the output limit", "出力上限で停止"))
    elif status == "sandbox_violation":
        why = f" ({detail})" if detail else ""
        msg = m.line(CODE, {"en": "tried an operation the grader does not allow (such as starting processes, "
                                  f"networking or debugging other processes){why}",
                            "ja": "採点環境で許可されていない操作（プロセスの起動、ネットワーク、他プロセスのデバッグなど）"
                                  f"を行おうとしました{why}"})
    elif status == "crashed":
        msg = m.line(CODE, {"en": f"the Python process stopped before finishing ({detail or 'killed'})",
                            "ja": f"Python のプロセスが最後まで実行されずに終了しました（{detail or 'killed'}）"})
    else:
        msg = {"en": f"Your code: did not finish ({status}: {detail})",
               "ja": f"コード: 最後まで実行できませんでした（{status}: {detail}）"}
    details: dict[str, Any] = {"status": status, "detail": detail}
    if run.error:
        details["error"] = {k: run.error.get(k) for k in ("type", "message", "line", "traceback") if k in run.error}
    code: DiagnosisCode = next((c for c in RUN_FAILURES if c == status), "runtime_error")
    return m.diagnosis(exercise, code, msg, details)


def case_error(exercise: Exercise, error: dict[str, Any] | None, visible: bool) -> tuple[m.Msg, dict[str, Any]]:
    """The message for an exception raised by the entry function on one case (hidden: type only)."""
    etype, emsg, line = _error_text(error)
    extra = next((h for needle, h in ERROR_HINTS if needle in emsg), None)
    if visible:
        at = f" on line {line}" if line else ""
        at_ja = f"（{line} 行目）" if line else ""
        msg = {"en": f"Your function: raised {etype}{at}: {emsg}",
               "ja": f"関数: {etype} が発生しました{at_ja}: {emsg}"}
        details: dict[str, Any] = {"type": etype, "message": emsg, "line": line}
    else:
        # Hidden cases: the exception text can quote values (index 7 is out of bounds...), so only the type.
        msg = {"en": f"Your function: raised {etype} (details hidden for this case)",
               "ja": f"関数: {etype} が発生しました（このケースの詳細は非公開です）"}
        details = {"type": etype}
    if extra is not None:
        msg = {"en": f"{msg['en']}; {extra['en']}", "ja": f"{msg['ja']}。{extra['ja']}"}
    return msg, details

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
# Needles match torch 2.13's texts (older wordings kept: the grader may run another torch version).
ERROR_HINTS: tuple[tuple[tuple[str, ...], dict[str, str]], ...] = (
    (("view size is not compatible",), {
        "en": "view() never copies, so it only works when the values already lie in memory in the order you "
              "want to read them (a contiguous tensor): use .reshape(...), or call .contiguous() first.",
        "ja": "view() はコピーをしないので、値が読みたい順にメモリ上で並んでいる(連続な)テンソルにしか使えません。"
              ".reshape(...) を使うか、先に .contiguous() を呼びましょう。"}),
    (("does not match the length of the desired ordering", "number of dims don't match in permute"), {
        "en": "permute() needs exactly one index for every axis of the tensor.",
        "ja": "permute() には、テンソルのすべての軸の番号をちょうど1つずつ渡します。"}),
    (("duplicate dims are not allowed", "repeated dim in permute"), {
        "en": "Each axis may appear only once in permute().",
        "ja": "permute() では、同じ軸を2回使えません。"}),
    (("is invalid for input of size",), {
        "en": "A reshape/view must keep the number of elements: the sizes you ask for multiply to a different total.",
        "ja": "reshape/view では要素の数は変わりません。指定したサイズの積が、元の要素数と違います。"}),
    (("Dimension out of range",), {
        "en": "An axis number is out of range for this tensor: a tensor with n axes has axes 0 … n-1 (or -n … -1).",
        "ja": "軸の番号がこのテンソルの範囲外です。n 個の軸を持つテンソルの軸は 0 … n-1(または -n … -1)です。"}),
    (("could not be broadcast together",), {
        "en": "The shapes do not line up for broadcasting: a reduced axis may need keepdims=True, or a new axis (None).",
        "ja": "ブロードキャストで形状が合いません。集約した軸を keepdims=True で残すか、None で新しい軸を足す必要があるかもしれません。"}),
    (("must match the size of tensor b",), {
        "en": "The shapes do not line up for broadcasting: a reduced axis may need keepdim=True, or a new axis (None).",
        "ja": "ブロードキャストで形状が合いません。集約した軸を keepdim=True で残すか、None で新しい軸を足す必要があるかもしれません。"}),
)
# Hidden cases: the message is never read (it could carry the hidden input, and even a yes/no on its text is an
# oracle), so the explanation depends on the exception type only.
HIDDEN_ERRORS: dict[str, dict[str, str]] = {
    "RuntimeError": {
        "en": "When the visible examples pass, look for what changes with other inputs: sizes written as numbers "
              "instead of read from `x.shape`, or a `view` on a tensor that is not contiguous.",
        "ja": "公開ケースが通るなら、別の入力で変わるところを探しましょう。`x.shape` から読まずに数値で書いた"
              "サイズや、連続でないテンソルへの `view` がよくある原因です。"},
    "IndexError": {
        "en": "An index or axis number that exists for one input may not exist for other sizes or ranks.",
        "ja": "ある入力で存在する添字や軸の番号が、別のサイズや次元数では存在しないことがあります。"},
}
HIDDEN_OTHER = {
    "en": "When the visible examples pass, the code depends on something that differs in the hidden inputs "
          "(their sizes, their values or their dtype).",
    "ja": "公開ケースが通るなら、非公開の入力で変わるもの(サイズ、値、dtype)にコードが依存しています。"}


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
    at_ja = f"{line} 行目で" if line else ""
    msg: m.Msg
    if status == "syntax_error":
        msg = {"en": f"Your code: syntax error{at_en}, {emsg or detail}",
               "ja": f"コード: {at_ja}構文エラーがあります({emsg or detail})。"}
    elif status == "missing_function":
        msg = m.line(CODE, {"en": f"no function named `{exercise.entry}`",
                            "ja": f"関数 `{exercise.entry}` が見つかりません"},
                     f"def {exercise.entry}(...)", m.both("no such function", ""),
                     ja=f"`def {exercise.entry}(...)` で関数を定義してください。")
    elif status == "runtime_error":
        msg = {"en": f"Your code: raised {etype} while loading{at_en}: {emsg}",
               "ja": f"コード: 読み込み中、{at_ja}{etype} が発生しました: {emsg}"}
    elif status == "timeout":
        msg = m.line(CODE, {"en": "ran too long and was stopped (an endless loop?)",
                            "ja": f"実行時間が制限({exercise.limits.time_s:g} 秒)を超えたため停止しました"},
                     m.both(f"under {exercise.limits.time_s:g} s", ""), m.both("stopped at the time limit", ""),
                     ja="無限ループになっていませんか?")
    elif status == "memory_limit":
        msg = m.line(CODE, {"en": "used too much memory and was stopped",
                            "ja": f"メモリの上限({exercise.limits.memory_mb} MB)を超えたため停止しました"},
                     m.both(f"under {exercise.limits.memory_mb} MB", ""), m.both("stopped at the memory limit", ""),
                     ja="")
    elif status == "output_limit":
        msg = m.line(CODE, {"en": "printed or returned too much output and was stopped",
                            "ja": "出力(print や戻り値)が大きすぎるため停止しました"},
                     m.both("a small output", ""), m.both("stopped at the output limit", ""), ja="")
    elif status == "sandbox_violation":
        why = f" ({detail})" if detail else ""
        msg = m.line(CODE, {"en": "tried an operation the grader does not allow (such as starting processes, "
                                  f"networking or debugging other processes){why}",
                            "ja": "採点環境で許可されていない操作(プロセスの起動、ネットワーク、他プロセスのデバッグなど)"
                                  f"を行おうとしました{why}"})
    elif status == "crashed":
        msg = m.line(CODE, {"en": f"the Python process stopped before finishing ({detail or 'killed'})",
                            "ja": f"Python のプロセスが最後まで実行されずに終了しました({detail or 'killed'})"})
    else:
        msg = {"en": f"Your code: did not finish ({status}: {detail})",
               "ja": f"コード: 最後まで実行できませんでした({status}: {detail})。"}
    details: dict[str, Any] = {"status": status, "detail": detail}
    if run.error:
        details["error"] = {k: run.error.get(k) for k in ("type", "message", "line", "traceback") if k in run.error}
    code: DiagnosisCode = next((c for c in RUN_FAILURES if c == status), "runtime_error")
    return m.diagnosis(exercise, code, msg, details)


NAMES = {"torch": "PyTorch", "numpy": "NumPy"}
# What the other framework's type looks like in an error message: torch functions fed numpy arrays say
# "numpy.ndarray"; numpy code that calls tensor methods on a tensor names "Tensor".
OTHER_TYPE = {"numpy": ("numpy.ndarray",), "torch": ("'Tensor' object", "torch.Tensor")}


def framework_hint(exercise: Exercise, emsg: str) -> dict[str, str] | None:
    """For an exercise offered in several frameworks: an error that shows code written for the other one."""
    if len(exercise.offered) < 2 or not any(n in emsg for n in OTHER_TYPE.get(exercise.framework, ())):
        return None
    mine = NAMES.get(exercise.framework, exercise.framework)
    other = ", ".join(NAMES.get(f, f) for f in exercise.offered if f != exercise.framework)
    kind = "numpy arrays" if exercise.framework == "numpy" else "torch tensors"
    return {"en": f"This answer is graded in {mine} (you picked it), so the inputs are {kind}: answer with {mine}, "
                  f"or pick {other} in the framework switch above the editor (API: `framework`).",
            "ja": f"この解答は {mine} で採点されます(選択した言語です)。入力は {kind} です。{mine} で書くか、"
                  f"エディタ上のフレームワーク切り替えで {other} を選んでください(API では `framework`)。"}


def case_error(exercise: Exercise, error: dict[str, Any] | None, visible: bool) -> tuple[m.Msg, dict[str, Any]]:
    """The message for an exception raised by the entry function on one case (hidden: type only)."""
    etype, emsg, line = _error_text(error)
    extra = next((h for needles, h in ERROR_HINTS if any(n in emsg for n in needles)), None) if visible else None
    extra = (framework_hint(exercise, emsg) if visible else None) or extra
    if visible:
        at = f" on line {line}" if line else ""
        at_ja = f"({line} 行目)" if line else ""
        msg = {"en": f"Your function: raised {etype}{at}: {emsg}",
               "ja": f"関数: {etype} が発生しました{at_ja}: {emsg}"}
        details: dict[str, Any] = {"type": etype, "message": emsg, "line": line}
    else:
        # Hidden cases: the exception text can quote values (index 7 is out of bounds...), so only the type.
        why = HIDDEN_ERRORS.get(etype, HIDDEN_OTHER)
        msg = {"en": f"Your function: raised {etype} on this hidden case. Its message is not shown, because it "
                     f"could quote the hidden input. {why['en']}",
               "ja": f"関数: この非公開ケースで {etype} が発生しました。メッセージは非公開の入力を含むことがあるため"
                     f"表示しません。{why['ja']}"}
        details = {"type": etype}
    if extra is not None:
        # Two sentences, never glued with ";" or a doubled "。" after torch's own trailing period.
        en = msg["en"] if msg["en"].endswith((".", "!", "?")) else msg["en"] + "."
        ja = msg["ja"] if msg["ja"].endswith(("。", ".", "!", "?")) else msg["ja"] + "。"
        msg = {"en": f"{en} {extra['en']}", "ja": f"{ja} {extra['ja']}" if ja.endswith(".") else ja + extra["ja"]}
    return msg, details

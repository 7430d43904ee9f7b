"""What a learner may learn from a hidden case: passed or not, a status from a fixed vocabulary, and an
exception type from an allowlist. Nothing else the hidden run did reaches a learner-visible result.

Why so little: everything a hidden run reports is chosen by the learner's code, which can read the hidden
inputs. An exception message, an exit code, a violation detail, the number of differing elements, the
shape or dtype it returned, or an exact timing is a channel that carries those inputs out (issue 8).
"""

from __future__ import annotations

import builtins
from typing import Any

from service.grading import messages as m
from service.results import CaseResult, Diagnosis, DiagnosisCode

# Per hidden case, one of these (the run statuses a learner's code can cause, plus "wrong_answer").
HIDDEN_STATUSES: tuple[str, ...] = (
    "ok", "wrong_answer", "runtime_error", "timeout", "memory_limit", "output_limit", "sandbox_violation",
    "crashed", "not_run",
)

# Exception types a hidden case may name: the builtin exception classes, by their builtin name only.
# A learner-defined class (whose name they choose) is reported as "Exception".
ALLOWED_EXCEPTIONS: frozenset[str] = frozenset(
    name for name, obj in vars(builtins).items() if isinstance(obj, type) and issubclass(obj, BaseException))

# The diagnosis code a failing hidden case (or a failed hidden run) is reported under: all in the closed
# vocabulary of results.DiagnosisCode.
_CODES: dict[str, DiagnosisCode] = {
    "wrong_answer": "wrong_answer", "runtime_error": "runtime_error", "timeout": "timeout",
    "memory_limit": "memory_limit", "output_limit": "output_limit", "sandbox_violation": "sandbox_violation",
    "crashed": "crashed",
}

_LABELS: dict[str, m.Msg] = {
    "ok": m.both("passed", "正解"),
    "wrong_answer": m.both("wrong result", "結果が違います"),
    "runtime_error": m.both("raised an exception", "例外が発生しました"),
    "timeout": m.both("stopped at the time limit", "制限時間で停止しました"),
    "memory_limit": m.both("stopped at the memory limit", "メモリ上限で停止しました"),
    "output_limit": m.both("stopped at the output limit", "出力上限で停止しました"),
    "sandbox_violation": m.both("tried an operation the grader does not allow", "許可されていない操作を行いました"),
    "crashed": m.both("the process stopped early", "プロセスが途中で終了しました"),
    "not_run": m.both("did not run (the run stopped before it)", "実行されませんでした（途中で停止したため）"),
}


def exception_name(error: dict[str, Any] | None) -> str:
    name = str((error or {}).get("type") or "")
    return name if name in ALLOWED_EXCEPTIONS else "Exception"


def hidden_case(name: str, passed: bool, status: str, device: str, error: dict[str, Any] | None) -> CaseResult:
    """The whole learner-visible result of one hidden case."""
    if status not in HIDDEN_STATUSES:
        status = "crashed"
    label = _LABELS[status]
    if status == "runtime_error":
        etype = exception_name(error)
        label = m.both(f"raised {etype}", f"{etype} が発生しました")
    msg = m.both(f"Hidden case: {label['en']} (details are not shown for hidden cases)",
                 f"非公開のケース: {label['ja']}（詳細は表示されません）")
    result = CaseResult(name=name, visible=False, passed=passed, device=device, status=status,
                        checks=[m.check("result", passed, msg)])
    if status == "runtime_error":
        result.error = {"type": exception_name(error)}
    return result


def hidden_diagnosis(exercise: Any, status: str, case: str) -> Diagnosis:
    """One diagnosis for a failing hidden case: its status as the code, a fixed message, no details."""
    code = _CODES.get(status, "wrong_answer")
    label = _LABELS[code]
    msg = m.both(f"A hidden case: {label['en']} (details are not shown for hidden cases)",
                 f"非公開のケース: {label['ja']}（詳細は表示されません）")
    return m.diagnosis(exercise, code, msg, {}, case=case)


def run_status_message(exercise: Any, status: str) -> Diagnosis:
    """The run-level diagnosis when the *hidden* run stopped: its status only (no detail, no message)."""
    code = _CODES.get(status, "crashed")
    label = _LABELS[code]
    msg = m.both(f"Your code, on the hidden cases: {label['en']}", f"コード（非公開のケース）: {label['ja']}")
    return m.diagnosis(exercise, code, msg, {"status": code, "hidden": True})

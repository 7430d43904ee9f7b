"""The grading engine: one call, plain data in and out, always a GradeResult (web, API, CLI and workers)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from service.domain import Exercise, Submission
from service.grading import messages as m
from service.grading import sealed
from service.grading.compare import compare_case
from service.grading.hardcoded import hardcoded_shape
from service.grading.learner import pick_framework, run_learner
from service.grading.outcomes import case_error, run_failure
from service.grading.quiz import grade_quiz
from service.grading.reference import Prepared, ReferenceCache, ReferenceFailed, Runner
from service.grading.render import render_inputs, render_value
from service.grading.rules import RULE_CODES, check_rules
from service.grading.staging import stage_code
from service.results import CaseResult, Diagnosis, DiagnosisCode, GradeResult, fallback
from service.sandbox.protocol import CaseIn, RawRun

log = logging.getLogger(__name__)
OPERATION_SEARCHES = 1  # visible cases on which diagnose_ops may search for the mistake


@dataclass
class _Graded:
    cases: list[CaseResult]
    diagnoses: list[Diagnosis]
    limits_hit: list[str] = field(default_factory=list)
    run_ok: bool = True  # every sandbox run of this pass ended "ok"
    staff: list[dict[str, Any]] = field(default_factory=list)  # GradeResult.staff


class Engine:
    """``Engine(pool).grade(exercise, submission) -> GradeResult``.

    Scoring: score = fraction of CPU cases passed. Rule violations (forbidden/required names) keep the cases'
    credit but make ``passed`` false, and a submission that did not pass never scores 1.0 (all n cases right
    but not passed scores n / (n + 1)). Extra ``<case>@cuda`` cases never add to the score, but a failing one makes
    ``passed`` false (a result that only works on the CPU is not the asked-for answer).
    """

    def __init__(self, pool: Runner, cache: ReferenceCache | None = None) -> None:
        self.pool = pool
        self.references = cache or ReferenceCache(pool)

    def grade(self, exercise: Exercise, submission: Submission) -> GradeResult:
        start = time.perf_counter()
        try:
            if exercise.kind in ("shape", "choice"):
                result = grade_quiz(exercise, submission.answer, submission.attempt, submission.reveal)
            else:
                exercise = exercise.for_framework(pick_framework(exercise, submission))
                result = stage_code(exercise, self._grade_code(exercise, submission.code or ""),
                                    submission.attempt, submission.reveal)
        except ReferenceFailed as exc:
            log.error("reference failed for %s: %s", exercise.id, exc)
            result = self._error(exercise, m.both(
                "The exercise's reference solution failed; this is not your fault.",
                "この問題の模範解答が実行できませんでした。あなたのコードの問題ではありません。"), reason="reference_failed")
        except Exception as exc:  # any engine bug must still produce an explained result
            log.exception("grader error on %s", exercise.id)
            result = self._error(exercise, m.both(
                "The grader failed on this submission; this is not your fault.",
                "採点システムでエラーが発生しました。あなたのコードの問題ではありません。"), reason=type(exc).__name__)
        result.timings["total_ms"] = float(round((time.perf_counter() - start) * 1000))
        for key in ("run_ms", "reference_ms", "compare_ms"):
            result.timings.setdefault(key, 0.0)
        return result

    @staticmethod
    def _error(exercise: Exercise, message: m.Msg, **details: str) -> GradeResult:
        result = fallback(exercise.id, exercise.content_hash, {"en": message["en"], "ja": message["ja"]}, **details)
        result.kind = exercise.kind
        return result

    def has_cuda(self) -> bool:
        probe = getattr(self.pool, "has_cuda", None)
        try:
            return bool(probe()) if callable(probe) else False
        except Exception:
            return False

    def _grade_code(self, exercise: Exercise, code: str) -> GradeResult:
        diagnoses = check_rules(exercise, code)
        timings = {"run_ms": 0.0, "reference_ms": 0.0, "compare_ms": 0.0}
        prepared = self.references.get(exercise, "cpu")
        timings["reference_ms"] += prepared.reference_ms
        t0 = time.perf_counter()
        run = run_learner(self.pool, exercise, code, prepared.cases, "cpu")
        timings["run_ms"] += (time.perf_counter() - t0) * 1000
        if run.status == "unavailable":
            return self._error(exercise, m.both(
                "The grading sandbox is unavailable right now; please try again later.",
                "採点環境が現在利用できません。しばらくしてからもう一度お試しください。"),
                reason="sandbox_unavailable", detail=run.detail)
        t0 = time.perf_counter()
        graded = self._cases(exercise, prepared, run, suffix="")
        timings["compare_ms"] += (time.perf_counter() - t0) * 1000
        all_cases = list(graded.cases)
        diagnoses += graded.diagnoses
        hardcoded = hardcoded_shape(exercise, code, graded.cases, prepared.cases)
        if hardcoded is not None:
            diagnoses.append(hardcoded)
        stdout, stderr, limits_hit = run.stdout, run.stderr, list(run.limits_hit)

        gpu_ok = True
        if "cuda" in exercise.devices:
            graded_gpu, reason = self._gpu_pass(exercise, code, timings)
            if graded_gpu is not None:
                gpu_ok = graded_gpu.run_ok and all(c.passed for c in graded_gpu.cases)
                all_cases += graded_gpu.cases
                diagnoses += graded_gpu.diagnoses
                graded.staff += graded_gpu.staff
                limits_hit += [h for h in graded_gpu.limits_hit if h not in limits_hit]
            else:
                diagnoses.append(m.diagnosis(exercise, "gpu_skipped", {
                    "en": f"GPU cases: skipped, {reason['en']}; only the CPU cases were graded",
                    "ja": f"GPU のケース: {reason['ja']}ため省略し、CPU のケースだけを採点しました。",
                }, {"reason": reason["code"]}))

        shown = {c.name for c in all_cases if c.visible}
        diagnoses = by_specificity(merge_repeats(diagnoses, shown), shown)
        n = len(graded.cases)
        passed_cases = sum(1 for c in graded.cases if c.passed)
        score = passed_cases / n if n else 0.0
        rules_ok = not any(d.code in RULE_CODES for d in diagnoses)
        # Every run must have ended "ok": a crash, violation or limit after the last case still fails.
        passed = bool(n) and passed_cases == n and rules_ok and gpu_ok and graded.run_ok
        if n and passed_cases == n and not passed:
            # Full marks only for a passed submission. Every value right but a rule, a GPU case or the run
            # itself failed counts as one more failed check (n of n + 1): the score is what reaches a
            # gradebook (LTI passback, the CSV), and full marks there must mean the exercise accepted it.
            score = n / (n + 1)
        return GradeResult(
            status="graded", score=round(score, 6), passed=passed,
            cases=all_cases, diagnoses=diagnoses, stdout=stdout, stderr=stderr, limits_hit=limits_hit,
            # Whole milliseconds where the hidden run's duration (which the learner controls) is included.
            timings={k: round(v, 3) if k == "reference_ms" else float(round(v)) for k, v in timings.items()},
            exercise_id=exercise.id, exercise_version=exercise.content_hash, exercise_variant=exercise.variant,
            kind=exercise.kind, staff=graded.staff,
        )

    def _gpu_pass(self, exercise: Exercise, code: str,
                  timings: dict[str, float]) -> tuple[_Graded | None, dict[str, str]]:
        """The ``<case>@cuda`` cases, or None and why they were skipped (never a failure of the whole result)."""
        if not self.has_cuda():
            return None, {"code": "no_cuda", "en": "this grader has no CUDA GPU",
                          "ja": "この採点環境には CUDA GPU がない"}
        try:
            gpu = self.references.get(exercise, "cuda")
        except ReferenceFailed as exc:
            log.error("cuda reference failed for %s: %s", exercise.id, exc)
            return None, {"code": "reference_failed", "en": "the reference solution failed on the GPU",
                          "ja": "模範解答が GPU で実行できなかった"}
        timings["reference_ms"] += gpu.reference_ms
        t0 = time.perf_counter()
        run = run_learner(self.pool, exercise, code, gpu.cases, "cuda")
        timings["run_ms"] += (time.perf_counter() - t0) * 1000
        if run.status == "unavailable":
            return None, {"code": "unavailable", "en": "the GPU sandbox is unavailable",
                          "ja": "GPU の採点環境が利用できない"}
        graded = self._cases(exercise, gpu, run, suffix="@cuda")
        graded.limits_hit = list(run.limits_hit)
        return graded, {}

    def _cases(self, exercise: Exercise, prepared: Prepared, run: RawRun, suffix: str) -> _Graded:
        visible = {c.name: c.visible for c in exercise.cases}
        out = _Graded([], [], run_ok=run.status == "ok")
        stopped: Diagnosis | None = None
        if run.status != "ok":
            stopped = sealed.run_status_message(exercise, run.status) if run.sealed else run_failure(exercise, run)
            stopped.case = None
            out.diagnoses.append(stopped)
            if run.sealed:
                out.staff.append({"run": f"hidden{suffix}", "status": run.status, "detail": run.sealed_detail})
        hidden_seen = 0
        # The operation search (diagnose_ops) costs milliseconds per case: one visible case is enough,
        # since diagnoses are merged per code anyway (hidden cases never search: they are sealed).
        searched = 0
        for case_in in prepared.cases:
            shown = visible.get(case_in.name, False)
            if not shown:
                hidden_seen += 1
                out.cases.append(self._hidden(exercise, prepared, run, case_in, f"hidden case {hidden_seen}{suffix}",
                                              suffix, out))
                continue
            name = case_in.name + suffix
            expected = prepared.outputs[case_in.name].value
            result = CaseResult(name=name, visible=True, passed=False, device="cuda" if suffix else "cpu")
            result.inputs = render_inputs(case_in.args, exercise.framework)
            result.expected = render_value(expected)
            facts = run.cases.get(case_in.name)
            if facts is None or (facts.value is None and facts.error is None):
                # The run stopped before this case: the run-level diagnosis explains why.
                msg = stopped.messages if stopped else {"en": "Your function: returned no result",
                                                        "ja": "関数: 結果が返されませんでした。"}
                result.checks.append(m.check("run", False, msg))
            elif facts.value is None:
                msg, details = case_error(exercise, facts.error, True)
                result.checks.append(m.check("run", False, msg))
                out.diagnoses.append(m.diagnosis(exercise, "runtime_error", msg, details, case=name))
                result.error = facts.error
            else:
                assert expected is not None
                verdict = compare_case(exercise, case_in.args, expected, facts.value, facts, visible=True,
                                       operations=searched < OPERATION_SEARCHES, on_gpu=bool(suffix))
                searched += verdict.searched
                result.passed = verdict.passed
                result.checks = verdict.checks
                for d in verdict.diagnoses:
                    d.case = name
                out.diagnoses += verdict.diagnoses
                result.output = render_value(facts.value)
            out.cases.append(result)
        return out

    def _hidden(self, exercise: Exercise, prepared: Prepared, run: RawRun, case_in: CaseIn, name: str,
                suffix: str, out: _Graded) -> CaseResult:
        """A hidden case is a sealed oracle: passed or not, a fixed status, an allowlisted exception type."""
        facts = run.cases.get(case_in.name)
        expected = prepared.outputs[case_in.name].value
        error = None
        status: str
        staff: dict[str, Any] = {"case": name, "name": case_in.name + suffix}
        if facts is None or (facts.value is None and facts.error is None):
            status = run.status if run.status != "ok" else "not_run"
            passed = False
        elif facts.value is None:
            status, passed, error = "runtime_error", False, facts.error
            err = facts.error or {}
            staff["error"] = f"{err.get('type', '')}: {err.get('message', '')}"[:1000]
        else:
            assert expected is not None
            # Only passed/not leaves a hidden case, so the operation search (diagnose_ops) would be wasted.
            verdict = compare_case(exercise, case_in.args, expected, facts.value, facts, visible=False,
                                   operations=False, on_gpu=bool(suffix))
            passed = verdict.passed
            status = "ok" if passed else "wrong_answer"
            if not passed:  # staff see the comparator's full account (values, positions): only they do
                full = compare_case(exercise, case_in.args, expected, facts.value, facts, operations=False,
                                    on_gpu=bool(suffix))
                staff["checks"] = [c.message for c in full.checks if not c.passed][:10]
        out.staff.append({**staff, "status": status, "passed": passed})
        if not passed and status not in ("not_run",) and not (facts is None and run.status != "ok"):
            out.diagnoses.append(sealed.hidden_diagnosis(exercise, status, name))
        return sealed.hidden_case(name, passed, status, "cuda" if suffix else "cpu", error)


# Most telling first: the first diagnosis is what a learner reads first and what class statistics count
# as the submission's mistake, so "you reshaped instead of permuting" must come before the generic
# "values differ" and before the rule reminders that the same answer also triggers.
_SPECIFICITY: dict[DiagnosisCode, int] = {
    **dict.fromkeys(("syntax_error", "missing_function", "timeout", "memory_limit", "output_limit",
                     "sandbox_violation", "crashed", "grader_error"), 0),
    **dict.fromkeys(("reshape_instead_of_permute", "wrong_axis_order", "transpose_all_axes",
                     "heads_split_wrong", "not_channels_last", "wrong_reduction_axes", "missing_keepdim",
                     "wrong_broadcast_axes", "wrong_contraction", "wrong_window", "hardcoded_shape"), 1),
    **dict.fromkeys(("wrong_type", "shape_mismatch", "dtype_mismatch", "device_mismatch"), 2),
    **dict.fromkeys(("input_mutated", "not_a_view", "not_contiguous"), 3),
    "runtime_error": 4,
    **dict.fromkeys(("value_mismatch", "wrong_answer"), 5),
    **dict.fromkeys(RULE_CODES, 6),
    "gpu_skipped": 7,  # a note about the optional GPU pass, never the mistake
}


def by_specificity(diagnoses: list[Diagnosis], visible: set[str] | None = None) -> list[Diagnosis]:
    """Stable sort: the specific mistake first, generic findings and rule reminders after it.

    With ``visible`` (the visible case names), every diagnosis found on a visible case or on the whole
    submission comes before those found only on hidden cases: a hidden case can only say "details hidden",
    so the first thing a learner reads is the most readable mistake they can actually look at."""
    def hidden_only(d: Diagnosis) -> bool:
        return visible is not None and d.case is not None and d.case not in visible

    return sorted(diagnoses, key=lambda d: (hidden_only(d), _SPECIFICITY[d.code]))


def merge_repeats(diagnoses: list[Diagnosis], visible: set[str]) -> list[Diagnosis]:
    """One diagnosis per code across cases (the per-case checks still say which cases failed and how).

    The kept one comes from a visible case when there is one, since only those may show values;
    ``details["cases"]`` lists every case the code was found on.
    """
    groups: dict[str, list[Diagnosis]] = {}
    order: list[Diagnosis | str] = []
    for d in diagnoses:
        if d.case is None:
            order.append(d)
            continue
        if d.code not in groups:
            groups[d.code] = []
            order.append(d.code)
        groups[d.code].append(d)
    out: list[Diagnosis] = []
    for item in order:
        if isinstance(item, Diagnosis):
            out.append(item)
            continue
        group = groups[item]
        kept = next((d for d in group if d.case in visible), group[0])
        cases = list(dict.fromkeys(d.case for d in group if d.case is not None))
        if len(cases) > 1:
            kept.details["cases"] = cases
        out.append(kept)
    return out

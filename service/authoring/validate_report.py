"""What validation tried, per exercise: the lint candidates and what caught each, declared wrong answers and
alternatives, the reference in every framework. Never a silent clean result."""

from __future__ import annotations

from typing import Any

from service.authoring.lint import Candidate, LintResult, lint_input_name
from service.domain import Declared, Exercise, Submission
from service.exercises.errors import ExerciseError
from service.exercises.loader import key_line


def _error(ex: Exercise, key: str, message: str) -> ExerciseError:
    return ExerciseError(ex.source_path, key_line(ex.source_path, key), key, message)


def _codes(result: Any) -> list[str]:
    return [d.code for d in result.diagnoses if d.code != "gpu_skipped"]


def failures(result: Any) -> str:
    """The first few reasons a graded result did not pass, in one line."""
    reasons = [f"{c.name}: {ch.message}" for c in result.cases if not c.passed for ch in c.checks if not ch.passed]
    reasons += [f"{d.code}: {d.message}" for d in result.diagnoses if d.code != "gpu_skipped"]
    return "; ".join(reasons[:4]) or "not passed"


def _fate(cand: Candidate, reference: bool) -> str:
    label = "" if cand.label == cand.name else f"{cand.label}: "
    if reference:
        return f"{label}the reference's own behaviour"
    if not cand.applicable:
        return f"{label}not applicable (no case has the shape it would need)"
    if cand.passes_all:
        return f"{label}PASSES every case"
    case = next((c for c in cand.caught_by if cand.killed.get(c) != "not applicable"), cand.caught_by[0])
    return f"{label}caught by {case} ({cand.killed.get(case) or 'failed'})"


def lint_lines(ex: Exercise, result: LintResult | None, declared: bool, prepared: Any = None) -> list[str]:
    """One line per candidate family: what the weak-test linter tried and what killed each candidate."""
    if result is None:
        return ["lint: not run (the reference did not pass, or lint was switched off)"]
    nudge = "" if declared else "; no wrong_answers are declared, so nothing shows these cases catch a mistake"
    if result.skipped:
        return [f"lint: not applied: {result.skipped}{nudge}"]
    name = lint_input_name(ex, prepared.cases[0].args) if prepared is not None and prepared.cases else None
    lines = [f"lint on {name or ex.lint_input or 'the first array argument'}:"]
    by_name: dict[str, list[Candidate]] = {}
    for cand in result.candidates:
        by_name.setdefault(cand.name, []).append(cand)
    for name, group in by_name.items():
        fates = [_fate(c, c.key == result.reference_key and c.name != "wrong_dtype") for c in group]
        if all(not c.applicable for c in group):
            fates = ["not applicable (no case has the shape it would need)"]
        lines.append(f"  {name}: " + "; ".join(fates[:4]) + (f"; and {len(fates) - 4} more" if len(fates) > 4 else ""))
    applicable = [c for c in result.candidates if c.applicable and c.name != "wrong_dtype"]
    if not applicable:
        lines.append(f"  only wrong_dtype applied: the result never has the input's shape or size (a reduction, "
                     f"broadcast, contraction or window?){nudge}")
    return lines


def _declared(engine: Any, ex: Exercise, item: Declared, wrong: bool) -> tuple[ExerciseError | None, str]:
    fw = item.framework or ex.framework
    result = engine.grade(ex, Submission(ex.id, code=item.code, framework=fw))
    codes = _codes(result)
    label = f"{'wrong answer' if wrong else 'alternative'} {item.name} [{fw}]"
    key = "wrong_answers" if wrong else "alternatives"
    if result.status != "graded":
        return _error(ex, key, f"{item.name}: could not be graded: {failures(result)}"), f"{label}: NOT GRADED"
    if not wrong:
        if result.passed and result.score == 1.0:
            return None, f"{label}: passes, as declared"
        return (_error(ex, key, f"{item.name}: a declared alternative does not pass (score {result.score:.2f}): "
                                f"{failures(result)}"), f"{label}: FAILS (score {result.score:.2f})")
    if result.passed:
        return (_error(ex, key, f"{item.name}: a declared wrong answer passes every case and rule: add a case "
                                "or a rule that catches it"), f"{label}: PASSES")
    shown = f"score {result.score:.2f}, {', '.join(codes) or 'no diagnosis'}"
    if item.diagnosis and item.diagnosis not in codes:
        return (_error(ex, key, f"{item.name}: fails, but without the declared diagnosis {item.diagnosis} "
                                f"(got {', '.join(codes) or 'none'})"), f"{label}: fails ({shown}), NOT {item.diagnosis}")
    return None, f"{label}: fails as declared ({shown})"


def check_declared(engine: Any, ex: Exercise) -> tuple[list[ExerciseError], list[str]]:
    """Grade every ``wrong_answers`` item (must fail, with its diagnosis) and ``alternatives`` item (must pass)."""
    errors: list[ExerciseError] = []
    lines: list[str] = []
    for items, wrong in ((ex.wrong_answers, True), (ex.alternatives, False)):
        for item in items:
            error, line = _declared(engine, ex, item, wrong)
            lines.append(line)
            if error is not None:
                errors.append(error)
    return errors, lines


def reference_line(ex: Exercise, frameworks: list[str]) -> str:
    visible = sum(1 for c in ex.cases if c.visible)
    generated = sum(1 for c in ex.cases if c.salt is not None)
    extra = f", {generated} of them generated" if generated else ""
    return (f"reference: passes all {len(ex.cases)} cases ({visible} visible{extra}) in {', '.join(frameworks)}"
            + (", and follows its own rules" if _has_rules(ex) else ""))


def _has_rules(ex: Exercise) -> bool:
    r = ex.rules
    return bool(r.forbid or r.require or r.allow is not None or r.max_lines or r.single_expression)


def constant_inputs(prepared: Any) -> list[str]:
    """Array arguments whose every element is the same in every case (numpy-100's ``ones``): with such inputs a
    wrong axis, block or window gives the right answer, so the cases cannot tell most mistakes apart."""
    if prepared is None:
        return []
    arrays: dict[str, list[Any]] = {}
    for case in prepared.cases:
        for arg in case.args:
            if arg.array is not None:
                arrays.setdefault(arg.name, []).append(arg.array)
    return [name for name, values in arrays.items()
            if all(a.size <= 1 or bool((a.reshape(-1) == a.reshape(-1)[0]).all()) for a in values)]

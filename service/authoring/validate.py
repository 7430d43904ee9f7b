"""Full validation of an exercise directory: schema, reference runs through the engine, weak-test lint."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from service.authoring.lint import Finding, LintResult, lint_exercise
from service.domain import Exercise, Submission
from service.exercises.catalog import Catalog, load_catalog
from service.exercises.errors import ExerciseError
from service.exercises.loader import key_line
from service.grading.reference import ReferenceFailed


@dataclass
class ValidationReport:
    exercises: int = 0
    errors: list[ExerciseError] = field(default_factory=list)
    warnings: list[ExerciseError] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    waived: list[Finding] = field(default_factory=list)
    lint: dict[str, LintResult] = field(default_factory=dict)
    references_run: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors and not self.findings

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly: for ``--json`` output and the instructor view."""
        return {
            "ok": self.ok, "exercises": self.exercises, "references_run": self.references_run,
            "errors": [e.to_dict() for e in self.errors], "warnings": [w.to_dict() for w in self.warnings],
            "findings": [asdict(f) | {"text": str(f)} for f in self.findings],
            "waived": [asdict(f) | {"text": str(f)} for f in self.waived],
        }

    def format(self) -> str:
        """One line per problem (file:line prefix), then a summary line, for ``kiwame exercises validate``."""
        lines = [str(e) for e in self.errors] + [str(f) for f in self.findings] + [str(w) for w in self.warnings]
        waived = ", ".join(f"{f.exercise_id} {f.candidate}: {f.waiver}" for f in self.waived)
        summary = (f"{self.exercises} exercises, {len(self.errors)} errors, {len(self.findings)} lint findings"
                   f" ({len(self.waived)} waived{': ' + waived if waived else ''})")
        if self.warnings:
            summary += f", {len(self.warnings)} warnings"
        if not self.references_run:
            summary += "; reference solutions and lint not run (no grading engine)"
        return "\n".join([*lines, summary])


def _error(ex: Exercise, key: str, message: str) -> ExerciseError:
    return ExerciseError(ex.source_path, key_line(ex.source_path, key), key, message)


def _failures(result: Any) -> str:
    """The first few reasons a graded result did not pass, in one line."""
    reasons = [f"{c.name}: {ch.message}" for c in result.cases if not c.passed for ch in c.checks if not ch.passed]
    reasons += [f"{d.code}: {d.message}" for d in result.diagnoses if d.code != "gpu_skipped"]
    return "; ".join(reasons[:4]) or "not passed"


def check_reference(engine: Any, ex: Exercise, lint: bool = True
                    ) -> tuple[list[ExerciseError], LintResult | None, Any]:
    """Run the reference through ``engine`` like learner code: it must score 1.0 and pass its own rules.
    With ``lint``, also run the weak-test linter on the reference outputs (no extra sandbox run)."""
    if ex.kind != "code":
        result = engine.grade(ex, Submission(ex.id, answer=ex.answer))
        ok = result.passed and result.score == 1.0
        return ([] if ok else [_error(ex, "answer", f"the answer does not pass its own quiz: {_failures(result)}")]), None, None
    try:
        prepared = engine.references.get(ex, "cpu")
    except ReferenceFailed as exc:
        return [_error(ex, "solution", f"the reference solution failed in the sandbox: {exc}")], None, None
    result = engine.grade(ex, Submission(ex.id, code=ex.solution))
    if not (result.passed and result.score == 1.0):
        return [_error(ex, "solution", f"the reference solution does not pass its own checks and rules "
                                       f"(score {result.score}): {_failures(result)}")], None, prepared
    return [], lint_exercise(ex, prepared.cases, prepared.outputs) if lint else None, prepared


def validate_catalog(catalog: Catalog, engine: Any = None, lint: bool = True) -> ValidationReport:
    report = ValidationReport(len(catalog), catalog.errors, catalog.warnings, references_run=engine is not None)
    if engine is None:
        return report
    for ex in catalog:
        errors, result, _ = check_reference(engine, ex, lint=lint)
        report.errors += errors
        if result is None:
            continue
        report.lint[ex.id] = result
        report.findings += result.findings
        report.waived += result.waived
        flagged = {f.candidate for f in result.findings + result.waived}
        for name in ex.allow:
            if name not in flagged and not result.skipped:
                report.warnings.append(_error(ex, "allow", f"allow.{name} waives nothing: every case set already "
                                                           f"catches {name}; remove the waiver"))
    return report


def validate_dir(path: str | Path, engine: Any = None, lint: bool = True) -> ValidationReport:
    """Schema errors for every file; with an engine also reference runs (score 1.0) and the weak-test linter."""
    return validate_catalog(load_catalog(path), engine, lint)

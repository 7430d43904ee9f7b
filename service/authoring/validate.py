"""Full validation of an exercise directory: schema, reference runs through the engine, weak-test lint."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from service.authoring.lint import Finding, LintResult, lint_exercise
from service.authoring.validate_report import (
    check_declared,
    constant_inputs,
    failures,
    lint_lines,
    reference_line,
)
from service.domain import Exercise, Submission
from service.exercises.catalog import Catalog, load_catalog
from service.exercises.errors import ExerciseError
from service.exercises.loader import TRACK_FILE, display_path, key_line, load_exercise
from service.grading.reference import ReferenceFailed
from service.grading.rules import check_rules


@dataclass
class ValidationReport:
    exercises: int = 0
    errors: list[ExerciseError] = field(default_factory=list)
    warnings: list[ExerciseError] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    waived: list[Finding] = field(default_factory=list)
    lint: dict[str, LintResult] = field(default_factory=dict)
    references_run: bool = False
    details: dict[str, list[str]] = field(default_factory=dict)  # exercise id -> what was tried (format())

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
            "details": self.details,
        }

    def format(self) -> str:
        """One line per problem (file:line prefix), then a summary line, for ``kiwame exercises validate``."""
        lines = [f"{ex_id}: " + "\n  ".join(tried) for ex_id, tried in self.details.items()]
        lines += [str(e) for e in self.errors] + [str(f) for f in self.findings] + [str(w) for w in self.warnings]
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


_failures = failures


def check_reference(engine: Any, ex: Exercise, lint: bool = True
                    ) -> tuple[list[ExerciseError], LintResult | None, Any]:
    """Run the reference through ``engine`` like learner code: it must score 1.0 and pass its own rules.
    With ``lint``, also run the weak-test linter on the reference outputs (no extra sandbox run)."""
    if ex.kind != "code":
        result = engine.grade(ex, Submission(ex.id, answer=ex.answer))
        ok = result.passed and result.score == 1.0
        return ([] if ok else [_error(ex, "answer", f"the answer does not pass its own quiz: {_failures(result)}")]), None, None
    prepared = None
    for fw in ex.offered:  # the reference runs, and must pass, in every framework the exercise is offered in
        variant = ex.for_framework(fw)
        try:
            got = engine.references.get(variant, "cpu")
        except ReferenceFailed as exc:
            return [_error(ex, "solution", f"the reference solution failed in the sandbox: {exc}")], None, None
        prepared = prepared or got
        result = engine.grade(variant, Submission(ex.id, code=variant.solution, framework=fw))
        if not (result.passed and result.score == 1.0):
            which = f" ({fw})" if len(ex.offered) > 1 else ""
            return [_error(ex, "solution", f"the reference solution{which} does not pass its own checks and rules "
                                           f"(score {result.score}): {_failures(result)}")], None, prepared
    return [], lint_exercise(ex, prepared.cases, prepared.outputs) if lint and prepared else None, prepared


def static_rules(ex: Exercise) -> list[ExerciseError]:
    """The reference must follow its own rules: checked on its syntax tree, so even without a sandbox."""
    out = []
    for fw in ex.offered if ex.kind == "code" else ():
        broken = check_rules(ex, ex.for_framework(fw).solution)
        which = f" ({fw})" if len(ex.offered) > 1 else ""
        out += [_error(ex, "solution", f"the reference solution{which} breaks its own rules: {d.message}") for d in broken]
    return out


def validate_catalog(catalog: Catalog | Selection, engine: Any = None, lint: bool = True) -> ValidationReport:
    report = ValidationReport(len(catalog), list(catalog.errors), list(catalog.warnings),
                              references_run=engine is not None)
    if engine is None:
        report.errors += [e for ex in catalog for e in static_rules(ex)]
        return report
    for ex in catalog:
        errors, result, prepared = check_reference(engine, ex, lint=lint)
        report.errors += errors
        if ex.kind != "code":
            report.details[ex.id] = ["quiz: its answer passes its own quiz" if not errors else "quiz: answer FAILS"]
            continue
        tried = [reference_line(ex, list(ex.offered)) if not errors else "reference: FAILS (see the error below)"]
        if not errors:
            declared_errors, declared_lines = check_declared(engine, ex)
            report.errors += declared_errors
            tried += declared_lines
        tried += lint_lines(ex, result, bool(ex.wrong_answers), prepared) if lint else []
        for name in constant_inputs(prepared):
            weak = (f"{name} is constant in every case (ones, zeros, full...): wrong axes, blocks or windows "
                    "give the same result; add a case with position-coded values (arange, coded, randint)")
            tried.append(f"inputs: {weak}")
            report.warnings.append(_error(ex, "cases", weak))
        report.details[ex.id] = tried
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
    """Schema errors for every file; with an engine also reference runs (score 1.0) and the weak-test linter.
    ``path`` is the exercise root, one track folder or one exercise file."""
    return validate_catalog(select(Path(path)), engine, lint)


class Selection:
    """The exercises of one file or one track folder, shaped like a Catalog for ``validate_catalog``."""

    def __init__(self, paths: list[Path], errors: list[ExerciseError]) -> None:
        self.errors = errors
        self.warnings: list[ExerciseError] = []
        self.exercises: list[Exercise] = []
        for path in paths:
            parsed = load_exercise(path)
            self.errors += parsed.errors
            self.warnings += parsed.warnings
            if parsed.exercise is not None:
                self.exercises.append(parsed.exercise)

    def __iter__(self) -> Iterator[Exercise]:
        return iter(self.exercises)

    def __len__(self) -> int:
        return len(self.exercises)


def select(path: Path) -> Any:
    """A Catalog for the root; a Selection for a track folder (it holds YAML files) or a single file."""
    if path.is_file():
        return Selection([path], [])
    if path.is_dir() and ((path / TRACK_FILE).exists() or any(not p.name.startswith("_") for p in path.glob("*.yaml"))):
        errors = [] if (path / TRACK_FILE).exists() else [ExerciseError(display_path(path), 0, "", f"missing {TRACK_FILE}")]
        return Selection([p for p in sorted(path.glob("*.yaml")) if not p.name.startswith("_")], errors)
    return load_catalog(path)

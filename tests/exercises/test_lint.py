"""The weak-test linter: wrong answers that no case catches are reported, and can be waived with a reason."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from exercise_support import VALID, InProcessRunner

from service.authoring.validate import validate_dir
from service.exercises import load_catalog
from service.grading.engine import Engine

BASE = VALID.format(id="permute-2d")
PERMUTE_021 = BASE.replace("x.permute(1, 0)", "x.permute(0, 2, 1)")


def _cases(*specs: str) -> str:
    lines = ["cases:"]
    for i, spec in enumerate(specs):
        lines += [f"  - name: c{i}", f"    visible: {'true' if i == 0 else 'false'}", f"    args: {{x: {spec}}}"]
    return "\n".join(lines) + "\n"


def _with_cases(text: str, *specs: str, extra: str = "") -> str:
    return text[: text.index("cases:")] + extra + _cases(*specs)


def _report(tree: Callable[..., Path], text: str):
    return validate_dir(tree(text=text), engine=Engine(InProcessRunner()))


def test_strong_cases_have_no_findings(tree: Callable[..., Path]) -> None:
    report = _report(tree, _with_cases(PERMUTE_021, "{coded: [3, 3, 3]}", "{arange: [3, 2, 5]}"))
    assert report.ok, report.format()
    result = report.lint["permute-2d"]
    names = {c.name for c in result.wrong_answers()}
    assert names == {"unchanged_input", "reshape", "reversed_axes", "transpose_all", "other_permutation", "wrong_dtype"}
    assert len([c for c in result.wrong_answers() if c.name == "other_permutation"]) == 3  # 6 orders - ref, id, rev
    assert all(c.caught_by for c in result.wrong_answers())
    assert report.format().endswith("1 exercise, 0 errors, 0 lint findings (0 waived)")


def test_size_one_axis_lets_reshape_pass(tree: Callable[..., Path]) -> None:
    # (2, 1, 3) -> permute(0, 2, 1) -> (2, 3, 1) keeps the memory order: reshape gives the same values.
    report = _report(tree, _with_cases(PERMUTE_021, "{coded: [2, 1, 3]}", "{arange: [4, 1, 2]}"))
    assert not report.ok
    [finding] = report.findings
    assert (finding.candidate, finding.cases, finding.reason) == ("reshape", ("c0", "c1"), "all cases have a size-1 axis")
    assert "exercises/basics/permute-2d.yaml:14: cases: weak tests: the wrong answer reshape passes every case" in report.format()
    assert report.format().endswith("1 exercise, 0 errors, 1 lint finding (0 waived)")


def test_square_only_cases_with_symmetric_values_let_the_unchanged_input_pass(tree: Callable[..., Path]) -> None:
    text = _with_cases(BASE, "[[1, 2], [2, 1]]", "[[0, 5, 6], [5, 0, 7], [6, 7, 0]]")
    report = _report(tree, text)
    assert {f.candidate for f in report.findings} == {"unchanged_input", "reshape"}
    assert report.findings[0].reason == "every case is square and every case has repeated values"


def test_a_waiver_with_a_reason_silences_the_finding(tree: Callable[..., Path]) -> None:
    text = _with_cases(PERMUTE_021, "{coded: [2, 1, 3]}", "{arange: [4, 1, 2]}",
                       extra='allow: {reshape: "the lesson is that both agree when the axis has size 1"}\n')
    report = _report(tree, text)
    assert report.ok and report.findings == []
    [waived] = report.waived
    assert waived.waiver == "the lesson is that both agree when the axis has size 1"
    assert "(1 waived: permute-2d reshape: the lesson is that both agree when the axis has size 1)" in report.format()


def test_an_unused_waiver_is_a_warning(tree: Callable[..., Path]) -> None:
    text = _with_cases(PERMUTE_021, "{coded: [2, 3, 4]}", extra='allow: {reshape: "not needed"}\n')
    report = _report(tree, text)
    assert report.ok
    assert [w.message for w in report.warnings if w.key == "allow"] == [
        "allow.reshape waives nothing: every case set already catches reshape; remove the waiver"]


def test_unchecked_dtype_is_a_wrong_dtype_finding(tree: Callable[..., Path]) -> None:
    report = _report(tree, _with_cases(BASE, "{coded: [2, 3]}", extra="check: {dtype: false}\n"))
    assert [(f.candidate, f.labels, f.reason) for f in report.findings] == [
        ("wrong_dtype", ("as int32",), "check.dtype is false")]


def test_reference_that_fails_its_own_rules_is_an_error(tree: Callable[..., Path]) -> None:
    report = _report(tree, _with_cases(BASE, "{coded: [2, 3]}", extra="rules: {forbid: [permute]}\n"))
    [error] = report.errors
    assert str(error).startswith("exercises/basics/permute-2d.yaml:11: solution: the reference solution does not "
                                 "pass its own checks and rules (score 0.5): forbidden_name")


def test_reference_that_crashes_is_an_error(tree: Callable[..., Path]) -> None:
    text = _with_cases(BASE.replace("x.permute(1, 0)", "x.permute(2, 0, 1)"), "{coded: [2, 3]}")
    report = _report(tree, text)
    [error] = report.errors
    assert "solution: the reference solution failed in the sandbox" in str(error)


def test_without_an_engine_only_the_schema_is_checked(tree: Callable[..., Path]) -> None:
    report = validate_dir(tree())
    assert report.ok and report.lint == {}
    assert report.format() == ("1 exercise, 0 errors, 0 lint findings (0 waived); "
                               "reference solutions and lint not run (no grading engine)")
    assert load_catalog(tree()).errors == []


def test_the_real_engine_and_sandbox_report_a_size_one_trap(tree: Callable[..., Path]) -> None:
    from service.sandbox.pool import SandboxPool

    pool = SandboxPool()
    try:
        root = tree(text=_with_cases(PERMUTE_021, "{coded: [2, 1, 3]}", "{random: [3, 1, 2], seed: 3}"))
        report = validate_dir(root, engine=Engine(pool))
    finally:
        pool.close()
    assert report.references_run and report.errors == []
    assert [(f.candidate, f.reason) for f in report.findings] == [("reshape", "all cases have a size-1 axis")]


def test_report_as_json(tree: Callable[..., Path]) -> None:
    import json

    text = _with_cases(PERMUTE_021, "{coded: [2, 1, 3]}", extra='allow: {reshape: "size-1 lesson"}\n')
    data = json.loads(json.dumps(_report(tree, text).to_dict()))
    assert data["ok"] is True and data["findings"] == []
    assert data["waived"][0]["candidate"] == "reshape" and data["waived"][0]["line"] == 14
    assert data["waived"][0]["text"].startswith("exercises/basics/permute-2d.yaml:14: allow.reshape: waived (size-1 lesson)")

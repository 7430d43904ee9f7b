"""Authoring keys (issue 15) end to end: schema, declared wrong answers and alternatives, what validate prints."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

from exercise_support import VALID, InProcessRunner

from service.authoring.validate import validate_dir
from service.exercises import load_catalog
from service.exercises.loader import parse_exercise
from service.grading.engine import Engine

BASE = VALID.format(id="permute-2d")
REPO = Path(__file__).resolve().parents[2]


def _parse(text: str):
    return parse_exercise(text.encode(), "x.yaml", "permute-2d", "basics")


def _with(extra: str, text: str = BASE) -> str:
    return text + textwrap.dedent(extra)


def test_framework_list_and_per_framework_code() -> None:
    text = BASE.replace("framework: torch", "framework: [torch, numpy]")
    ex = _parse(text).exercise
    assert ex is not None and ex.offered == ("torch", "numpy") and ex.for_framework("numpy").framework == "numpy"
    split = text.replace("solution: |\n  def solve(x):\n      return x.permute(1, 0)\n",
                         "solution:\n  torch: |\n    def solve(x):\n        return x.permute(1, 0)\n"
                         "  numpy: |\n    def solve(x):\n        return x.T\n")
    ex = _parse(split).exercise
    assert ex is not None and "x.T" in ex.for_framework("numpy").solution and "permute" in ex.solution
    missing = split.replace("  numpy: |\n    def solve(x):\n        return x.T\n", "")
    assert any("missing solution.numpy" in str(e) for e in _parse(missing).errors)
    bad = _parse(BASE.replace("framework: torch", "framework: [torch, jax]")).errors
    assert "expected torch, numpy or a list of distinct ones" in str(bad[0])


def test_bad_authoring_keys_are_located_errors() -> None:
    text = _with("""\
        rules: {allow: [], max_lines: 0, single_expression: maybe}
        generate: 3
        helpers: |
          def solve(x):
              return x
        wrong_answers:
          - {name: w, code: "def other(x): return x", diagnosis: not_a_code}
        """)
    errors = [str(e) for e in _parse(text).errors]
    assert any("rules.allow: expected a non-empty list" in e for e in errors)
    assert any("rules.max_lines: expected an integer from 1 to 200, got 0" in e for e in errors)
    assert any("rules.single_expression: expected true or false" in e for e in errors)
    assert any("generate: generate: N re-draws cases with a random shape" in e for e in errors)
    assert any("helpers: helpers must not define the entry solve" in e for e in errors)
    assert any("wrong_answers[0].diagnosis: unknown diagnosis code 'not_a_code'" in e for e in errors)
    assert any("wrong_answers[0].code: expected the code to define solve" in e for e in errors)


def test_dim_of_errors_point_at_the_argument() -> None:
    text = BASE.replace("  - args: {x: {arange: [3, 5]}}", "  - args: {x: {ones: [{dim_of: [y, 0]}]}}")
    [error] = _parse(text).errors
    assert "cases[1].args.x" in str(error) and "another argument" in str(error)


def _report(tree: Callable[..., Path], text: str):
    return validate_dir(tree(text=text), engine=Engine(InProcessRunner()))


def test_declared_wrong_answers_and_alternatives_are_checked(tree: Callable[..., Path]) -> None:
    text = _with("""\
        wrong_answers:
          - name: unchanged
            diagnosis: shape_mismatch
            code: |
              def solve(x):
                  return x
          - name: claims-the-wrong-code
            diagnosis: wrong_contraction
            code: |
              def solve(x):
                  return x.reshape(x.shape[1], x.shape[0])
          - name: actually-right
            code: |
              def solve(x):
                  return x.T
        alternatives:
          - name: transpose
            code: |
              def solve(x):
                  return x.transpose(0, 1)
          - name: not-an-alternative
            code: |
              def solve(x):
                  return x.flip(0).T
        """)
    report = _report(tree, text)
    out = report.format()
    assert "wrong answer unchanged [torch]: fails as declared (score 0.00, " in out
    assert "claims-the-wrong-code: fails, but without the declared diagnosis wrong_contraction (got " in out
    assert "actually-right: a declared wrong answer passes every case and rule" in out
    assert "alternative transpose [torch]: passes, as declared" in out
    assert "not-an-alternative: a declared alternative does not pass (score 0.00)" in out
    assert len(report.errors) == 3 and not report.ok, out


def test_validate_says_what_the_linter_tried_and_why_it_did_not_apply(tree: Callable[..., Path]) -> None:
    out = _report(tree, BASE).format()
    assert "permute-2d: reference: passes all 2 cases (1 visible) in torch" in out
    assert "reshape: caught by example (values)" in out
    assert "unchanged_input: not applicable (no case has the shape it would need)" in out
    assert "reversed_axes: the reference's own behaviour" in out
    assert "wrong_dtype: as int32: caught by example (dtype)" in out
    reduction = BASE.replace("return x.permute(1, 0)", "return x.sum(0)")
    out = _report(tree, reduction).format()
    assert "only wrong_dtype applied: the result never has the input's shape or size" in out
    assert "no wrong_answers are declared" in out
    tuple_out = BASE.replace("return x.permute(1, 0)", "return x, x")
    assert "lint: not applied: the reference output is not a single tensor/array" in _report(tree, tuple_out).format()


def test_constant_inputs_are_reported(tree: Callable[..., Path]) -> None:
    # numpy-100's block sum on all-ones input: a classic wrong block-sum would pass, so validate says so.
    text = BASE.replace("[[1, 2, 3], [4, 5, 6]]", "{ones: [2, 3]}").replace("{arange: [3, 5]}", "{full: [3, 5], fill: 2}")
    report = _report(tree, text)
    assert any("x is constant in every case" in str(w) for w in report.warnings)
    assert "inputs: x is constant in every case" in report.format()


def test_a_failing_reference_shows_its_own_error(tree: Callable[..., Path]) -> None:
    broken = BASE.replace("return x.permute(1, 0)", "return x.permute(1, 0) + undefined_name")
    [error] = _report(tree, broken).errors
    assert "NameError: name 'undefined_name' is not defined" in str(error)


def test_validate_takes_a_file_a_track_folder_or_the_root(tree: Callable[..., Path]) -> None:
    root = tree()
    tree(track="other", name="second")
    engine = Engine(InProcessRunner())
    assert validate_dir(root, engine).exercises == 2
    assert validate_dir(root / "other", engine).exercises == 1
    report = validate_dir(root / "basics" / "permute-2d.yaml", engine)
    assert report.exercises == 1 and list(report.details) == ["permute-2d"] and report.ok


def test_static_rules_check_runs_without_a_sandbox(tree: Callable[..., Path]) -> None:
    text = _with("rules: {allow: [transpose]}\n")
    [error] = validate_dir(tree(text=text)).errors
    assert "the reference solution (torch) breaks its own rules" not in str(error)
    assert "breaks its own rules: Your code: uses `permute`" in str(error)


def test_the_classics_track_is_credited_and_uses_every_feature() -> None:
    catalog = load_catalog(REPO / "exercises")
    classics = [ex for ex in catalog if ex.track == "classics"]
    assert len(classics) >= 10
    assert all("MIT" in ex.prompt.en and "MIT" in ex.prompt.ja for ex in classics)
    assert any(ex.rules.allow is not None and ex.rules.single_expression for ex in classics)
    assert any(ex.helpers for ex in classics)
    assert any(len(ex.offered) == 2 and "einops" in ex.solution for ex in classics)
    assert any(ex.generate for ex in classics)
    assert sum(len(ex.wrong_answers) for ex in classics) >= 20 and all(ex.alternatives for ex in classics)

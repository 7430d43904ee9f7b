"""Per-learner variants: params, ${...} substitution, seeding from the learner, and validation of every variant."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from service.exercises import load_catalog, materialize, personalize, variants

MOVE_AXIS = """\
id: move-axis
kind: code
framework: torch
title: {en: "Move an axis", ja: "軸を移動する"}
prompt:
  en: "Move axis ${axis} of `x` (shape (${B}, 3, 4)) to the end."
  ja: "`x`(形状 (${B}, 3, 4))の軸${axis} を最後に移動します。"
difficulty: 2
params:
  B: [2, 5]
  axis: [0, 1]
starter: |
  def solve(x):
      \"\"\"x: (${B}, 3, 4).\"\"\"
      ...
solution: |
  def solve(x):
      return x.movedim(${axis}, -1)
cases:
  - name: example
    visible: true
    args: {x: {coded: ["${B}", 3, 4]}}
  - args: {x: {arange: ["${B + 1}", 4, 2]}}
    expect_shape: "${[[4, 2, B + 1], [B + 1, 2, 4]][axis]}"
"""


def test_default_variant_and_learner_variants(tree: Callable[..., Path]) -> None:
    catalog = load_catalog(tree(name="move-axis", text=MOVE_AXIS))
    assert catalog.errors == []
    ex = catalog.get("move-axis")
    assert ex is not None and ex.variant == "B=2,axis=0" and dict(ex.params) == {"B": (2, 5), "axis": (0, 1)}
    assert "Move axis 0" in ex.prompt.en and "movedim(0, -1)" in ex.solution
    seen = {personalize.for_learner(ex, uid).variant for uid in range(40)}
    assert seen == {"B=2,axis=0", "B=2,axis=1", "B=5,axis=0", "B=5,axis=1"}  # learners spread over all of them
    mine = personalize.for_learner(ex, 7)
    assert personalize.for_learner(ex, 7).variant == mine.variant  # stable for one learner
    b, axis = (int(part.split("=")[1]) for part in mine.variant.split(","))
    assert f"Move axis {axis}" in mine.prompt.en and f"({b}, 3, 4)" in mine.starter
    assert f"movedim({axis}, -1)" in mine.solution and mine.variant_seed == variants.learner_seed("move-axis", 7)
    # visible and hidden cases both follow the variant (the grids are drawn from these inputs)
    shapes = [materialize(case, "torch")[0].array.shape for case in mine.cases]  # type: ignore[union-attr]
    assert shapes == [(b, 3, 4), (b + 1, 4, 2)]
    assert mine.cases[1].expect_shape == ((4, 2, b + 1), (b + 1, 2, 4))[axis]


def test_seeds_differ_per_exercise_and_learner() -> None:
    assert variants.learner_seed("a", 1) != variants.learner_seed("b", 1) != variants.learner_seed("a", 2)


def test_substitution_is_typed_and_textual() -> None:
    values = {"B": 3, "perm": [2, 0, 1], "layout": {"name": "NHWC"}}
    assert variants.substitute({"shape": ["${B}", "${B * 2}"], "call": "x.permute(${perm})",
                                "text": "${layout.name} with ${perm[0]}"}, values) == {
        "shape": [3, 6], "call": "x.permute(2, 0, 1)", "text": "NHWC with 2"}
    for bad in ("${C}", "${B.name}", "${__import__('os')}", "${B / 2}"):
        with pytest.raises(variants.VariantError):
            variants.substitute(bad, values)


def test_sample_of_a_large_parameter_space_starts_with_the_default() -> None:
    params = {"a": tuple(range(10)), "b": tuple(range(10))}
    picked = variants.all_assignments(params, limit=16)
    assert len(picked) == 16 and picked[0] == {"a": 0, "b": 0}
    assert len({variants.key(p) for p in picked}) == 16


@pytest.mark.parametrize("change, message", [
    ("args: {x: {coded: [\"${B}\", 3, 4]}}", "names no parameter"),
    ("axis: [0, 1]", "non-empty list of options"),
])
def test_bad_params_are_located(tree: Callable[..., Path], change: str, message: str) -> None:
    text = MOVE_AXIS
    if "coded" in change:
        text = text.replace(change, "args: {x: {coded: [\"${C}\", 3, 4]}}")
    else:
        text = text.replace(change, "axis: []")
    errors = [str(e) for e in load_catalog(tree(name="move-axis", text=text)).errors]
    assert any(message in e for e in errors), errors


def test_an_error_in_one_variant_only_is_labelled(tree: Callable[..., Path]) -> None:
    text = MOVE_AXIS.replace("B: [2, 5]", "B: [2, 11]")  # coded values allow sizes up to 10 only
    errors = [str(e) for e in load_catalog(tree(name="move-axis", text=text)).errors]
    assert errors and all("in the variant B=11" in e for e in errors), errors


def test_validation_runs_the_reference_of_every_variant(tree: Callable[..., Path]) -> None:
    from exercise_support import InProcessRunner

    from service.authoring.validate import validate_dir
    from service.grading.engine import Engine

    good = validate_dir(tree(name="move-axis", text=MOVE_AXIS), engine=Engine(InProcessRunner()))
    assert good.errors == [], [str(e) for e in good.errors]
    # A pin that only one variant's reference contradicts: reported with that variant.
    wrong = MOVE_AXIS.replace('"${[[4, 2, B + 1], [B + 1, 2, 4]][axis]}"', '"${[[4, 2, B + 1], [B + 1, 4, 2]][axis]}"')
    bad = validate_dir(tree(name="move-axis", text=wrong), engine=Engine(InProcessRunner()))
    messages = [str(e) for e in bad.errors]
    assert messages and all("expect_shape pins" in e and "axis=1" in e for e in messages), messages

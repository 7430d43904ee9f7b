"""Generated inputs (issue 15): new kinds, random shapes, derived arguments, generate: N, variant seeds."""

from __future__ import annotations

import numpy as np
import pytest

from service.domain import Case, Generate
from service.exercises.generated import generated_cases, templates_of
from service.exercises.inputs import SpecError, array_from_spec, materialize


def _args(args: dict, framework: str = "torch", salt: int | None = None, seed: int = 0) -> dict:
    return {a.name: (a.array if a.array is not None else a.value)
            for a in materialize(Case("c", False, args, salt), framework, seed)}


def test_constant_kinds_follow_the_framework_dtype() -> None:
    assert array_from_spec({"ones": [2, 3]}, "torch").dtype == np.float32  # type: ignore[union-attr]
    assert array_from_spec({"zeros": [2]}, "numpy").tolist() == [0.0, 0.0]  # type: ignore[union-attr]
    full = array_from_spec({"full": [2, 2], "fill": 7}, "torch")
    assert full.dtype == np.int64 and full.tolist() == [[7, 7], [7, 7]]  # type: ignore[union-attr]
    assert array_from_spec({"full": [1], "fill": True}, "torch").dtype == np.bool_  # type: ignore[union-attr]
    assert array_from_spec({"ones": [2], "dtype": "int8"}, "torch").dtype == np.int8  # type: ignore[union-attr]


def test_randint_and_mask_are_seeded_and_bounded() -> None:
    a = array_from_spec({"randint": [1000], "low": 3, "high": 6, "seed": 4}, "torch")
    assert a.dtype == np.int64 and set(a.tolist()) == {3, 4, 5}  # type: ignore[union-attr]
    assert np.array_equal(a, array_from_spec({"randint": [1000], "low": 3, "high": 6, "seed": 4}, "torch"))
    m = array_from_spec({"mask": [2000], "p": 0.25}, "numpy")
    assert m.dtype == np.bool_ and 0.2 < m.mean() < 0.3  # type: ignore[union-attr]
    with pytest.raises(SpecError, match="probability"):
        array_from_spec({"mask": [3], "p": 2}, "numpy")


def test_random_shapes_are_drawn_from_inclusive_ranges_and_reproducible() -> None:
    spec = {"randint": {"random": [[2, 6], [3, 3]], "seed": 9}}
    shapes = {array_from_spec(spec | {"seed": s}, "torch").shape for s in range(5)}  # type: ignore[union-attr]
    assert len(shapes) == 1  # the value seed does not move the shape
    shape = shapes.pop()
    assert 2 <= shape[0] <= 6 and shape[1] == 3
    drawn = {array_from_spec({"ones": {"random": [[2, 6]], "seed": s}}, "torch").shape[0]  # type: ignore[union-attr]
             for s in range(40)}
    assert drawn == {2, 3, 4, 5, 6}
    with pytest.raises(SpecError, match="low <= high"):
        array_from_spec({"ones": {"random": [[5, 2]]}}, "torch")


def test_dim_of_and_index_read_another_argument_in_any_order() -> None:
    args = _args({"i": {"dim_of": ["a", 1]}, "idx": {"index": ["a", 0], "shape": [50]},
                  "a": {"arange": [4, 7]}, "b": {"zeros": [{"dim_of": ["a", 0]}, 2]}})
    assert args["i"] == 7 and args["b"].shape == (4, 2)
    assert args["idx"].dtype == np.int64 and set(args["idx"].tolist()) == {0, 1, 2, 3}
    assert list(_args({"a": {"arange": [4, 7]}, "n": {"dim_of": ["a", 0]}})) == ["a", "n"]


@pytest.mark.parametrize(("args", "message"), [
    ({"a": {"dim_of": ["b", 0]}, "b": {"ones": [{"dim_of": ["a", 0]}]}}, "cycle"),
    ({"a": {"dim_of": ["nope", 0]}}, "another argument"),
    ({"a": {"ones": [2]}, "n": {"dim_of": ["a", 3]}}, "out of range"),
    ({"a": {"value": 3}, "n": {"dim_of": ["a", 0]}}, "array argument"),
])
def test_bad_references_are_spec_errors(args: dict, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        _args(args)


def test_hand_written_random_values_are_unchanged_by_the_new_seeding() -> None:
    x = _args({"x": {"random": [3, 2], "seed": 7}})["x"]
    assert np.array_equal(x, np.random.default_rng(7).standard_normal((3, 2)).astype("float32"))


def test_generate_is_reproducible_from_the_version_and_moves_with_a_learner_seed() -> None:
    template = ({"a": {"randint": {"random": [[2, 9], [2, 9]]}}},)
    first = generated_cases(Generate(3, template), "v1")
    assert [c.name for c in first] == ["generated-1", "generated-2", "generated-3"]
    assert all(not c.visible for c in first)
    again = generated_cases(Generate(3, template), "v1")
    other = generated_cases(Generate(3, template), "v2")

    def arrays(cases: tuple[Case, ...], seed: int = 0) -> list[np.ndarray]:
        return [materialize(c, "torch", seed)[0].array for c in cases]  # type: ignore[misc]

    assert all(np.array_equal(p, q) for p, q in zip(arrays(first), arrays(again), strict=True))
    assert any(p.shape != q.shape or not np.array_equal(p, q) for p, q in zip(arrays(first), arrays(other), strict=True))
    mine, theirs = arrays(first, seed=11), arrays(first, seed=12)
    assert any(p.shape != q.shape or not np.array_equal(p, q) for p, q in zip(mine, theirs, strict=True))
    assert all(np.array_equal(p, q) for p, q in zip(mine, arrays(first, seed=11), strict=True))


def test_templates_are_the_cases_that_draw_at_random() -> None:
    cases = (Case("fixed", True, {"x": {"arange": [2, 3]}}), Case("drawn", False, {"x": {"ones": {"random": [[2, 4]]}}}),
             Case("values", False, {"x": {"random": [2, 3]}}))
    assert [t["x"] for t in templates_of(cases)] == [{"ones": {"random": [[2, 4]]}}, {"random": [2, 3]}]

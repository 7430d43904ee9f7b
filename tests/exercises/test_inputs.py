"""Argument specs become exactly the documented arrays and values, deterministically."""

from __future__ import annotations

import numpy as np
import pytest

from service.domain import Case
from service.exercises.inputs import SpecError, array_from_spec, materialize


def _one(spec: object, framework: str = "torch") -> np.ndarray:
    arr = array_from_spec(spec, framework)
    assert arr is not None
    return arr


@pytest.mark.parametrize(("literal", "framework", "dtype"), [
    ([[1, 2], [3, 4]], "torch", "int64"), ([[1, 2], [3, 4]], "numpy", "int64"),
    ([1.5, 2], "torch", "float32"), ([1.5, 2], "numpy", "float64"),
    ([True, False], "torch", "bool"), (3, "torch", "int64"), ([], "numpy", "float64"),
])
def test_literal_dtype_follows_the_framework(literal: object, framework: str, dtype: str) -> None:
    arr = _one(literal, framework)
    assert str(arr.dtype) == dtype and arr.tolist() == literal


def test_coded_values_name_their_index() -> None:
    x = _one({"coded": [2, 3, 4]})
    assert x.shape == (2, 3, 4) and x.dtype == np.int64
    assert (x[1, 2, 3], x[0, 1, 2], x[0, 0, 0]) == (1123, 1012, 1000)
    assert _one({"coded": [10, 2]})[9, 1] == 191


def test_arange_start_and_dtype() -> None:
    x = _one({"arange": [2, 3], "start": 5, "dtype": "float32"})
    assert x.dtype == np.float32 and x.tolist() == [[5, 6, 7], [8, 9, 10]]


def test_random_is_seeded_and_typed() -> None:
    a = _one({"random": [4, 2, 3], "dtype": "float32", "seed": 7})
    expected = np.random.default_rng(7).standard_normal((4, 2, 3)).astype("float32")
    assert a.dtype == np.float32 and np.array_equal(a, expected)
    assert np.array_equal(_one({"random": [5]}), np.random.default_rng(0).standard_normal(5).astype("float32"))
    ints = _one({"random": [1000], "dtype": "int16"})
    assert ints.dtype == np.int16 and ints.min() >= -9 and ints.max() <= 9
    assert _one({"random": [200], "dtype": "uint8"}).min() >= 0
    assert set(_one({"random": [50], "dtype": "bool"}).tolist()) == {True, False}
    c = _one({"random": [3], "dtype": "complex64"})
    assert c.dtype == np.complex64 and np.all(c.imag != 0)


def test_literal_with_explicit_dtype_and_value_passthrough() -> None:
    case = Case("c", True, {"x": {"literal": [[1, 2]], "dtype": "uint8"}, "perm": {"value": [2, 0, 1]}})
    x, perm = materialize(case, "torch")
    assert (x.name, x.array.dtype, x.array.tolist()) == ("x", np.uint8, [[1, 2]])  # type: ignore[union-attr]
    assert (perm.name, perm.array, perm.value) == ("perm", None, [2, 0, 1])


@pytest.mark.parametrize(("spec", "message"), [
    ([[1, 2], [3]], "expected a rectangular nested list (all rows the same length), got a ragged list"),
    ([True, 2], "expected all elements to be numbers or all to be booleans, got a mix"),
    ({"arange": [2], "coded": [2]}, "expected a mapping with exactly one of literal/arange/coded/random/value/"
                                    "ones/zeros/full/randint/index/mask/dim_of, "
                                    "got arange and coded"),
    ({"arange": [2], "seed": 1}, "unknown key 'seed' next to arange (allowed: dtype, start)"),
    ({"literal": [1.5], "dtype": "int64"}, "expected integer values for dtype int64, got floats"),
    ({"arange": [-1]}, "expected a shape (a list of non-negative integers), got a negative size"),
])
def test_bad_specs(spec: object, message: str) -> None:
    with pytest.raises(SpecError) as err:
        array_from_spec(spec, "torch")
    assert str(err.value) == message

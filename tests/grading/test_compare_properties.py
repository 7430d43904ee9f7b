"""Property tests: compare_case never raises, is strict-JSON safe, and accepts exactly the identical answer."""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
from grading_support import arg, exercise, facts, tensor
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from service.grading.compare import compare_case

DTYPES = st.sampled_from(["bool", "int8", "int64", "float16", "float32", "float64", "complex64"])
SHAPES = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4)


@st.composite
def arrays(draw: st.DrawFn) -> np.ndarray:
    return draw(hnp.arrays(dtype=draw(DTYPES), shape=draw(SHAPES)))


@settings(max_examples=150, deadline=None)
@given(arrays(), arrays(), st.sampled_from(["exact", "close"]), st.booleans())
def test_any_pair_of_arrays_gives_a_verdict(expected: np.ndarray, actual: np.ndarray, values: str,
                                            visible: bool) -> None:
    ex = exercise(check={"values": values})
    verdict = compare_case(ex, arg(expected), tensor(expected), tensor(actual), facts(), visible=visible)
    json.dumps([asdict(c) for c in verdict.checks] + [asdict(d) for d in verdict.diagnoses], allow_nan=False)
    if not visible:
        assert all("first" not in d.details for d in verdict.diagnoses)
    assert verdict.passed is all(c.passed for c in verdict.checks)
    same = compare_case(ex, arg(expected), tensor(expected), tensor(expected.copy()), facts())
    assert same.passed  # NaN in the same places still matches

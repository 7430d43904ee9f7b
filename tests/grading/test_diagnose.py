"""Pure diagnosis functions on real wrong answers computed with numpy (and torch where it matters)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from grading_support import coded
from hypothesis import given, settings
from hypothesis import strategies as st

from service.grading.diagnose import (
    T_WARNING,
    close_mask,
    find_permutation,
    is_rearrangement,
    mismatch_details,
    rearrangement_finding,
)

ARTICLE = np.array([[1, 2, 3], [4, 5, 6]])


def test_reshape_instead_of_permute_on_the_article_example() -> None:
    expected = ARTICLE.transpose(1, 0)  # [[1,4],[2,5],[3,6]]
    got = ARTICLE.reshape(3, 2)  # [[1,2],[3,4],[5,6]]
    finding = rearrangement_finding(ARTICLE, expected, got)
    assert finding is not None
    assert finding.code == "reshape_instead_of_permute"
    assert finding.details == {"applied_call": "x.reshape(3, 2)", "expected_call": "x.permute(1, 0)"}


def test_wrong_axis_order_on_nchw_gives_the_exact_permutations() -> None:
    x = coded(2, 3, 4, 5)  # N, C, H, W with distinct sizes
    expected = x.transpose(0, 2, 3, 1)  # NHWC
    got = torch.from_numpy(x).permute(0, 3, 2, 1).numpy()  # the learner's swapaxes(1, 3) mistake
    finding = rearrangement_finding(x, expected, got)
    assert finding is not None and finding.code == "wrong_axis_order"
    assert finding.details == {"applied": [0, 3, 2, 1], "expected": [0, 2, 3, 1]}


def test_wrong_axis_order_on_a_square_input_where_shapes_cannot_tell() -> None:
    x = coded(3, 3, 3)
    finding = rearrangement_finding(x, x.transpose(1, 2, 0), x.transpose(2, 0, 1))
    assert finding is not None and finding.code == "wrong_axis_order"
    assert finding.details["applied"] == [2, 0, 1] and finding.details["expected"] == [1, 2, 0]


@pytest.mark.parametrize("warned", [True, False])
def test_transpose_all_axes_on_3d(warned: bool) -> None:
    x = coded(2, 3, 4)
    expected = torch.from_numpy(x).permute(0, 2, 1).numpy()
    got = x.T  # reverses all three axes
    warnings = [f"UserWarning: {T_WARNING} to reverse their shape is deprecated"] if warned else []
    finding = rearrangement_finding(x, expected, got, warnings)
    assert finding is not None and finding.code == "transpose_all_axes"
    assert finding.details["applied"] == [2, 1, 0] and finding.details["expected"] == [0, 2, 1]
    assert finding.details["warning_seen"] is warned


def test_2d_transpose_is_not_transpose_all_axes() -> None:
    # On 2-D, .T is the right answer; returning x itself (identity) reads as reshape-in-memory-order.
    x = coded(4, 4)
    finding = rearrangement_finding(x, x.T, x.copy())
    assert finding is not None and finding.code == "reshape_instead_of_permute"


def test_heads_split_by_reshape_alone() -> None:
    b, t, h, d = 2, 3, 4, 5
    x = np.arange(b * t * h * d).reshape(b, t, h * d)
    expected = x.reshape(b, t, h, d).transpose(0, 2, 1, 3)
    got = x.reshape(b, h, t, d)
    finding = rearrangement_finding(x, expected, got)
    assert finding is not None and finding.code == "heads_split_wrong"
    assert finding.details["direction"] == "split"
    assert finding.details["applied_call"] == "x.reshape(2, 4, 3, 5)"
    assert finding.details["expected_call"] == "x.reshape(2, 3, 4, 5).permute(0, 2, 1, 3)"


def test_heads_merged_without_transposing_back() -> None:
    b, h, t, d = 2, 4, 3, 5
    x = np.arange(b * h * t * d).reshape(b, h, t, d)
    expected = x.transpose(0, 2, 1, 3).reshape(b, t, h * d)
    got = x.reshape(b, t, h * d)
    finding = rearrangement_finding(x, expected, got)
    assert finding is not None and finding.code == "heads_split_wrong"
    assert finding.details["direction"] == "merge"
    assert finding.details["expected_call"] == "x.permute(0, 2, 1, 3).reshape(2, 3, 20)"


def test_heads_split_with_head_and_dim_swapped_is_found_by_the_search() -> None:
    b, t, h, d = 2, 3, 4, 5
    x = np.arange(b * t * h * d).reshape(b, t, h * d)
    expected = x.reshape(b, t, h, d).transpose(0, 2, 1, 3)
    got = x.reshape(b, t, d, h).transpose(0, 3, 1, 2)  # (H, D) split order reversed
    finding = rearrangement_finding(x, expected, got)
    assert finding is not None and finding.code == "heads_split_wrong"
    assert finding.details["applied_call"] == "x.reshape(2, 3, 5, 4).permute(0, 3, 1, 2)"


def test_no_finding_when_values_are_not_a_rearrangement() -> None:
    x = coded(2, 3)
    assert rearrangement_finding(x, x.T, x.T + 1) is None
    assert rearrangement_finding(x, x.T + 1, x.T) is None  # expected is arithmetic, not a rearrangement
    assert rearrangement_finding(x, x.T, x.T) is None  # correct answers have nothing to explain


def test_find_permutation_and_rearrangement_helpers() -> None:
    x = coded(2, 3, 4)
    assert find_permutation(x, x.transpose(1, 2, 0)) == (1, 2, 0)
    assert find_permutation(x, x.reshape(3, 2, 4)) is None
    assert is_rearrangement(x, x.reshape(4, 6)) and not is_rearrangement(x, x[:1])


def test_close_mask_tolerances_nan_and_inf() -> None:
    e = np.array([1.0, np.nan, np.inf, -np.inf, 2.0], dtype=np.float32)
    a = np.array([1.0 + 1e-7, np.nan, np.inf, np.inf, 2.1], dtype=np.float32)
    assert close_mask(e, a, 1.3e-6, 1e-5).tolist() == [True, True, True, False, False]
    assert close_mask(e, a, 0.0, 0.0).tolist() == [False, True, True, False, False]
    # NaN must match NaN position-wise, not anywhere.
    assert close_mask(np.array([np.nan, 1.0]), np.array([1.0, np.nan]), 1.0, 1.0).tolist() == [False, False]


def test_close_mask_complex_compares_real_and_imag_parts() -> None:
    e = np.array([1 + 1j, 2 - 2j], dtype=np.complex64)
    a = np.array([1 + 1j, 2 + 2j], dtype=np.complex64)
    assert close_mask(e, a, 1.3e-6, 1e-5).tolist() == [True, False]


def test_close_mask_big_integers_stay_exact() -> None:
    e = np.array([2**62 + 1], dtype=np.int64)
    a = np.array([2**62], dtype=np.int64)
    assert close_mask(e, a, 0.0, 0.0).tolist() == [False]


def test_mismatch_details_reveal_only_when_allowed() -> None:
    e = np.arange(6).reshape(2, 3)
    a = e.copy()
    a[0, 1] = 9
    a[1, 2] = 7
    a[1, 0] = 8
    mask = close_mask(e, a, 0, 0)
    shown = mismatch_details(e, a, mask, reveal=True)
    assert shown["mismatched"] == 3 and shown["total"] == 6
    assert shown["first"][0] == {"index": [0, 1], "expected": 1, "got": 9}
    assert [f["index"] for f in shown["first"]] == [[0, 1], [1, 0], [1, 2]]
    hidden = mismatch_details(e, a, mask, reveal=False)
    assert "first" not in hidden and hidden["mismatched"] == 3


def test_straight_reshape_that_is_no_head_split_reads_as_reshape() -> None:
    # Patchify: (B, C, H, W) -> (B, patches, p*p*C) goes through a 6-D permute; reshape alone is the M1 mistake.
    b, c, h, w, p = 2, 3, 4, 6, 2
    x = np.arange(b * c * h * w).reshape(b, c, h, w)
    expected = x.reshape(b, c, h // p, p, w // p, p).transpose(0, 2, 4, 3, 5, 1).reshape(b, -1, p * p * c)
    got = x.reshape(expected.shape)
    finding = rearrangement_finding(x, expected, got)
    assert finding is not None and finding.code == "reshape_instead_of_permute"
    assert finding.details["expected_call"] is None and finding.details["applied_call"] == "x.reshape(2, 6, 12)"


@settings(max_examples=120, deadline=None)
@given(st.lists(st.integers(2, 4), min_size=2, max_size=4).flatmap(
    lambda shape: st.tuples(st.just(shape), st.permutations(range(len(shape))), st.permutations(range(len(shape))))))
def test_any_wrong_permutation_is_named_exactly(data: tuple[list[int], list[int], list[int]]) -> None:
    shape, p, q = data
    x = coded(*shape)  # distinct values and sizes >= 2: a permutation is identified by its result
    finding = rearrangement_finding(x, x.transpose(p), x.transpose(q))
    if p == q:
        assert finding is None
        return
    assert finding is not None
    identity, reverse = list(range(len(shape))), list(reversed(range(len(shape))))
    if q == identity and x.transpose(q).shape == x.transpose(p).shape:
        assert finding.code == "reshape_instead_of_permute"
    elif q == reverse and len(shape) > 2:
        assert finding.code == "transpose_all_axes" and finding.details["expected"] == list(p)
    else:
        assert finding.code == "wrong_axis_order"
        assert finding.details == {"applied": list(q), "expected": list(p)}

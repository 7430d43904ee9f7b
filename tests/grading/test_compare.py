"""compare_case: type, strict shape, dtype, device, tolerant values, nested outputs, structure and hiding."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from grading_support import arg, coded, codes, exercise, facts, scalar, seq, tensor

from service.domain import Text
from service.grading.compare import compare_case, tolerance
from service.sandbox.protocol import Value

ARTICLE = np.array([[1, 2, 3], [4, 5, 6]])


def test_correct_answer_passes_with_all_checks() -> None:
    ex = exercise()
    v = compare_case(ex, arg(ARTICLE), tensor(ARTICLE.T), tensor(ARTICLE.T.copy()), facts())
    assert v.passed and v.diagnoses == []
    assert [c.name for c in v.checks] == ["shape", "dtype", "device", "values", "input_unchanged"]
    assert all(c.passed and c.messages["en"] and c.messages["ja"] for c in v.checks)


def test_numpy_array_where_tensor_was_asked_is_wrong_type() -> None:
    v = compare_case(exercise(), arg(ARTICLE), tensor(ARTICLE.T), tensor(ARTICLE.T, kind="ndarray"), facts())
    assert not v.passed and codes(v.diagnoses) == ["wrong_type"]
    assert v.checks[0].message == "Result type: wrong type, expected torch.Tensor, got numpy.ndarray"


def test_shape_is_strict_never_broadcast() -> None:
    e = np.array([1.0, 2.0, 3.0])
    v = compare_case(exercise(), arg(e), tensor(e), tensor(e.reshape(1, 3)), facts())
    assert not v.passed and codes(v.diagnoses)[0] == "shape_mismatch"
    assert v.diagnoses[0].message == "Result shape: wrong shape, expected (3,), got (1, 3)"
    assert v.diagnoses[0].messages["ja"] == "結果の形状: 形状が違います。正しくは (3,) ですが、(1, 3) になっています。"


def test_shape_mismatch_from_a_wrong_permutation_is_also_explained() -> None:
    x = coded(2, 3, 4, 5)
    got = x.transpose(0, 3, 2, 1)
    v = compare_case(exercise(), arg(x), tensor(x.transpose(0, 2, 3, 1)), tensor(got), facts())
    assert codes(v.diagnoses) == ["shape_mismatch", "wrong_axis_order"]
    axis = v.diagnoses[1]
    assert axis.details["applied"] == [0, 3, 2, 1] and axis.details["expected"] == [0, 2, 3, 1]
    assert "Your result equals `x.permute(0, 3, 2, 1)`; the exercise asks for `x.permute(0, 2, 3, 1)`" in axis.message


def test_dtype_mismatch_is_reported_even_when_values_are_equal() -> None:
    # torch.equal(int, float) is True; the grader must still say the dtype is wrong.
    x = torch.tensor(ARTICLE)
    got = x.float().numpy()
    v = compare_case(exercise(), arg(ARTICLE), tensor(ARTICLE), tensor(got), facts())
    assert not v.passed and codes(v.diagnoses) == ["dtype_mismatch"]
    assert v.diagnoses[0].message == "Result dtype: wrong dtype, expected int64, got float32"


def test_dtype_check_can_be_disabled() -> None:
    v = compare_case(exercise(check={"dtype": False}), arg(ARTICLE), tensor(ARTICLE),
                     tensor(ARTICLE.astype(np.float32)), facts())
    assert v.passed


def test_device_mismatch() -> None:
    v = compare_case(exercise(), arg(ARTICLE), tensor(ARTICLE, device="cuda:0"), tensor(ARTICLE), facts())
    assert codes(v.diagnoses) == ["device_mismatch"]


def test_value_mismatch_counts_and_first_three_positions() -> None:
    e = np.arange(12).reshape(3, 4)
    a = e.copy()
    a[0, 0], a[1, 1], a[2, 2], a[2, 3] = 100, 101, 102, 103
    v = compare_case(exercise(), arg(e + 1000), tensor(e), tensor(a), facts())
    [d] = v.diagnoses
    assert d.code == "value_mismatch" and d.details["mismatched"] == 4 and d.details["total"] == 12
    assert [f["index"] for f in d.details["first"]] == [[0, 0], [1, 1], [2, 2]]
    assert d.message.startswith("Result values: 4 of 12 elements differ; at (0, 0): expected 0, got 100")


def test_hidden_case_never_reveals_values() -> None:
    e = np.arange(12).reshape(3, 4)
    a = e + 1
    v = compare_case(exercise(), arg(e), tensor(e), tensor(a), facts(), visible=False)
    [d] = v.diagnoses
    assert "first" not in d.details and d.message == "Result values: 12 of 12 elements differ"
    wrong_shape = compare_case(exercise(), arg(e), tensor(e), tensor(e.T), facts(), visible=False)
    assert "(3, 4)" in wrong_shape.diagnoses[0].message  # shapes are fine to show


def test_reshape_instead_of_permute_replaces_nothing_but_adds_the_explanation() -> None:
    v = compare_case(exercise(), arg(ARTICLE), tensor(ARTICLE.T), tensor(ARTICLE.reshape(3, 2)), facts())
    assert codes(v.diagnoses) == ["value_mismatch", "reshape_instead_of_permute"]


@pytest.mark.parametrize(("dtype", "rel", "ok"), [
    ("float32", 1e-7, True), ("float32", 1e-4, False),
    ("float64", 1e-9, True), ("float64", 1e-6, False),
    ("float16", 5e-4, True), ("float16", 5e-2, False),
])
def test_close_values_use_dtype_defaults(dtype: str, rel: float, ok: bool) -> None:
    e = np.array([1.5, 100.0, 3.25], dtype=dtype)
    a = (e.astype(np.float64) * (1 + rel)).astype(dtype)
    v = compare_case(exercise(check={"values": "close"}), arg(e), tensor(e), tensor(a), facts())
    assert v.passed is ok


def test_bfloat16_and_overrides() -> None:
    spec = exercise(check={"values": "close"}).check
    assert tolerance(spec, "bfloat16", "bfloat16") == (1.6e-2, 1e-5)
    assert tolerance(spec, "float32", "float64") == (1.3e-6, 1e-5)  # mixed dtypes: the larger tolerance
    assert tolerance(exercise().check, "float32", "float32") == (0.0, 0.0)  # values: exact
    e = np.array([1.0, 2.0], dtype=np.float32)
    loose = exercise(check={"values": "close", "rtol": 0.1, "atol": 0.0})
    assert compare_case(loose, arg(e), tensor(e), tensor(e * 1.05), facts()).passed
    assert not compare_case(exercise(check={"values": "close"}), arg(e), tensor(e), tensor(e * 1.05), facts()).passed


def test_nested_outputs_compare_elementwise_with_paths() -> None:
    r, p = ARTICLE.reshape(3, 2), ARTICLE.T
    expected = seq(tensor(r), tensor(p))
    got = seq(tensor(r), tensor(r), kind="list")  # list vs tuple is fine; the second item is wrong
    v = compare_case(exercise(), arg(ARTICLE), expected, got, facts())
    assert not v.passed
    assert v.diagnoses[0].details["path"] == "out[1]"
    assert v.diagnoses[0].message.startswith("Result out[1] values: 4 of 6 elements differ")
    short = compare_case(exercise(), arg(ARTICLE), expected, seq(tensor(r)), facts())
    assert codes(short.diagnoses) == ["shape_mismatch"]
    assert short.diagnoses[0].message == "Result length: wrong number of items, expected 2, got 1"


def test_scalar_answers_use_wrong_answer() -> None:
    v = compare_case(exercise(), arg(ARTICLE), scalar(6), scalar(5), facts())
    assert codes(v.diagnoses) == ["wrong_answer"] and "expected 6, got 5" in v.diagnoses[0].message
    hidden = compare_case(exercise(), arg(ARTICLE), scalar(6), scalar(5), facts(), visible=False)
    assert "6" not in hidden.diagnoses[0].message
    assert codes(compare_case(exercise(), arg(ARTICLE), scalar(6), scalar(6.0), facts()).diagnoses) == ["wrong_type"]


def test_structural_checks_view_contiguous_channels_last() -> None:
    x = torch.tensor(ARTICLE)
    ex = exercise(check={"view_of_input": True})
    copy = compare_case(ex, arg(ARTICLE), tensor(ARTICLE.T), tensor(x.permute(1, 0).contiguous().numpy()), facts())
    assert codes(copy.diagnoses) == ["not_a_view"]
    view = compare_case(ex, arg(ARTICLE), tensor(ARTICLE.T), tensor(ARTICLE.T, shares=("x",)), facts())
    assert view.passed
    cont = compare_case(exercise(check={"contiguous": True}), arg(ARTICLE), tensor(ARTICLE.T),
                        tensor(ARTICLE.T), facts())
    assert codes(cont.diagnoses) == ["not_contiguous"] and cont.diagnoses[0].details["strides"] == [1, 3]
    cl = compare_case(exercise(check={"channels_last": True}), arg(ARTICLE), tensor(ARTICLE),
                      tensor(ARTICLE, channels_last=False), facts())
    assert codes(cl.diagnoses) == ["not_channels_last"]


def test_gpu_cases_leave_view_and_mutation_to_the_cpu_cases_and_a_forged_device_changes_nothing() -> None:
    # A CUDA output lives in GPU memory the trusted side cannot read, so "shares the input" and "input
    # unchanged" cannot be verified on a @cuda case: only the engine's on_gpu flag skips them there.
    ex = exercise(check={"view_of_input": True}, devices=("cpu", "cuda"))
    gpu_view = tensor(ARTICLE.T, device="cuda")  # what the sandbox reports for x.permute(1, 0) on the GPU
    v = compare_case(ex, arg(ARTICLE), tensor(ARTICLE.T, device="cuda"), gpu_view, facts(unchanged=False),
                     on_gpu=True)
    assert v.passed and [c.name for c in v.checks] == ["shape", "dtype", "device", "values"]
    # An attacker on a CPU case claims device="cuda" for a copy: the view check still applies (and the
    # device check fails), because the flag comes from the engine, never from the child's report.
    forged = compare_case(ex, arg(ARTICLE), tensor(ARTICLE.T), tensor(ARTICLE.T.copy(), device="cuda"),
                          facts(unchanged=False))
    assert {"not_a_view", "input_mutated"} <= set(codes(forged.diagnoses)) and not forged.passed


def test_input_mutated_and_hint_attached() -> None:
    ex = exercise(hints={"input_mutated": Text("Use x + 1, not x.add_(1).", "x.add_(1) ではなく x + 1 を使いましょう。")})
    v = compare_case(ex, arg(ARTICLE), tensor(ARTICLE), tensor(ARTICLE), facts(unchanged=False))
    assert not v.passed and codes(v.diagnoses) == ["input_mutated"]
    assert v.diagnoses[0].hint == {"en": "Use x + 1, not x.add_(1).", "ja": "x.add_(1) ではなく x + 1 を使いましょう。"}
    ignored = exercise(check={"input_unchanged": False})
    assert compare_case(ignored, arg(ARTICLE), tensor(ARTICLE), tensor(ARTICLE), facts(unchanged=False)).passed


def test_nhwc_permute_where_channels_last_memory_was_asked() -> None:
    x = coded(2, 3, 4, 5)
    v = compare_case(exercise(check={"channels_last": True}), arg(x), tensor(x, channels_last=True),
                     tensor(x.transpose(0, 2, 3, 1)), facts())
    assert codes(v.diagnoses) == ["shape_mismatch", "not_channels_last"]
    assert v.diagnoses[1].details == {"applied": [0, 2, 3, 1], "permuted": True, "input": "x"}
    assert "channels_last keeps the shape (N, C, H, W)" in v.diagnoses[1].message


def test_qkv_split_pieces_are_explained_together() -> None:
    b, t, h, d = 2, 3, 2, 2
    x = np.arange(b * t * 3 * h * d).reshape(b, t, 3 * h * d)
    five = x.reshape(b, t, 3, h, d)
    expected = seq(*(tensor(p) for p in five.transpose(2, 0, 3, 1, 4)))  # q, k, v: (B, H, T, D)
    got = seq(*(tensor(p) for p in five.transpose(2, 0, 1, 3, 4)))  # forgot to move H before T
    v = compare_case(exercise(), arg(x), expected, got, facts())
    assert codes(v.diagnoses) == ["shape_mismatch"] * 3 + ["heads_split_wrong"]
    assert v.diagnoses[-1].details["applied_call"] == "x.reshape(2, 3, 3, 2, 2).permute(2, 0, 1, 3, 4)"


def test_ungradable_other_values_never_pass() -> None:
    d = Value(kind="other", type_name="dict")
    v = compare_case(exercise(), arg(ARTICLE), d, Value(kind="other", type_name="dict"), facts())
    assert not v.passed and codes(v.diagnoses) == ["wrong_answer"]
    assert codes(compare_case(exercise(), arg(ARTICLE), d, Value(kind="other", type_name="set"), facts()).diagnoses) \
        == ["wrong_type"]


def test_float_positions_are_shown_with_enough_digits() -> None:
    e = np.array([0.1 + 0.2, 2.0])
    a = np.array([0.3, 2.000001])
    v = compare_case(exercise(), arg(e), tensor(e), tensor(a), facts())
    assert v.diagnoses[0].message == ("Result values: 2 of 2 elements differ; at (0,): expected 0.30000000000000004, "
                                      "got 0.29999999999999999; at (1,): expected 2, got 2.000001")


def test_values_moved_without_a_named_mistake_are_traced_on_visible_cases_only() -> None:
    from service.sandbox.protocol import ArgIn

    x = (np.arange(24) + 100).reshape(2, 3, 4)
    expected = x.reshape(2, 3, 2, 2).transpose(0, 2, 1, 3).reshape(2, 2, 6)
    got = expected[:, ::-1, :].copy()  # no permutation, reshape or split of x explains it
    shown = compare_case(exercise(), (ArgIn("x", array=x),), tensor(expected), tensor(got), facts())
    [values] = [d for d in shown.diagnoses if d.code == "value_mismatch"]
    assert values.message.endswith("`out[0, 0, 0]` holds `x[0, 0, 2]`; it should hold `x[0, 0, 0]`.")
    assert values.messages["ja"].endswith("`out[0, 0, 0]` には `x[0, 0, 2]` が入っています。入るべきなのは `x[0, 0, 0]` です。")
    hidden = compare_case(exercise(), (ArgIn("x", array=x),), tensor(expected), tensor(got), facts(), visible=False)
    assert all("trace" not in d.details and "holds" not in d.message for d in hidden.diagnoses)

"""Quiz grading, AST rules and the learner-facing JSON rendering of values."""

from __future__ import annotations

import json

import numpy as np
import pytest
from grading_support import codes, exercise, seq, tensor

from service.domain import Text
from service.grading.quiz import grade_quiz, parse_shape
from service.grading.render import MAX_SHOWN, render_inputs, render_value
from service.grading.rules import check_rules, used_names
from service.sandbox.protocol import ArgIn, Value

EXPLAIN = Text("permute(1, 0) swaps the two axes.", "permute(1, 0) は2つの軸を入れ替えます。")


@pytest.mark.parametrize("answer", ["(3, 2)", "3,2", "[3, 2]", "torch.Size([3, 2])", [3, 2], " ( 3 , 2 ) "])
def test_shape_quiz_accepts_common_spellings(answer: object) -> None:
    ex = exercise(kind="shape", answer=[3, 2], explanation=EXPLAIN)
    result = grade_quiz(ex, answer)
    assert result.passed and result.score == 1.0
    assert result.explanation == EXPLAIN.to_dict()


def test_shape_quiz_wrong_and_unparsable() -> None:
    ex = exercise(kind="shape", answer=[3, 2], explanation=EXPLAIN)
    wrong = grade_quiz(ex, "(2, 3)")
    assert not wrong.passed and codes(wrong.diagnoses) == ["wrong_answer"]
    assert wrong.diagnoses[0].message == ("Your answer: (2, 3) has the right sizes in the wrong order. Picture "
                                          "each axis carrying its size to its new seat")
    assert wrong.explanation is None and "(3, 2)" not in json.dumps(wrong.to_dict(), ensure_ascii=False)
    assert wrong.feedback["can_reveal"] is True
    given_up = grade_quiz(ex, None, attempt=2, reveal=True)
    assert not given_up.passed and given_up.explanation == EXPLAIN.to_dict()
    assert given_up.diagnoses[0].message == "Your answer: you gave up on this one. The answer is (3, 2)."
    assert given_up.diagnoses[0].messages["ja"] == "あなたの答え: 降参しました。正解は (3, 2) です。"
    bad = grade_quiz(ex, "three by two")
    assert not bad.passed and bad.score == 0.0 and bad.diagnoses[0].details == {"reason": "unparsable"}
    assert parse_shape("()") == () and parse_shape("(4,)") == (4,) and parse_shape([3, -1]) is None


def test_choice_quiz_single_and_multi_order_insensitive() -> None:
    choices = (Text("a", "a"), Text("b", "b"), Text("c", "c"))
    single = exercise(kind="choice", answer=1, choices=choices)
    assert grade_quiz(single, 1).passed and grade_quiz(single, "1").passed
    assert not grade_quiz(single, 2).passed
    multi = exercise(kind="choice", answer=[0, 2], choices=choices)
    assert grade_quiz(multi, [2, 0]).passed
    assert not grade_quiz(multi, [0]).passed
    out_of_range = grade_quiz(multi, [7])
    assert not out_of_range.passed and out_of_range.diagnoses[0].details == {"reason": "unparsable"}
    assert json.dumps(out_of_range.to_dict())


def test_rules_forbid_and_require_on_the_syntax_tree() -> None:
    ex = exercise(rules={"forbid": ["reshape", "einops"], "require": ["permute"]})
    code = "import torch\nfrom einops import rearrange\n\ndef solve(x):\n    return x.reshape(3, 2)\n"
    diags = check_rules(ex, code)
    assert codes(diags) == ["forbidden_name", "forbidden_name", "missing_required_name"]
    assert diags[0].details == {"name": "reshape", "rule": "reshape", "lines": [5]}
    assert diags[1].details == {"name": "einops", "rule": "einops", "lines": [2]}
    # A name that is only a module part of `from a.b import c` is found AND located.
    nn = check_rules(exercise(rules={"forbid": ["nn"]}), "from torch.nn import functional\n")
    assert [d.details for d in nn] == [{"name": "nn", "rule": "nn", "lines": [1]}]
    # Mentioned only in a string or comment: not a use.
    assert check_rules(ex, "def solve(x):\n    # reshape\n    return x.permute(1, 0)  # 'reshape'\n") == []
    assert check_rules(ex, "def solve(x) return") == []  # syntax errors are the sandbox's to report
    assert {"np", "numpy", "linalg"} <= used_names(__import__("ast").parse("import numpy.linalg as np"))


def test_render_tensor_values_rounding_and_nonfinite() -> None:
    a = np.array([[1 / 3, np.nan], [np.inf, -np.inf]], dtype=np.float32)
    out = render_value(tensor(a, dtype="bfloat16"))
    assert out is not None
    assert out["kind"] == "tensor" and out["dtype"] == "bfloat16" and out["shape"] == [2, 2]
    assert out["values"] == [[0.333333, "nan"], ["inf", "-inf"]]
    json.dumps(out, allow_nan=False)


def test_render_complex_nested_and_elided() -> None:
    c = render_value(tensor(np.array([1 + 2j], dtype=np.complex64)))
    assert c is not None and c["values"] == [[1.0, 2.0]]
    big = render_value(tensor(np.arange(MAX_SHOWN + 1)))
    assert big is not None and big["values"] is None and big["elided"] is True and big["preview"][:3] == [0, 1, 2]
    nested = render_value(seq(tensor(np.eye(2)), Value(kind="int", scalar=3)))
    assert nested == {"kind": "tuple", "items": [
        {"kind": "tensor", "dtype": "float64", "shape": [2, 2], "device": "cpu", "values": [[1.0, 0.0], [0.0, 1.0]],
         "strides": [2, 1]},
        {"kind": "int", "value": 3}]}


def test_render_inputs() -> None:
    args = (ArgIn("x", array=np.array([[1, 2], [3, 4]], dtype=np.int64)), ArgIn("dim", value=1))
    assert render_inputs(args, "numpy") == {
        "x": {"kind": "ndarray", "dtype": "int64", "shape": [2, 2], "device": "cpu", "values": [[1, 2], [3, 4]]},
        "dim": {"kind": "value", "value": 1},
    }


def test_render_inputs_shows_the_torch_dtype_the_learner_gets() -> None:
    args = (ArgIn("x", array=np.array([1.5, 2.0], dtype=np.float32), torch_dtype="bfloat16"),)
    assert render_inputs(args, "torch")["x"]["dtype"] == "bfloat16"

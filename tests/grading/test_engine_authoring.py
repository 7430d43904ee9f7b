"""Issue 15 on the real sandbox: new diagnoses from real wrong answers, helpers, einops, frameworks, ranking."""

from __future__ import annotations

from dataclasses import replace

import pytest
import test_engine
from grading_support import codes, exercise

from service.domain import Case, Declared, Generate, Rules, Submission
from service.exercises.generated import generated_cases
from service.grading.engine import Engine
from service.results import GradeResult

engine = test_engine.engine  # the real-sandbox fixture, with the same availability rules


def grade(engine: Engine, ex, code: str, **kw) -> GradeResult:
    return engine.grade(ex, Submission(ex.id, code=code, **kw))


NORMALIZE = exercise(id="a-normalize", framework="numpy", check={"values": "close"},
                     solution="def solve(x):\n    return x / x.sum(axis=1, keepdims=True)\n",
                     cases=(Case("wide", True, {"x": {"arange": [3, 4], "start": 1}}),
                            Case("square", False, {"x": {"randint": [4, 4], "low": 1, "high": 9}})))
# The same, with the square case visible: missing keepdims only gives wrong values (not a broadcast error)
# on a square input, and a hidden case is a sealed oracle that never names the mistake it found.
NORMALIZE_SQUARE = replace(NORMALIZE, id="a-normalize-square",
                           cases=tuple(replace(c, visible=not c.visible) for c in NORMALIZE.cases))
OUTER = exercise(id="a-outer", solution="def solve(a, b):\n    return a[:, None] * b[None, :]\n",
                 cases=(Case("small", True, {"a": [1, 2, 3], "b": [10, 20, 30, 40]}),))
CONTRACT = exercise(id="a-matmul", solution="def solve(a, b):\n    return a @ b\n",
                    cases=(Case("square", True, {"a": {"arange": [3, 3], "start": 1},
                                                 "b": {"randint": [3, 3], "low": -5, "high": 6}}),))
WINDOWS = exercise(id="a-windows", solution="def solve(x, n):\n    return x.unfold(0, n, 1).sum(-1)\n",
                   cases=(Case("ten", True, {"x": {"arange": [10]}, "n": {"value": 3}}),))


@pytest.mark.parametrize(("ex", "code", "code_name"), [
    (NORMALIZE, "def solve(x):\n    return x / x.sum(axis=0, keepdims=True)\n", "wrong_reduction_axes"),
    (NORMALIZE_SQUARE, "def solve(x):\n    return x / x.sum(axis=1)\n", "missing_keepdim"),
    (exercise(id="a-keep", solution="def solve(x):\n    return x.sum(1, keepdim=True)\n",
              cases=(Case("c", True, {"x": {"arange": [3, 4]}}),)),
     "def solve(x):\n    return x.sum(1)\n", "missing_keepdim"),
    (OUTER, "def solve(a, b):\n    return a[None, :] * b[:, None]\n", "wrong_broadcast_axes"),
    (CONTRACT, "def solve(a, b):\n    return a @ b.T\n", "wrong_contraction"),
    (CONTRACT, "import torch\n\ndef solve(a, b):\n    return torch.einsum('ij,ik->jk', a, b)\n", "wrong_contraction"),
    (WINDOWS, "def solve(x, n):\n    return x.unfold(0, n, n).sum(-1)\n", "wrong_window"),
    (WINDOWS, "def solve(x, n):\n    return x.unfold(0, n + 1, 1).sum(-1)\n", "wrong_window"),
])
def test_operation_mistakes_get_their_own_diagnosis(engine: Engine, ex, code: str, code_name: str) -> None:
    result = grade(engine, ex, code)
    assert not result.passed and code_name in codes(result.diagnoses), codes(result.diagnoses)
    found = next(d for d in result.diagnoses if d.code == code_name)
    assert found.messages["en"] and found.messages["ja"] and found.messages["en"] != found.messages["ja"]


def test_the_first_diagnosis_comes_from_a_visible_case(engine: Engine) -> None:
    # Wrong only on the square (hidden) case: a runtime error on the visible one would normally rank first.
    ex = exercise(id="a-rank", framework="numpy", solution="def solve(x):\n    return x / x.sum(axis=1, keepdims=True)\n",
                  check={"values": "close"},
                  cases=(Case("shown", True, {"x": {"arange": [2, 2], "start": 1}}),
                         Case("hidden", False, {"x": {"arange": [3, 4], "start": 1}})))
    code = "def solve(x):\n    if x.shape[0] == 3:\n        raise ValueError('boom')\n    return x / x.sum(axis=0, keepdims=True)\n"
    result = grade(engine, ex, code)
    assert codes(result.diagnoses)[0] == "wrong_reduction_axes"
    assert "runtime_error" in codes(result.diagnoses)


def test_helpers_run_with_the_learner_code_and_rules_skip_them(engine: Engine) -> None:
    helpers = "import torch\n\n\ndef arange(n):\n    return torch.tensor(range(n))\n"
    ex = exercise(id="a-helpers", helpers=helpers, rules=Rules(allow=("shape",), forbid=("tensor",)),
                  solution="def solve(a):\n    return a[arange(a.shape[0]), arange(a.shape[0])]\n",
                  cases=(Case("c", True, {"a": {"coded": [3, 3]}}),))
    assert grade(engine, ex, ex.solution).passed
    # A learner's own arange cannot replace the provided one (the helpers run after the learner's code).
    sneaky = "def arange(n):\n    return 0\n\n\ndef solve(a):\n    return a[arange(a.shape[0]), arange(a.shape[0])]\n"
    assert grade(engine, ex, sneaky).passed
    error = grade(engine, ex, "def solve(a):\n    return a[0]\n    x = (\n")
    assert codes(error.diagnoses)[0] == "syntax_error" and "line 3" in error.diagnoses[0].message


def test_einops_answers_in_both_frameworks(engine: Engine) -> None:
    ex = exercise(id="a-einops", frameworks=("torch", "numpy"),
                  solution="from einops import rearrange\n\ndef solve(x):\n    return rearrange(x, 'b h w -> h (b w)')\n",
                  cases=(Case("c", True, {"x": {"coded": [2, 3, 4]}}),))
    torch_answer = "def solve(x):\n    return x.permute(1, 0, 2).reshape(x.shape[1], -1)\n"
    numpy_answer = "import numpy as np\n\ndef solve(x):\n    return np.transpose(x, (1, 0, 2)).reshape(x.shape[1], -1)\n"
    assert grade(engine, ex, torch_answer).passed
    assert grade(engine, ex, numpy_answer).passed  # picked from the imports
    assert grade(engine, ex, ex.solution, framework="numpy").passed
    wrong = grade(engine, ex, numpy_answer.replace("np.transpose", "np.asarray").replace(", (1, 0, 2))", ")"))
    assert not wrong.passed


def test_a_learner_seed_changes_generated_inputs_but_not_the_verdict(engine: Engine) -> None:
    gen = Generate(2, ({"x": {"randint": {"random": [[2, 6], [2, 6]]}}},))
    ex = exercise(id="a-gen", solution="def solve(x):\n    return x.T\n",
                  cases=(Case("c", True, {"x": {"arange": [2, 3]}}), *generated_cases(gen, "v1")))
    mine = engine.references.get(replace(ex, variant_seed=1), "cpu")
    theirs = engine.references.get(replace(ex, variant_seed=2), "cpu")
    shapes = [(a.args[0].array.shape, b.args[0].array.shape) for a, b in zip(mine.cases, theirs.cases, strict=True)]
    assert shapes[0][0] == shapes[0][1] == (2, 3)
    assert any(a != b for a, b in shapes[1:]) or any(
        (a.args[0].array != b.args[0].array).any() for a, b in zip(mine.cases[1:], theirs.cases[1:], strict=True))
    assert grade(engine, replace(ex, variant_seed=7), "def solve(x):\n    return x.transpose(0, 1)\n").passed


def test_declared_answers_round_trip_through_the_engine(engine: Engine) -> None:
    ex = exercise(id="a-declared", solution=OUTER.solution, cases=OUTER.cases,
                  wrong_answers=(Declared("swap", "def solve(a, b):\n    return a[None, :] * b[:, None]\n",
                                          "wrong_broadcast_axes"),))
    assert "wrong_broadcast_axes" in codes(grade(engine, ex, ex.wrong_answers[0].code).diagnoses)

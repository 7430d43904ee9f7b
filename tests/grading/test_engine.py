"""The real engine on the real sandbox pool: every code-running diagnosis comes from a real wrong answer."""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Iterator
from dataclasses import asdict

import pytest
from grading_support import codes, exercise

from service.domain import Case, Exercise, Rules, Submission
from service.grading.engine import Engine
from service.results import GradeResult
from service.sandbox.pool import SandboxPool

ARTICLE = [[1, 2, 3], [4, 5, 6]]
TRANSPOSE = exercise(
    id="t-permute", solution="def solve(x):\n    return x.permute(1, 0)\n",
    cases=(Case("article", True, {"x": ARTICLE}), Case("coded", False, {"x": {"coded": [3, 5]}})),
)
PERM3 = exercise(
    id="t-perm3", solution="def solve(x):\n    return x.permute(0, 2, 1)\n",
    cases=(Case("coded", True, {"x": {"coded": [2, 3, 4]}}),),
)
NHWC = exercise(
    id="t-nhwc", solution="def solve(x):\n    return x.permute(0, 2, 3, 1)\n",
    cases=(Case("nchw", True, {"x": {"coded": [2, 3, 4, 5]}}),),
)
HEADS = exercise(
    id="t-heads",
    solution="def solve(x, h):\n    b, t, c = x.shape\n    return x.reshape(b, t, h, c // h).transpose(1, 2)\n",
    cases=(Case("btc", True, {"x": {"arange": [2, 3, 8]}, "h": {"value": 2}}),),
)


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    pool = SandboxPool()
    probe = pool.run(_job_probe())
    if probe.status == "unavailable":
        if os.geteuid() != 0:  # the sandbox fails closed without root: nothing to test on such a machine
            pytest.skip(f"sandbox unavailable here: {probe.detail}")
        pytest.fail(f"sandbox unavailable although running as root: {probe.detail}")
    yield Engine(pool)
    pool.close()


def _job_probe():  # a trivial job: is the sandbox usable on this machine at all?
    from service.sandbox.protocol import Job
    return Job(code="def solve():\n    return 1\n", entry="solve", framework="torch", cases=())


def grade(engine: Engine, ex: Exercise, code: str, reveal: bool = True) -> GradeResult:
    # reveal: the full ladder at once (what authors see); tests/grading/test_staging.py checks the rungs.
    result = engine.grade(ex, Submission(ex.id, code=code, reveal=reveal))
    # The contract: always plain, strict JSON and picklable, whatever happened.
    json.dumps(result.to_dict(), allow_nan=False)
    pickle.loads(pickle.dumps(result))
    return result


def solve(body: str, args: str = "x") -> str:
    return f"import torch\n\n\ndef solve({args}):\n    {body}\n"


def test_correct_answer_scores_one(engine: Engine) -> None:
    r = grade(engine, TRANSPOSE, solve("return x.permute(1, 0)"))
    assert r.status == "graded" and r.passed and r.score == 1.0 and r.diagnoses == []
    article = r.cases[0]
    assert article.output is not None and article.output["values"] == [[1, 4], [2, 5], [3, 6]]
    assert article.inputs is not None and article.inputs["x"]["values"] == ARTICLE
    assert set(r.timings) >= {"total_ms", "run_ms", "reference_ms", "compare_ms"}
    assert grade(engine, TRANSPOSE, solve("return x.transpose(0, 1)")).timings["reference_ms"] == 0.0  # cached


def test_reshape_instead_of_permute_and_hidden_case_hides_values(engine: Engine) -> None:
    r = grade(engine, TRANSPOSE, solve("return x.reshape(x.shape[1], x.shape[0])"))
    assert not r.passed and r.score == 0.0
    assert "reshape_instead_of_permute" in codes(r.diagnoses)
    hidden = r.cases[1]
    assert not hidden.visible and hidden.output is None and hidden.expected is None and hidden.inputs is None
    [values] = [d for d in r.diagnoses if d.code == "value_mismatch"]
    assert values.case == "article" and "cases" not in values.details
    # The hidden case is a sealed oracle (issue 8): passed or not and a fixed status, not even a count.
    assert hidden.status == "wrong_answer" and [c.name for c in hidden.checks] == ["result"]
    assert hidden.checks[0].message == "Hidden case: wrong result (details are not shown for hidden cases)"
    [wrong] = [d for d in r.diagnoses if d.code == "wrong_answer"]
    assert wrong.case == "hidden case 1" and wrong.details == {}


def test_the_specific_mistake_comes_first(engine: Engine) -> None:
    # The article's wrong answer also breaks a rule and differs in values; the learner (and the class
    # statistics, which count the first diagnosis) must see "reshape instead of permute" first.
    rules = exercise(id="t-permute-rules", solution="def solve(x):\n    return x.permute(1, 0)\n",
                     cases=TRANSPOSE.cases, rules=Rules(forbid=("reshape",), require=("permute",)))
    r = grade(engine, rules, solve("return x.reshape(x.shape[1], x.shape[0])"))
    got = codes(r.diagnoses)
    assert got[0] == "reshape_instead_of_permute"
    assert got.index("value_mismatch") < got.index("forbidden_name") < len(got)


def test_transpose_all_axes_with_the_deprecation_warning(engine: Engine) -> None:
    r = grade(engine, PERM3, solve("return x.T"))
    [d] = [d for d in r.diagnoses if d.code == "transpose_all_axes"]
    assert d.details["applied"] == [2, 1, 0] and d.details["expected"] == [0, 2, 1]
    assert d.details["warning_seen"] is True


def test_wrong_axis_order(engine: Engine) -> None:
    r = grade(engine, NHWC, solve("return x.permute(0, 3, 2, 1)"))
    [d] = [d for d in r.diagnoses if d.code == "wrong_axis_order"]
    assert d.details["applied"] == [0, 3, 2, 1] and d.details["expected"] == [0, 2, 3, 1]
    assert "shape_mismatch" in codes(r.diagnoses)


def test_heads_merged_without_transpose(engine: Engine) -> None:
    merge = exercise(id="t-merge", solution="def solve(x):\n    b, h, t, d = x.shape\n"
                                             "    return x.transpose(1, 2).reshape(b, t, h * d)\n",
                     cases=(Case("bhtd", True, {"x": {"coded": [2, 3, 4, 5]}}),))
    r = grade(engine, merge, solve("b, h, t, d = x.shape\n    return x.reshape(b, t, h * d)"))
    [d] = [d for d in r.diagnoses if d.code == "heads_split_wrong"]
    assert d.details["direction"] == "merge" and d.details["applied_call"] == "x.reshape(2, 4, 15)"


def test_heads_split_wrong(engine: Engine) -> None:
    r = grade(engine, HEADS, solve("b, t, c = x.shape\n    return x.reshape(b, h, t, c // h)", "x, h"))
    [d] = [d for d in r.diagnoses if d.code == "heads_split_wrong"]
    assert d.details["applied_call"] == "x.reshape(2, 2, 3, 4)"


@pytest.mark.parametrize(("body", "code"), [
    ("return x.numpy()", "wrong_type"),
    ("return x.float().permute(1, 0)", "dtype_mismatch"),
    ("return x.reshape(-1)", "shape_mismatch"),
    ("return x.permute(1, 0) + 1", "value_mismatch"),
    ("return x.add_(1).permute(1, 0)", "input_mutated"),
    ("return x.t_()", "input_mutated"),
])
def test_wrong_results(engine: Engine, body: str, code: str) -> None:
    r = grade(engine, TRANSPOSE, solve(body))
    assert r.status == "graded" and not r.passed and code in codes(r.diagnoses)


def test_view_and_contiguity_checks(engine: Engine) -> None:
    view = exercise(id="t-view", solution=TRANSPOSE.solution, cases=TRANSPOSE.cases,
                    check={"view_of_input": True})
    assert "not_a_view" in codes(grade(engine, view, solve("return x.permute(1, 0).contiguous()")).diagnoses)
    assert grade(engine, view, solve("return x.permute(1, 0)")).passed
    contiguous = exercise(id="t-contig", solution="def solve(x):\n    return x.permute(1, 0).contiguous()\n",
                          cases=TRANSPOSE.cases, check={"contiguous": True})
    assert "not_contiguous" in codes(grade(engine, contiguous, solve("return x.permute(1, 0)")).diagnoses)
    cl = exercise(id="t-cl", solution="import torch\ndef solve(x):\n    return x.contiguous(memory_format=torch.channels_last)\n",
                  cases=NHWC.cases, check={"channels_last": True})
    assert "not_channels_last" in codes(grade(engine, cl, solve("return x.clone()")).diagnoses)


@pytest.mark.parametrize(("code", "expected"), [
    ("def solve(x)\n    return x\n", "syntax_error"),
    ("def solv(x):\n    return x\n", "missing_function"),
    ("raise ValueError('at import')\n", "runtime_error"),
    (solve("while True:\n        pass"), "timeout"),
    (solve("import ctypes\n    ctypes.string_at(0)"), "crashed"),  # a segfault
    (solve("import os\n    os._exit(3)"), "crashed"),
    (solve("b = bytearray(2**34)\n    return x"), "memory_limit"),
    (solve("print('x' * 10**7)\n    return x"), "output_limit"),
    (solve("import ctypes\n    ctypes.CDLL(None).unshare(0x10000000)\n    return x"), "sandbox_violation"),
    (solve("import ctypes\n    ctypes.CDLL(None).ptrace(16, 1, 0, 0)\n    return x"), "sandbox_violation"),
])
def test_run_failures_are_explained_results(engine: Engine, code: str, expected: str) -> None:
    quick = exercise(id="t-quick", solution=TRANSPOSE.solution, cases=TRANSPOSE.cases, limits={"time_s": 0.5})
    r = grade(engine, quick, code)
    assert r.status == "graded" and not r.passed and r.score == 0.0
    assert expected in codes(r.diagnoses), [d.message for d in r.diagnoses]
    assert len(r.cases) == len(TRANSPOSE.cases) and all(c.checks for c in r.cases)


def test_case_exception_visible_vs_hidden(engine: Engine) -> None:
    r = grade(engine, TRANSPOSE, solve("return x.reshape(-1)[99]"))
    visible, hidden = r.cases
    assert visible.error is not None and hidden.error == {"type": "IndexError"}  # a builtin name, no message
    [diag] = [d for d in r.diagnoses if d.code == "runtime_error"]  # one per code; the visible one is kept
    assert diag.case == "article" and "IndexError" in diag.message and "index 99" in diag.message
    assert diag.details["cases"] == ["article", "hidden case 1"]
    assert hidden.name == "hidden case 1" and hidden.status == "runtime_error"
    assert hidden.checks[0].message == ("Hidden case: raised IndexError (details are not shown for hidden cases). "
                                        "An index or axis number that exists for one input may not exist for other "
                                        "sizes or ranks.")  # explained by the type alone


def test_hardcoded_shape_is_named_without_the_hidden_shape(engine: Engine) -> None:
    r = grade(engine, TRANSPOSE, solve("return x.reshape(2, 3).permute(1, 0)"), reveal=False)
    visible, hidden = r.cases
    assert visible.passed and not hidden.passed
    primary = r.diagnoses[0]
    assert primary.code == "hardcoded_shape" and primary.primary and primary.details["sizes"] == [2, 3]
    assert "writes the size 2 as a number (in `reshape`)" in primary.message
    assert "非公開ケース 1 で失敗しています" in primary.messages["ja"]
    text = json.dumps([d.messages for d in r.diagnoses if d.code in ("hardcoded_shape", "runtime_error")],
                      ensure_ascii=False)
    assert "(3, 5)" not in text and "[3, 5]" not in text and "15" not in text  # the hidden case is (3, 5)


def test_self_kill_is_still_an_explained_failure(engine: Engine) -> None:
    # The learner's process is the init of its PID namespace, so SIGKILL to itself is ignored and the call
    # returns None: whatever the sandbox makes of it, the result is complete, explained and failing.
    r = grade(engine, TRANSPOSE, solve("import os\n    os.kill(os.getpid(), 9)"))
    assert not r.passed and r.diagnoses and all(c.checks for c in r.cases)
    assert codes(r.diagnoses)[0] in ("crashed", "wrong_type")


def test_view_error_gets_a_pointer(engine: Engine) -> None:
    r = grade(engine, TRANSPOSE, solve("return x.t().view(-1)"))
    assert any("use .reshape(...)" in d.message for d in r.diagnoses if d.code == "runtime_error")


def test_rules_keep_the_cases_credit_but_fail_and_never_score_full_marks(engine: Engine) -> None:
    ruled = exercise(id="t-rules", solution=TRANSPOSE.solution, cases=TRANSPOSE.cases,
                     rules={"forbid": ["transpose"], "require": ["permute"]})
    r = grade(engine, ruled, solve("return x.transpose(0, 1)"))
    n = len(TRANSPOSE.cases)
    # Every case right, but the exercise did not accept it: a gradebook must not show full marks.
    assert r.score == round(n / (n + 1), 6) and not r.passed and all(c.passed for c in r.cases)
    assert codes(r.diagnoses) == ["forbidden_name", "missing_required_name"]


def test_scalar_output_wrong_answer(engine: Engine) -> None:
    count = exercise(id="t-count", solution="def solve(x):\n    return x.numel()\n", cases=TRANSPOSE.cases)
    r = grade(engine, count, solve("return x.shape[0]"))
    assert "wrong_answer" in codes(r.diagnoses)


def test_gpu_cases_skipped_without_cuda(engine: Engine) -> None:
    gpu = exercise(id="t-gpu", solution=TRANSPOSE.solution, cases=TRANSPOSE.cases, devices=("cpu", "cuda"))
    r = grade(engine, gpu, solve("return x.permute(1, 0)"))
    if engine.has_cuda():
        assert [c.name for c in r.cases][-2:] == ["article@cuda", "hidden case 1@cuda"] and r.passed
    else:
        assert r.passed and r.score == 1.0 and codes(r.diagnoses) == ["gpu_skipped"]


def test_a_view_exercise_with_gpu_cases_judges_the_view_on_the_cpu_cases(engine: Engine) -> None:
    view = exercise(id="t-gpu-view", solution=TRANSPOSE.solution, cases=TRANSPOSE.cases, devices=("cpu", "cuda"),
                    check={"view_of_input": True})
    good = grade(engine, view, solve("return x.permute(1, 0)"))
    assert good.passed, [c.message for c in good.diagnoses]
    if engine.has_cuda():
        assert [c.name for c in good.cases][-2:] == ["article@cuda", "hidden case 1@cuda"]
    copy = grade(engine, view, solve("return x.permute(1, 0).contiguous()"))
    assert not copy.passed and "not_a_view" in codes(copy.diagnoses)


@pytest.mark.parametrize("body", ["return x.permute(1, 0)", "return x.reshape(3, 2)", "raise ValueError('no')",
                                  "return x.permute(1, 0).contiguous().float() + 1"])
def test_to_dict_is_the_deep_dataclass_shape_without_staff(engine: Engine, body: str) -> None:
    # to_dict builds the stored shape field by field (asdict deep-copied every rendered value): it must
    # be exactly what asdict gives, minus the staff-only detail, and plain JSON.
    r = grade(engine, TRANSPOSE, solve(body))
    deep = asdict(r)
    del deep["staff"]
    assert r.to_dict() == deep and "staff" not in r.to_dict()
    assert json.loads(json.dumps(r.to_dict(), allow_nan=False)) == json.loads(json.dumps(deep, allow_nan=False))


def test_broken_reference_is_a_grader_error(engine: Engine) -> None:
    broken = exercise(id="t-broken", solution="def solve(x):\n    return x.permute(2, 0)\n", cases=TRANSPOSE.cases)
    r = grade(engine, broken, solve("return x.permute(1, 0)"))
    assert r.status == "error" and not r.passed and codes(r.diagnoses) == ["grader_error"]


def test_numpy_framework(engine: Engine) -> None:
    ex = exercise(id="t-np", framework="numpy", solution="def solve(x):\n    return x.T\n", cases=TRANSPOSE.cases)
    assert grade(engine, ex, "def solve(x):\n    return x.transpose()\n").passed
    r = grade(engine, ex, "import torch\n\ndef solve(x):\n    return torch.from_numpy(x).T\n")
    assert "wrong_type" in codes(r.diagnoses)

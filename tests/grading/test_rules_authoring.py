"""rules.allow / max_lines / single_expression on real puzzle answers; helpers are exempt (pure, no sandbox)."""

from __future__ import annotations

import pytest
from grading_support import codes, exercise

from service.domain import Rules
from service.grading.rules import check_rules

HELPERS = "import torch\n\n\ndef arange(n):\n    return torch.tensor(range(n))\n"
PUZZLE = exercise(rules=Rules(allow=("arange", "where", "shape"), single_expression=True), helpers=HELPERS)


@pytest.mark.parametrize(("code", "names"), [
    ("import torch\n\ndef solve(a, b):\n    return torch.tensordot(a, b, dims=0)\n", ["tensordot"]),
    ("import torch\n\ndef solve(a):\n    return torch.take(a, arange(a.shape[0]) * (a.shape[0] + 1))\n", ["take"]),
    ("import torch\n\ndef solve(a, b):\n    return torch.column_stack((a, b)).T\n", ["column_stack", "T"]),
    ("def solve(a):\n    return sum(a)\n", ["sum"]),
    ("import math\n\ndef solve(a):\n    return a * math.pi\n", ["math", "pi"]),
    ("def solve(a):\n    return [x for x in a]\n", ["comprehension"]),
])
def test_classic_loopholes_are_outside_the_allow_list(code: str, names: list[str]) -> None:
    found = [d for d in check_rules(PUZZLE, code) if d.code == "not_allowed_name"]
    assert [d.details["name"] for d in found] == names
    assert all("allows only `arange`, `where`, `shape`" in d.message for d in found)
    assert all(d.messages["ja"] for d in found)


def test_allowed_code_uses_helpers_locals_indexing_and_arithmetic() -> None:
    code = ("import torch\n\n\ndef solve(a, b):\n    return torch.where(arange(a.shape[0])[:, None] == 0, "
            "a[:, None] * b[None, :] @ b[:, None], -a[None, :] ** 2)\n")
    assert check_rules(PUZZLE, code) == []


def test_rules_never_apply_to_the_helpers_the_exercise_provides() -> None:
    forbidding = exercise(rules=Rules(forbid=("tensor", "range")), helpers=HELPERS)
    assert check_rules(forbidding, "def solve(a):\n    return a[arange(2)]\n") == []
    assert codes(check_rules(forbidding, "import torch\ndef solve(a):\n    return torch.tensor(a)\n")) == ["forbidden_name"]


def test_single_expression_and_max_lines() -> None:
    two = "def solve(a):\n    \"\"\"Doc.\"\"\"\n    b = a * 2\n    return b\n"
    assert codes(check_rules(PUZZLE, two)) == ["not_single_expression"]
    helper = "def helper(a):\n    return a\n\n\ndef solve(a):\n    return helper(a)\n"
    assert "not_single_expression" in codes(check_rules(PUZZLE, helper))
    short = exercise(rules=Rules(max_lines=2))
    assert check_rules(short, two) == []  # the docstring and the def line do not count
    long = "def solve(a):\n    # a comment\n    b = a\n    c = b\n\n    return (c +\n            1)\n"
    [d] = check_rules(short, long)
    assert (d.code, d.details) == ("too_many_lines", {"max_lines": 2, "lines": 4})

"""Rules judge what the code does: each loophole class a learner found, written as the learner wrote it."""

from __future__ import annotations

import pytest
from grading_support import exercise

from service.grading.rules import check_rules, spellings

EINSUM_ONLY = exercise(rules={"forbid": ["T", "t", "transpose", "permute", "reshape", "view"], "require": ["einsum"]})
PERMUTE = exercise(rules={"require": ["permute"]})


def found(ex, body: str) -> list[tuple[str, str | None, str | None]]:
    code = "import torch\n\n\ndef solve(x):\n" + "".join(f"    {line}\n" for line in body.split("\n"))
    return [(d.code, d.details.get("reason"), d.details.get("name")) for d in check_rules(ex, code)]


def test_the_real_solution_passes() -> None:
    assert found(EINSUM_ONLY, "return torch.einsum('ij->ji', x)") == []
    assert found(PERMUTE, "return x.permute(2, 0, 1)") == []


@pytest.mark.parametrize("body", [
    "return torch.einsum('ij->ij', x).movedim(0, 1)",            # identity einsum, then another move
    "return torch.einsum('...->...', x).movedim(0, 1)",          # the same with an ellipsis
    "return torch.einsum('ij', x).movedim(0, 1)",                # implicit mode, already alphabetical
])
def test_identity_einsum_does_not_meet_require(body: str) -> None:
    assert ("missing_required_name", "identity", "einsum") in found(EINSUM_ONLY, body)


def test_a_later_axis_move_doing_the_work_does_not_meet_require() -> None:
    assert found(EINSUM_ONLY, "y = torch.einsum('ijk->kji', x)\nz = y\nreturn z.movedim(0, 1)") == [
        ("missing_required_name", "other_op", "einsum")]
    assert found(EINSUM_ONLY, "return torch.einsum('ijk->kij', x.movedim(0, 2))") == [
        ("missing_required_name", "other_op", "einsum")]
    # Another move on a *different* tensor is fine (q @ k.mT beside an einsum, as in qk-two-ways).
    qk = exercise(rules={"require": ["einsum"]})
    assert found(qk, "s1 = torch.einsum('bhtd,bhsd->bhts', x, x)\ns2 = x @ x.mT\nreturn s1, s2") == []


@pytest.mark.parametrize("body", ["return x.permute(0, 1, 2).movedim(0, 2)", "return x.permute(*range(x.ndim)).mT",
                                  "return torch.permute(x, (0, 1)).T"])
def test_identity_permute_does_not_meet_require(body: str) -> None:
    assert ("missing_required_name", "identity", "permute") in found(PERMUTE, body)


def test_a_variable_named_like_the_operation_is_not_a_use() -> None:
    needs_t = exercise(rules={"require": ["t"]})
    assert found(needs_t, "t = x\nreturn t") == [("missing_required_name", "missing", "t")]
    assert found(needs_t, "return x.t()") == []


@pytest.mark.parametrize("spelled", ["x.mT", "x.mH", "x.H", "x.adjoint()", "x.swapaxes(0, 1)", "x.swapdims(0, 1)",
                                     "torch.permute_dims(x, (1, 0))", "getattr(x, 'T')", "x.flatten().unflatten(0, (3, 2))"])
def test_forbid_covers_every_spelling(spelled: str) -> None:
    codes = [c for c, _, _ in found(EINSUM_ONLY, f"return {spelled}")]
    assert "forbidden_name" in codes, spelled


def test_spelling_groups() -> None:
    assert {"T", "mT", "mH", "adjoint"} <= spellings("T") and {"swapaxes", "swapdims"} <= spellings("transpose")
    assert {"movedim", "moveaxis"} <= spellings("movedim") and spellings("view") == {"view", "view_as"}


def test_require_swapaxes_is_not_met_by_transpose_but_by_its_alias() -> None:
    swap = exercise(rules={"forbid": ["permute"], "require": ["swapaxes"]})
    assert found(swap, "return x.transpose(1, 3)") == [("missing_required_name", "missing", "swapaxes")]
    assert found(swap, "return x.swapdims(1, 3)") == []


def test_channels_last_is_judged_by_the_tensor_not_the_spelling() -> None:
    ex = exercise(rules={"require": ["channels_last"]}, check={"channels_last": True})
    # A correct channels_last tensor made without the word: the rule defers to the channels_last check.
    assert found(ex, "return x.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)") == []
    plain = exercise(rules={"require": ["channels_last"]})
    assert found(plain, "return x") == [("missing_required_name", "missing", "channels_last")]


def test_double_transposes_cancel_out() -> None:
    needs_t = exercise(rules={"require": ["T"]})
    assert found(needs_t, "return x.T.T.mT") == [("missing_required_name", "identity", "T")]
    assert found(exercise(rules={"require": ["t"]}), "return x.t().t().mT") == [
        ("missing_required_name", "identity", "t")]

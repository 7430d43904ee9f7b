"""The hint ladder on real bundled exercises: what attempts 1, 2 and 3 (and "show me") say, in both languages."""

from __future__ import annotations

import json
from typing import Any

import pytest

from service.domain import Exercise, Submission
from service.exercises import load_catalog

CATALOG = load_catalog("exercises")


def solve(body: str) -> str:
    return f"import torch\n\n\ndef solve(x):\n    return {body}\n"


def grade(engine: Any, exercise_id: str, code: str, attempt: int, reveal: bool = False) -> Any:
    ex: Exercise | None = CATALOG.get(exercise_id)
    assert ex is not None
    result = engine.grade(ex, Submission(ex.id, code=code, attempt=attempt, reveal=reveal))
    json.dumps(result.to_dict(), allow_nan=False)
    return result


def primary(result: Any) -> Any:
    [lead] = [d for d in result.diagnoses if d.primary]
    assert result.diagnoses[0] is lead and result.feedback["primary"] == lead.code
    return lead


def test_wrong_axis_order_escalates(engine: Any) -> None:
    code = solve("x.permute(0, 3, 2, 1)")  # nchw-to-nhwc asks for permute(0, 2, 3, 1)
    one, two, three = (grade(engine, "nchw-to-nhwc", code, n) for n in (1, 2, 3))
    lead = [primary(r) for r in (one, two, three)]
    assert [d.code for d in lead] == ["wrong_axis_order"] * 3
    # 1: what kind of mistake, and one value traced back to the input; never the call or the permutation
    assert "`x[0, 0, 0, 1]` landed at `out[0, 1, 0, 0]`; it belongs at `out[0, 0, 1, 0]`." in lead[0].message
    assert "`x[0, 0, 0, 1]` が `out[0, 1, 0, 0]` に来ています。正しい位置は `out[0, 0, 1, 0]` です。" in lead[0].messages["ja"]
    for d in (lead[0], lead[1]):
        assert "0, 2, 3, 1" not in json.dumps(d.messages) and "expected" not in d.details
    assert lead[0].hint is None  # the author's hint waits for the second rung
    # 2: which seats hold the wrong axes (what sits there now, not what belongs there)
    assert "Seats 1 and 2 of the result hold the wrong axes (now the input's axis 3 in seat 1 and axis 2 in " \
           "seat 2); the other seats are right." in lead[1].message
    assert "結果の席1と席2に座っている軸が違います" in lead[1].messages["ja"]
    # 3: the call
    assert "the exercise asks for `x.permute(0, 2, 3, 1)`" in lead[2].message
    assert "求められているのは `x.permute(0, 2, 3, 1)` です。" in lead[2].messages["ja"]
    assert lead[2].details["expected"] == [0, 2, 3, 1]
    assert [r.feedback["stage"] for r in (one, two, three)] == [1, 2, 3]
    assert [r.feedback["next_stage_at"] for r in (one, two, three)] == [2, 3, None]


def test_show_me_reveals_at_once_and_folds_the_rest(engine: Any) -> None:
    shown = grade(engine, "nchw-to-nhwc", solve("x.reshape(x.shape[0], x.shape[2], x.shape[3], x.shape[1])"), 1,
                  reveal=True)
    lead = primary(shown)
    assert lead.code == "reshape_instead_of_permute" and "x.permute(0, 2, 3, 1)" in lead.message
    assert shown.feedback == {"attempt": 1, "stage": 3, "revealed": True, "primary": lead.code,
                              "next_stage_at": None, "can_reveal": False}
    assert all(not d.primary for d in shown.diagnoses[1:])  # value_mismatch etc. fold under the lead


def test_hints_that_give_the_answer_wait_for_the_last_rung(engine: Any) -> None:
    # A hint that names `permute(2, 0, 1)`, permute-3d's own solution call.
    from dataclasses import replace

    from service.domain import Text

    base = CATALOG.get("permute-3d")
    assert base is not None
    ex = replace(base, hints={"wrong_axis_order": Text("Use `permute(2, 0, 1)`.", "`permute(2, 0, 1)` を使います。")})
    hints = [primary(engine.grade(ex, Submission(ex.id, code=solve("x.permute(1, 2, 0)"), attempt=n))).hint
             for n in (1, 2, 3)]
    assert hints[0] is None and hints[1] is None
    assert hints[2] is not None and "permute(2, 0, 1)" in hints[2]["en"]
    # A hint that gives nothing away is shown from the second rung (tokens-to-image's heads hint).
    code = "import torch\n\n\ndef solve(x, height):\n    b, n, c = x.shape\n    return x.reshape(b, c, height, n // height)\n"
    lead = [primary(grade(engine, "tokens-to-image", code, n)) for n in (1, 2)]
    assert lead[0].hint is None and lead[1].hint is not None and "transpose(1, 2)" not in lead[1].hint["en"]


@pytest.mark.parametrize("answer, reason", [((4, 7), "order"), ((7, 4, 1), "ndim"), ((3, 3), "sizes")])
def test_quiz_retries_get_feedback_about_that_answer_only(engine: Any, answer: tuple[int, ...], reason: str) -> None:
    ex = CATALOG.get("permute-shape-quiz")
    assert ex is not None and ex.kind == "shape"
    result = engine.grade(ex, Submission(ex.id, answer=list(answer)))
    d = primary(result)
    assert d.details["reason"] in (reason, "authored") and result.explanation is None
    assert str(tuple(ex.answer)).replace(" ", "") not in json.dumps(result.to_dict()).replace(" ", "")
    gave_up = engine.grade(ex, Submission(ex.id, answer=None, reveal=True))
    assert gave_up.explanation is not None and "The answer is" in primary(gave_up).message


def test_an_authored_hint_ladder_gives_one_rung_per_try(engine: Any) -> None:
    from dataclasses import replace

    from service.domain import Text

    base = CATALOG.get("permute-3d")
    assert base is not None
    ladder = (Text("Which axis is in front?", "先頭の軸はどれ?"), Text("Seat 0 holds axis 2.", "席0 には軸2。"),
              Text("Use `x.permute(2, 0, 1)`.", "`x.permute(2, 0, 1)` を使います。"))
    ex = replace(base, hint_ladders={"wrong_axis_order": ladder}, content_hash=base.content_hash)
    code = solve("x.permute(1, 2, 0)")
    hints = [primary(engine.grade(ex, Submission(ex.id, code=code, attempt=n))).hint for n in (1, 2, 3, 4)]
    assert [h["en"] if h else None for h in hints] == [
        "Which axis is in front?", "Seat 0 holds axis 2.", "Use `x.permute(2, 0, 1)`.", "Use `x.permute(2, 0, 1)`."]

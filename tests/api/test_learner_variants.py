"""Per-learner variants through the API: each learner sees and is graded on their own variant."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask

from tests.exercises.exercise_support import TRACK
from tests.exercises.test_variants import MOVE_AXIS


def _solution(axis: int) -> str:
    return f"def solve(x):\n    return x.movedim({axis}, -1)\n"


@pytest.mark.skipif(bool(os.environ.get("KIWAME_TEST_BROKER_URL")),
                    reason="its exercise lives in a temporary folder the session's queue worker does not read")
def test_each_learner_gets_and_is_graded_on_their_own_variant(make_app: Callable[..., Flask], tmp_path: Path,
                                                               auth: Callable[..., dict[str, str]]) -> None:
    track = tmp_path / "exercises" / "basics"
    track.mkdir(parents=True)
    (track / "_track.yaml").write_text(TRACK, encoding="utf-8")
    (track / "move-axis.yaml").write_text(MOVE_AXIS, encoding="utf-8")
    app = make_app(KIWAME_EXERCISES_DIR=str(tmp_path / "exercises"))
    client = app.test_client()
    seen: dict[str, tuple[str, int]] = {}
    for name in ("ana", "ben", "cai", "dee", "eve", "fay"):
        detail = client.get("/api/v1/exercises/move-axis", headers=auth(name)).get_json()
        axis = int(detail["variant"].split("axis=")[1])
        b = int(detail["variant"].split(",")[0].split("=")[1])
        assert f"Move axis {axis}" in detail["prompt"]["en"] and f"({b}, 3, 4)" in detail["starter"]
        assert detail["visible_cases"][0]["inputs"]["x"]["shape"] == [b, 3, 4]  # the grid follows the variant
        seen[name] = (detail["variant"], axis)
    assert len({axis for _, axis in seen.values()}) == 2  # six learners: both axes occur (seeded, stable)
    ana_axis = seen["ana"][1]
    other = next(name for name, (_, axis) in seen.items() if axis != ana_axis)
    mine = client.post("/api/v1/submissions?wait=20", headers=auth("ana"),
                       json={"exercise_id": "move-axis", "code": _solution(ana_axis)}).get_json()
    assert mine["passed"] is True and mine["exercise_variant"] == seen["ana"][0]
    copied = client.post("/api/v1/submissions?wait=20", headers=auth(other),
                         json={"exercise_id": "move-axis", "code": _solution(ana_axis)}).get_json()
    assert copied["passed"] is False and copied["exercise_variant"] == seen[other][0]

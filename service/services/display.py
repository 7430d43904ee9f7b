"""What a page shows of an exercise's visible cases: their inputs, materialised and rendered as JSON."""

from __future__ import annotations

from typing import Any

from service.domain import Exercise
from service.exercises.inputs import SpecError, materialize
from service.grading.render import render_inputs


def visible_inputs(exercise: Exercise) -> list[dict[str, Any]]:
    """[{"name", "inputs": {arg: {"kind","dtype","shape","values"}}}] for each visible case."""
    out: list[dict[str, Any]] = []
    for case in exercise.visible_cases:
        try:
            inputs = render_inputs(materialize(case, exercise.framework), exercise.framework)
        except SpecError:  # validated at load time; a bad spec here only loses the picture, not the page
            inputs = {}
        out.append({"name": case.name, "label": case.label.to_dict() if case.label else None, "inputs": inputs})
    return out

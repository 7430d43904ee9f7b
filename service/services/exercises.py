"""What learners and scripts may see of the exercises: filtered listings and detail with expected outputs."""

from __future__ import annotations

import logging
import threading
from typing import Any

from service.domain import Exercise, Submission
from service.errors import NotFound
from service.exercises import personalize
from service.services import catalog as catalog_service
from service.services.runtime import runtime

log = logging.getLogger(__name__)
_expected_lock = threading.Lock()


def summary(exercise: Exercise) -> dict[str, Any]:
    return {"id": exercise.id, "title": exercise.title.to_dict(), "kind": exercise.kind,
            "framework": exercise.framework, "tags": list(exercise.tags), "difficulty": exercise.difficulty,
            "track": exercise.track, "order": exercise.order, "version": exercise.content_hash}


def list_exercises(*, tag: str | None = None, framework: str | None = None, kind: str | None = None,
                   track: str | None = None) -> list[dict[str, Any]]:
    out = []
    for ex in catalog_service.servable(runtime().catalog):
        if (tag and tag not in ex.tags) or (framework and framework not in ex.offered) \
                or (kind and ex.kind != kind) or (track and ex.track != track):
            continue
        out.append(summary(ex))
    return out


def get_exercise(exercise_id: str) -> Exercise:
    exercise = catalog_service.get_servable(exercise_id)
    if exercise is None:
        raise NotFound(f"no exercise {exercise_id!r}", code="exercise_not_found")
    return exercise


def detail(exercise_id: str, learner: int | None = None) -> dict[str, Any]:
    """Everything a learner may see; never the solution, the hidden cases' contents or a quiz's answer.
    With ``params:`` the learner sees their own variant (prompt, starter and cases alike)."""
    exercise = personalize.for_learner(get_exercise(exercise_id), learner)
    snap = catalog_service.snapshot(exercise)
    expected = expected_outputs(exercise) if exercise.kind == "code" else {}
    cases = [{"name": case["name"], "label": case.get("label"), "inputs": (expected.get(case["name"]) or {}).get("inputs") or case["args"],
              "expected": (expected.get(case["name"]) or {}).get("expected")}
             for case in snap.pop("visible_cases")]
    return {**snap, "visible_cases": cases}


def expected_outputs(exercise: Exercise) -> dict[str, dict[str, Any]]:
    """Visible cases' inputs and expected outputs from the engine's reference run, cached by content hash."""
    cache = runtime().expected
    key = f"{exercise.content_hash}:{exercise.variant}"  # each learner variant has its own expected outputs
    if exercise.framework != exercise.offered[0]:
        key += f":{exercise.framework}"  # the learner's pick: inputs and outputs built in that framework
    if key in cache:
        return cache[key]
    rt = runtime()
    if rt.settings.broker_url and not rt.engine_started:
        # Queue mode's web tier runs no sandbox: a worker computes them (cached only once they exist),
        # for this learner's variant and framework.
        from service.services.celery_queue import remote_expected

        found = remote_expected(rt, exercise)
        if found is None:
            return {}
        cache[key] = found
        return found
    with _expected_lock:
        if key not in cache:
            cache[key] = _reference_run(exercise)
    return cache[key]


def _reference_run(exercise: Exercise) -> dict[str, dict[str, Any]]:
    # Grading the reference solution reuses the engine's own reference cache and rendering, so the
    # expected values shown here are exactly those a submission is compared against.
    try:
        result = runtime().engine.grade(exercise, Submission(exercise.id, code=exercise.solution,
                                                             framework=exercise.framework))
    except Exception:
        log.exception("reference run for %s failed", exercise.id)
        return {}
    return {case.name: {"expected": case.expected if case.expected is not None else case.output,
                        "inputs": case.inputs}
            for case in result.cases if case.visible}

"""View models for the learner pages: exercises grouped by track with this learner's state."""

from __future__ import annotations

from typing import Any

from service.services import catalog as catalog_service
from service.services import progress as progress_service


def _state(p: progress_service.ProgressView | None) -> str:
    """not_tried, tried or solved (a solved exercise always has an attempt: record_attempt counts it first)."""
    return "not_tried" if p is None or not p.attempts else ("solved" if p.solved else "tried")


def exercise_state(user_id: int, exercise_id: str) -> str:
    found = progress_service.list_progress(user_id, exercise_id)
    return _state(found[0] if found else None)


def track_items(catalog: Any, user_id: int, lang: str, only: Any = None) -> list[dict[str, Any]]:
    """[{"id", "title", "solved", "exercises": [...]}]; ``only``: keep these exercise ids (a course's)."""
    progress = {p.exercise_id: p for p in progress_service.list_progress(user_id)}
    titles = {t.id: t.title.get(lang) for t in catalog.tracks}
    order = {t.id: i for i, t in enumerate(catalog.tracks)}
    groups: dict[str, list[dict[str, Any]]] = {}
    for ex in catalog_service.exercises(catalog):
        if only is not None and ex.id not in only:
            continue
        p = progress.get(ex.id)
        state = _state(p)
        groups.setdefault(ex.track, []).append({
            "id": ex.id, "title": ex.title.get(lang), "difficulty": max(0, min(5, ex.difficulty)),
            "tags": list(ex.tags), "kind": ex.kind, "state": state,
            "best": p.best_score if p else 0.0, "attempts": p.attempts if p else 0,
        })
    tracks = sorted(groups, key=lambda tid: (order.get(tid, len(order)), tid))
    return [{"id": tid, "title": titles.get(tid, tid), "exercises": groups[tid],
             "solved": sum(1 for i in groups[tid] if i["state"] == "solved")} for tid in tracks]

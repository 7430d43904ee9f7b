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


STAFF_ONLY_CODES = ("gpu_skipped",)  # infrastructure notes: noise for a learner, useful to staff
NEW_LEARNER_SOLVED = 3  # below this many solved exercises, code exercises open in predict mode


def for_viewer(result: dict[str, Any] | None, staff: bool) -> dict[str, Any] | None:
    """The verdict as this viewer may see it: staff-only notes removed for learners."""
    if not result or staff:
        return result
    kept = [d for d in result.get("diagnoses") or [] if d.get("code") not in STAFF_ONLY_CODES]
    return {**result, "diagnoses": kept}


def next_exercise(catalog: Any, user_id: int, current_id: str) -> str | None:
    """The next unsolved exercise after ``current_id`` in its track (wrapping round), else in later tracks."""
    solved = {p.exercise_id for p in progress_service.list_progress(user_id) if p.solved}
    ordered = list(catalog_service.exercises(catalog))
    ids = [e.id for e in ordered]
    if current_id not in ids:
        return None
    here = ids.index(current_id)
    track = ordered[here].track
    same = [e.id for e in ordered if e.track == track]
    pos = same.index(current_id)
    for candidate in same[pos + 1:] + same[:pos]:
        if candidate not in solved:
            return candidate
    for e in ordered[here + 1:] + ordered[:here]:
        if e.track != track and e.id not in solved:
            return e.id
    return None


def page_progress(user_id: int, exercise_id: str) -> tuple[str, bool]:
    """(this exercise's state, whether the learner is new) from one progress query."""
    rows = progress_service.list_progress(user_id)
    here = next((p for p in rows if p.exercise_id == exercise_id), None)
    return _state(here), sum(1 for p in rows if p.solved) < NEW_LEARNER_SOLVED

"""The exercise catalog's checks and reloads, and the exercise versions mirrored into the database."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app, has_app_context

from service.authoring import validate
from service.domain import Exercise, Text
from service.exercises import Catalog, ExerciseError, ReloadResult, personalize
from service.persistence import ExerciseVersion, db
from service.services.runtime import ReferenceChecks, runtime

log = logging.getLogger(__name__)
_reference_lock = threading.Lock()  # one reference check at a time (start-up and reloads)


def exercises(catalog: Catalog) -> list[Exercise]:
    """Every loaded exercise in track order."""
    return list(catalog.exercises.values())  # the catalog keeps them in track order already


def catalog_errors(catalog: Catalog) -> list[dict[str, Any]]:
    """The files that failed validation (schema, or their reference run), as JSON-friendly dicts."""
    return [err.to_dict() for err in [*catalog.errors, *reference_errors(catalog)]]


def reference_errors(catalog: Catalog) -> list[ExerciseError]:
    """Errors of the reference checks that still apply: only for the versions loaded now."""
    if not has_app_context():
        return []
    checked = runtime(current_app).reference_checks
    current = {(e.id, e.content_hash) for e in exercises(catalog)}
    return [err for key, errs in checked.items() if key in current for err in errs]


def check_references(app: Flask) -> int:
    """Run the reference solution of every version not checked yet in the sandbox, as validation does;
    returns how many of them failed.

    Why at start-up: a broken reference must show in /healthz and the instructor view before a learner
    meets it, and the run fills the engine's reference cache, so no learner pays for the first one.
    Each (exercise, content hash) is checked once: a reload checks only the new or edited versions, and
    one check runs at a time, so a reload during the start-up check repeats none of its work.
    """
    rt = runtime(app)
    with app.app_context(), _reference_lock:
        engine = rt.engine
        previous = rt.reference_checks
        found: ReferenceChecks = {}  # every version checked now, [] when it passed
        for exercise in exercises(rt.catalog):
            key = (exercise.id, exercise.content_hash)
            if key in previous:
                continue
            try:
                # Every variant of an exercise with params (a sample of 16 for big parameter spaces).
                errors = [e for variant in personalize.all_variants(exercise)
                          for e in validate.check_reference(engine, variant, lint=False)[0]]
            except Exception as exc:  # a grader bug must not stop the others from being checked
                log.exception("reference check of %s failed", exercise.id)
                errors = [ExerciseError(exercise.source_path, 1, "solution",
                                        f"the reference check crashed: {type(exc).__name__}: {exc}")]
            found[key] = errors
        # A new dict, not an update in place: request threads read the old one without a lock.
        rt.reference_checks = {**previous, **found}
        failed = sorted(key[0] for key, errors in found.items() if errors)
        if failed:
            log.error("%d exercises failed their reference check: %s", len(failed), failed)
        return len(failed)


def start_reference_check(app: Flask) -> threading.Thread:
    thread = threading.Thread(target=check_references, args=(app,), name="kiwame-reference-check", daemon=True)
    thread.start()
    return thread


def broken(exercise: Exercise) -> bool:
    """True when this version failed its reference check (a solution that fails its own cases or pins):
    such an exercise is never served to learners, only listed for instructors with its errors."""
    if not has_app_context():
        return False
    return bool(runtime(current_app).reference_checks.get((exercise.id, exercise.content_hash)))


def servable(catalog: Catalog) -> list[Exercise]:
    """The exercises learners may open and submit to, in track order."""
    return [e for e in exercises(catalog) if not broken(e)]


def get_servable(exercise_id: str) -> Exercise | None:
    exercise = runtime(current_app).catalog.get(exercise_id)
    return None if exercise is None or broken(exercise) else exercise


def for_learner(exercise: Exercise, user_id: int | None) -> Exercise:
    """The learner's own variant of an exercise with ``params:`` (the exercise itself otherwise)."""
    return personalize.for_learner(exercise, user_id)


def for_seed(exercise: Exercise, seed: int | None) -> Exercise:
    """The variant a learner's seed picks (``Exercise.variant_seed``): how a worker rebuilds a learner's variant."""
    return personalize.for_seed(exercise, seed)


def reload_catalog(app: Flask | None = None, *, only_if_changed: bool = False) -> ReloadResult | None:
    """Reload the exercise files and mirror the new versions into the database."""
    rt = runtime(app)
    catalog = rt.catalog
    # The catalog swaps its snapshot in place (thread-safe); reload() says what changed.
    outcome = catalog.reload_if_changed() if only_if_changed else catalog.reload()
    if outcome is not None and outcome.anything:
        sync_versions(catalog)
        if rt.engine_started:  # a serving process: check the new versions' references too
            start_reference_check(rt.app)
    return outcome


def snapshot(exercise: Exercise) -> dict[str, Any]:
    """What a learner sees of an exercise: never the solution, the hidden cases or a quiz's answer."""
    return {
        "id": exercise.id,
        "title": exercise.title.to_dict(),
        "prompt": exercise.prompt.to_dict(),
        "kind": exercise.kind,
        "framework": exercise.framework,
        "track": exercise.track,
        "difficulty": exercise.difficulty,
        "tags": list(exercise.tags),
        "version": exercise.content_hash,
        "variant": exercise.variant,
        "entry": exercise.entry,
        "starter": exercise.starter,
        "starters": (exercise.starters or _same(exercise.starter)).to_dict() if exercise.kind == "code" else None,
        "rules": {"forbid": list(exercise.rules.forbid), "require": list(exercise.rules.require)}
        | ({"allow": list(exercise.rules.allow)} if exercise.rules.allow is not None else {}),
        "max_lines": exercise.rules.max_lines,
        "single_expression": exercise.rules.single_expression,
        "helpers": exercise.helpers,
        "frameworks": list(exercise.offered),
        # each offered framework's English starter (a per-framework ``starter``, else the shared one)
        "framework_starters": {fw: exercise.for_framework(fw).starter for fw in exercise.offered}
        if exercise.kind == "code" else {},
        "limits": {"time_s": exercise.limits.time_s, "memory_mb": exercise.limits.memory_mb},
        "devices": list(exercise.devices),
        "choices": [c.to_dict() for c in exercise.choices],
        "visible_cases": [{"name": c.name, "label": c.label.to_dict() if c.label else None,
                           "args": _jsonable(dict(c.args))} for c in exercise.visible_cases],
        "hidden_cases": sum(1 for c in exercise.cases if not c.visible),
    }


def _same(text: str) -> Text:
    return Text(en=text, ja=text)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def sync_versions(loaded: Iterable[Exercise]) -> int:
    """Upsert one ``exercise_versions`` row per (exercise, content hash); returns how many were new."""
    wanted = {(e.id, e.content_hash): e for e in loaded}
    if not wanted:
        return 0
    existing = set(db.session.execute(
        sa.select(ExerciseVersion.exercise_id, ExerciseVersion.content_hash)
        .where(ExerciseVersion.exercise_id.in_({k[0] for k in wanted}))
    ).all())
    new = [e for key, e in wanted.items() if key not in existing]
    for e in new:
        db.session.add(ExerciseVersion(exercise_id=e.id, content_hash=e.content_hash, title=e.title.to_dict(),
                                       kind=e.kind, track=e.track, snapshot=snapshot(e)))
    try:
        db.session.commit()
    except sa.exc.IntegrityError:  # another process inserted the same version first: that row is as good
        db.session.rollback()
    return len(new)


def version_id(exercise: Exercise, *, fresh: bool = False) -> int | None:
    """The id of the exercise's version row (added if missing). Remembered per app, since every submission
    and every grading asks; ``fresh`` reads it again (a database restored or reset under a running
    process can hold other ids: callers that see a mismatch ask afresh before writing)."""
    known = runtime(current_app).version_ids
    key = (exercise.id, exercise.content_hash)
    if key in known and not fresh:
        return known[key]
    lookup = sa.select(ExerciseVersion.id).where(
        ExerciseVersion.exercise_id == exercise.id, ExerciseVersion.content_hash == exercise.content_hash)
    found = db.session.scalar(lookup)
    if found is None:
        sync_versions([exercise])
        found = db.session.scalar(lookup)
    if found is not None:
        known[key] = found
    return found

"""Give each learner their own variant of an exercise with ``params:`` (seeded from the learner's id)."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections import OrderedDict

import service.exercises.variants as variants
from service.domain import Exercise
from service.exercises.schema import build_exercise
from service.exercises.yamltree import Tree

log = logging.getLogger(__name__)
CACHE_SIZE = 2048  # (version, variant) pairs; an Exercise is small
_lock = threading.Lock()
_cache: OrderedDict[tuple[str, str, str], Exercise] = OrderedDict()


def instantiate(exercise: Exercise, values: variants.Assignment, seed: int | None = None) -> Exercise:
    """The exercise with ``values`` filled in; the default variant when that fails (validated files never do)."""
    if not exercise.params or exercise.template is None:
        return exercise
    label = variants.key(values)
    cache_key = (exercise.id, exercise.content_hash, label)
    with _lock:
        hit = _cache.get(cache_key)
        if hit is not None:
            _cache.move_to_end(cache_key)
            return dataclasses.replace(hit, variant_seed=seed)
    tree: Tree = exercise.template
    try:
        concrete = Tree(variants.substitute_document(tree.value, values), tree.lines, tree.nodes)
        parsed = build_exercise(concrete, exercise.source_path, exercise.id, exercise.track, exercise.content_hash)
    except variants.VariantError:
        parsed = None
    if parsed is None or parsed.exercise is None:
        log.error("variant %s of %s does not build; serving the default variant", label, exercise.id)
        return exercise
    built = dataclasses.replace(parsed.exercise, params=exercise.params, template=exercise.template,
                                variant=label, order=exercise.order)
    with _lock:
        _cache[cache_key] = built
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return dataclasses.replace(built, variant_seed=seed)


def for_learner(exercise: Exercise, learner: int | str | None) -> Exercise:
    """The learner's own variant (the same learner always gets the same one); ``None``: the default variant."""
    if not exercise.params or learner is None:
        return exercise
    return for_seed(exercise, variants.learner_seed(exercise.id, learner))


def for_seed(exercise: Exercise, seed: int | None) -> Exercise:
    """The variant a seed picks (``Exercise.variant_seed``): how a worker rebuilds a learner's variant."""
    if seed is None or not exercise.params:
        return exercise
    return instantiate(exercise, variants.assignment(exercise.params, seed), seed)


def all_variants(exercise: Exercise, limit: int = variants.MAX_CHECKED) -> list[Exercise]:
    """The variants validation checks: the default one first, then the others (a sample above ``limit``)."""
    if not exercise.params:
        return [exercise]
    return [instantiate(exercise, values) for values in variants.all_assignments(exercise.params, limit)]

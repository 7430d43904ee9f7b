"""Write each linter wrong answer as real learner code, so tests can prove the engine itself rejects it."""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence

from service.authoring.lint import Candidate, lint_input_name
from service.domain import Exercise
from service.sandbox.protocol import CaseIn, CaseOut


def _signature(exercise: Exercise) -> str | None:
    for node in ast.parse(exercise.solution).body:
        if isinstance(node, ast.FunctionDef) and node.name == exercise.entry:
            return f"def {exercise.entry}({ast.unparse(node.args)}):"
    return None


def _reshape_targets(cand: Candidate, cases: Sequence[CaseIn], outputs: Mapping[str, CaseOut],
                     x: str) -> dict[tuple[int, ...], tuple[int, ...]] | None:
    targets: dict[tuple[int, ...], tuple[int, ...]] = {}
    for case in cases:
        arg = next((a for a in case.args if a.name == x), None)
        value = outputs[case.name].value
        if arg is None or arg.array is None or value is None or value.array is None:
            continue
        if cand.outputs.get(case.name) is None:
            continue
        src, dst = tuple(arg.array.shape), tuple(value.array.shape)
        if targets.setdefault(src, dst) != dst:
            return None  # the same input shape reshaped two ways: no single function does that
    return targets


def candidate_code(exercise: Exercise, cand: Candidate, cases: Sequence[CaseIn],
                   outputs: Mapping[str, CaseOut]) -> str | None:
    """Learner-style source for ``cand`` (None when it cannot be written as one function)."""
    signature = _signature(exercise)
    x = lint_input_name(exercise, cases[0].args) if cases else None
    if signature is None:
        return None
    torch = exercise.framework == "torch"
    if cand.name == "wrong_dtype":  # wraps the reference: needs no array argument
        cast = f".to(torch.{cand.dtype})" if torch else f".astype(np.{cand.dtype})"
        header = "import torch\n" if torch else "import numpy as np\n"
        return (f"{header}{exercise.solution}\n\n_kiwame_reference = {exercise.entry}\n\n\n"
                f"def {exercise.entry}(*args, **kwargs):\n    return _kiwame_reference(*args, **kwargs){cast}\n")
    if x is None:
        return None
    if cand.name == "unchanged_input":
        body = x
    elif cand.name == "reshape":
        targets = _reshape_targets(cand, cases, outputs, x)
        if targets is None:
            return None
        return f"_SHAPES = {targets!r}\n\n\n{signature}\n    return {x}.reshape(_SHAPES[tuple({x}.shape)])\n"
    elif cand.name == "reversed_axes":
        body = f"{x}.permute(*reversed(range({x}.dim())))" if torch else f"{x}.transpose()"
    elif cand.name == "transpose_all":
        body = f"{x}.T"
    elif cand.name == "other_permutation" and cand.perm is not None:
        body = f"{x}.permute{cand.perm}" if torch else f"{x}.transpose({cand.perm})"
    else:
        return None
    return f"{signature}\n    return {body}\n"

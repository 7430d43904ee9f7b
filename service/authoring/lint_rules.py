"""Rule-bypass lint: can an identity use of a required operation plus another allowed operation meet the rules?"""

from __future__ import annotations

import ast

from service.domain import Exercise
from service.grading.rules import ALIASES, AXIS_MOVES, RESHAPES, check_rules, spellings

# Identity uses of each operation a rule may require ({x}: the input; {m}: the module prefix).
IDENTITY: dict[str, str] = {
    "einsum": "{m}.einsum('...->...', {x})", "permute": "{x}.permute(*range({x}.ndim))",
    "transpose": "{x}.transpose(0, 0)", "swapaxes": "{x}.swapaxes(0, 0)", "swapdims": "{x}.swapdims(0, 0)",
    "movedim": "{x}.movedim(0, 0)", "moveaxis": "{m}.moveaxis({x}, 0, 0)", "T": "{x}.T.T", "t": "{x}.t().t()",
    "mT": "{x}.mT.mT", "mH": "{x}.mH.mH", "adjoint": "{x}.adjoint().adjoint()",
    "reshape": "{x}.reshape({x}.shape)", "view": "{x}.view({x}.shape)", "flatten": "{x}.flatten(0, 0)",
}
# What then does the real work (written on the identity's result y).
MOVES = ("y.permute(1, 0)", "y.transpose(0, 1)", "y.movedim(0, 1)", "y.swapaxes(0, 1)", "y.mT", "y.T",
         "torch.einsum('ij->ji', y)")
SHAPES = ("y.reshape(-1)", "y.view(-1)", "y.flatten()")


def _signature(exercise: Exercise) -> tuple[str, str] | None:
    try:
        module = ast.parse(exercise.solution)
    except SyntaxError:
        return None
    for node in module.body:
        if isinstance(node, ast.FunctionDef) and node.name == exercise.entry and node.args.args:
            return f"def {exercise.entry}({ast.unparse(node.args)}):", node.args.args[0].arg
    return None


def bypasses(exercise: Exercise) -> list[str]:
    """Candidate programs (as short labels) that meet every rule although the required operation does nothing."""
    found = _signature(exercise)
    if exercise.kind != "code" or found is None or not exercise.rules.require:
        return []
    signature, x = found
    module = "torch" if exercise.framework == "torch" else "np"
    out = []
    for name in exercise.rules.require:
        identity = IDENTITY.get(name)
        if identity is None or (name not in AXIS_MOVES and name not in RESHAPES):
            continue
        same = next((group for group in ALIASES if name in group), frozenset({name})) | {name}
        for work in (MOVES if name in AXIS_MOVES else SHAPES):
            op = work.split("(")[0].split(".")[-1]
            if op in same or any(op in spellings(f) for f in exercise.rules.forbid):
                continue
            head = identity.format(x=x, m=module)
            code = f"import torch\nimport numpy as np\n\n\n{signature}\n    y = {head}\n    return {work}\n"
            if not check_rules(exercise, code):
                out.append(f"y = {head}; return {work}")
    return out

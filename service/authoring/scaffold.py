"""``kiwame exercises new``: a bilingual exercise YAML scaffolded from a reference solution's signature."""

from __future__ import annotations

import ast
import textwrap
from collections.abc import Iterator
from pathlib import Path

from service.exercises.fields import ID_PATTERN
from service.exercises.loader import TRACK_FILE

DEFAULT_SOLUTION = '''import torch


def solve(x):
    return x.transpose(0, 1)
'''
# Shape patterns tried in turn until the reference runs on them: same shapes (elementwise), chained
# (matmul), 1-D (outer products), square, 3-D. Sizes differ and are >= 2, as the format guide asks.
PATTERNS: tuple[tuple[tuple[int, ...], ...], ...] = (
    ((3, 4), (3, 4), (3, 4)),
    ((3, 4), (4, 5), (5, 6)),
    ((5,), (4,), (3,)),
    ((4, 4), (4, 4), (4, 4)),
    ((2, 3, 4), (2, 3, 4), (2, 3, 4)),
    ((5,), (5,), (5,)),
)


class ScaffoldError(ValueError):
    """The id, the track or the source cannot make an exercise."""


def _entry(module: ast.Module) -> ast.FunctionDef:
    funcs = [n for n in module.body if isinstance(n, ast.FunctionDef)]
    if not funcs:
        raise ScaffoldError("the source defines no function: write the reference as def solve(...): ...")
    return next((f for f in funcs if f.name == "solve"), funcs[0])


def _frameworks(module: ast.Module) -> str:
    imported = {a.name.split(".")[0] for n in ast.walk(module) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(module) if isinstance(n, ast.ImportFrom) and n.module}
    if "torch" in imported:
        return "torch"
    if "numpy" in imported:
        return "numpy"
    return "[torch, numpy]" if "einops" in imported else "torch"


def _scalar(func: ast.FunctionDef) -> dict[str, str]:
    """Parameters that take plain values: an int/float/bool/str annotation or a literal default."""
    out: dict[str, str] = {}
    args = func.args.args
    defaults = dict(zip([a.arg for a in args[len(args) - len(func.args.defaults):]], func.args.defaults, strict=True))
    for a in args:
        ann = ast.unparse(a.annotation) if a.annotation is not None else ""
        if a.arg in defaults and isinstance(defaults[a.arg], ast.Constant | ast.List | ast.Tuple):
            out[a.arg] = f"{{value: {ast.unparse(defaults[a.arg]).replace('(', '[').replace(')', ']')}}}"
        elif ann in ("int", "float", "bool", "str"):
            out[a.arg] = "{value: 2}" if ann != "str" else '{value: "a"}'
    return out


def _cases(params: list[str], scalars: dict[str, str], pattern: tuple[tuple[int, ...], ...], floats: bool) -> str:
    arrays = [p for p in params if p not in scalars]
    shapes = {p: list(pattern[min(i, len(pattern) - 1)]) for i, p in enumerate(arrays)}
    bigger = {p: [n + 1 for n in s] for p, s in shapes.items()}
    if len({len(s) for s in pattern}) == 1 and pattern[0] != pattern[-1] and len(pattern[0]) == 2:
        # Chained shapes (a @ b) stay chained in the larger case: b's rows follow a's columns.
        for prev, cur in zip(arrays, arrays[1:], strict=False):
            bigger[cur][0] = bigger[prev][1]

    def args(spec: dict[str, str]) -> str:
        return "{" + ", ".join(f"{p}: {spec[p] if p in spec else scalars[p]}" for p in params) + "}"

    visible = args({p: f"{{arange: {s}}}" for p, s in shapes.items()})
    hidden = args({p: f"{{arange: {s}, start: 7}}" for p, s in bigger.items()})
    kind = "random: {s}, dtype: float32" if floats else "randint: {s}, low: -9, high: 10"
    drawn = args({p: "{" + kind.format(s=s) + f", seed: {i + 1}}}" for i, (p, s) in enumerate(shapes.items())})
    return (f"  - name: first-example\n    visible: true\n    args: {visible}\n"
            f"  - name: larger\n    args: {hidden}\n"
            f"  - name: {'floats' if floats else 'random-integers'}\n    args: {drawn}\n")


def _block(code: str) -> str:
    return textwrap.indent(code.strip("\n") + "\n", "  ")


def scaffold_texts(exercise_id: str, track: str, source: str | None) -> Iterator[str]:
    """Candidate YAML texts, one per shape pattern (the CLI keeps the first that validates)."""
    for what, value in (("id", exercise_id), ("track", track)):
        if not ID_PATTERN.match(value):
            raise ScaffoldError(f"expected the {what} to be lowercase letters, digits and single dashes, got {value!r}")
    code = source if source and source.strip() else DEFAULT_SOLUTION
    try:
        module = ast.parse(code)
    except SyntaxError as exc:
        raise ScaffoldError(f"the source has a syntax error on line {exc.lineno}: {exc.msg}") from exc
    func = _entry(module)
    params = [a.arg for a in func.args.args]
    if not params:
        raise ScaffoldError(f"{func.name}() takes no argument: an exercise needs at least one input")
    scalars = _scalar(func)
    imports = "\n".join(ast.unparse(n) for n in module.body if isinstance(n, ast.Import | ast.ImportFrom))
    signature = f"def {func.name}({ast.unparse(func.args)}):"
    starter = f'{imports}\n\n\n{signature}\n    """TODO: describe the inputs and the result with their shapes."""\n    ...\n'
    entry = "" if func.name == "solve" else f"entry: {func.name}\n"
    for pattern, floats in ((p, f) for f in (True, False) for p in PATTERNS):
        yield (
            f"# Scaffolded by `kiwame exercises new`: replace every TODO, then run `kiwame exercises validate`.\n"
            f"id: {exercise_id}\nkind: code\nframework: {_frameworks(module)}\n{entry}"
            f'title: {{en: "TODO: {exercise_id}", ja: "TODO: {exercise_id}（日本語のタイトル）"}}\n'
            f"difficulty: 2\ntags: [{track}]\n"
            f"prompt:\n  en: |\n    TODO: what to compute. Write `{signature[4:-1]}`.\n"
            f"  ja: |\n    TODO: 何を計算するかを書いてください。`{signature[4:-1]}` を書きます。\n"
            f"starter: |\n{_block(starter)}solution: |\n{_block(code)}cases:\n{_cases(params, scalars, pattern, floats)}"
            f"generate: 3  # hidden cases re-drawn from the random case (new values per exercise version)\n"
            f"check:\n  values: close\n"
            f"# wrong_answers:  # known mistakes: each must fail (optionally with its diagnosis code)\n"
            f"#   - name: TODO\n#     diagnosis: value_mismatch\n#     code: |\n#       def {func.name}(...): ...\n"
        )


def write_scaffold(base: Path, exercise_id: str, track: str, text: str) -> Path:
    """Write ``<base>/<track>/<id>.yaml`` (and the track's ``_track.yaml`` when the track is new)."""
    folder = base / track
    path = folder / f"{exercise_id}.yaml"
    if any(base.glob(f"*/{exercise_id}.yaml")) and not path.exists():
        raise ScaffoldError(f"an exercise {exercise_id!r} already exists in another track")
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / TRACK_FILE).exists():
        (folder / TRACK_FILE).write_text(
            f'title: {{en: "TODO: {track}", ja: "TODO: {track}（日本語のタイトル）"}}\norder: 100\n', "utf-8")
    path.write_text(text, "utf-8")
    return path

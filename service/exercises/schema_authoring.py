"""Schema of the authoring keys (issue 15): several frameworks, helpers, generated cases, declared answers."""

from __future__ import annotations

import ast
import difflib
from dataclasses import replace
from typing import Any

from service.domain import Case, Declared, Generate
from service.exercises.fields import IDENT_PATTERN, MISSING, Reader
from service.exercises.generated import MAX_GENERATED, generated_cases, templates_of
from service.exercises.inputs import Draw, SpecError
from service.exercises.yamltree import join
from service.results import DIAGNOSIS_CODES

FRAMEWORKS = ("torch", "numpy")
AUTHORING_KEYS = ("helpers", "generate", "wrong_answers", "alternatives")
DECLARED_KEYS = ("name", "code", "diagnosis", "framework")
# Allow-list names that stand for a statement rather than a name (loops are not "indexing and arithmetic").
STATEMENT_NAMES = ("for", "while", "comprehension", "lambda", "if")


def frameworks(r: Reader, value: Any) -> tuple[str | None, tuple[str, ...]]:
    """``framework: torch`` or ``framework: [torch, numpy]`` (the first is the default one)."""
    if not isinstance(value, list):
        return r.choice(value, "framework", FRAMEWORKS), ()
    names = r.string_list(value, "framework")
    bad = [n for n in names if n not in FRAMEWORKS]
    if not names or bad or len(set(names)) != len(names):
        r.error("framework", f"expected torch, numpy or a list of distinct ones such as [torch, numpy], got {value!r}")
        return None, ()
    return names[0], names if len(names) > 1 else ()


def per_framework(r: Reader, doc: dict[str, Any], key: str, offered: tuple[str, ...]) -> dict[str, Any]:
    """``starter``/``solution`` as one string (shared by every framework, e.g. einops) or ``{torch:, numpy:}``."""
    value = doc.get(key, MISSING)
    if not isinstance(value, dict):
        return {fw: value for fw in offered}
    r.keys(value, key, offered)
    for fw in offered:
        if fw not in value:
            r.error(key, f"missing {key}.{fw} (this exercise is offered in {', '.join(offered)})")
    return {fw: value.get(fw, MISSING) for fw in offered}


def helpers(r: Reader, value: Any, entry: str) -> str:
    """Exercise-provided code: compiled here so a syntax error points at the YAML, never at a learner."""
    code = r.string(value, "helpers") if value is not MISSING else None
    if code is None:
        return ""
    try:
        module = ast.parse(code)
    except SyntaxError as exc:
        r.error("helpers", f"Python syntax error: {exc.msg} (line {exc.lineno} of helpers)")
        return ""
    if any(isinstance(n, ast.FunctionDef) and n.name == entry for n in module.body):
        r.error("helpers", f"helpers must not define the entry {entry}(...): learners write it")
    return code


def check_case_args(r: Reader, path: str, args: dict[str, Any], framework: str) -> None:
    """Materialise every argument of one case (in both frameworks' dtypes), reporting each spec error once."""
    ctx = Draw(framework, args)
    seen: set[str] = set()
    for arg in args:
        try:
            ctx.arg(str(arg))
        except SpecError as exc:
            where = join(join(path, "args"), exc.arg or str(arg))
            spec = args.get(exc.arg or arg)
            where = join(where, exc.key) if exc.key and isinstance(spec, dict) else where
            if f"{where}:{exc}" not in seen:
                seen.add(f"{where}:{exc}")
                r.error(where, str(exc))


def in_parameter_order(cases: tuple[Case, ...], params: tuple[list[str], list[str], bool] | None) -> tuple[Case, ...]:
    """Arguments are passed by position: put them in the entry's order, whatever order the YAML lists them in
    (an argument derived with ``dim_of`` is often written after the one it reads)."""
    if params is None:
        return cases
    order = {name: i for i, name in enumerate(params[0])}
    return tuple(replace(c, args=dict(sorted(c.args.items(), key=lambda kv: order.get(kv[0], len(order)))))
                 for c in cases)


def generate(r: Reader, value: Any, cases: tuple[Case, ...], framework: str,
             version: str) -> tuple[Generate | None, tuple[Case, ...]]:
    """``generate: N`` (re-draw the cases that draw at random) or ``generate: {count: N, args: {...}}``."""
    if value is MISSING:
        return None, ()
    if isinstance(value, dict):
        r.keys(value, "generate", ("count", "args"))
        count = r.integer(r.required(value, "generate", "count", f"how many hidden cases, 1..{MAX_GENERATED}"),
                          "generate.count", 1, MAX_GENERATED)
        args = r.mapping(r.required(value, "generate", "args", "argument specs, as in a case"), "generate.args")
        templates: tuple[dict[str, Any], ...] = (args,) if args else ()
        if args:
            check_case_args(r, "generate", args, framework)
            names = set(cases[0].args) if cases else set(args)
            if set(args) != names:
                r.error("generate.args", f"expected the same arguments as the cases ({', '.join(sorted(names))}), "
                                         f"got {', '.join(sorted(args))}")
    else:
        count = r.integer(value, "generate", 1, MAX_GENERATED)
        templates = templates_of(cases)  # type: ignore[assignment]
        if count and not templates:
            r.error("generate", "generate: N re-draws cases with a random shape or random values, and no case "
                                "has one; write generate: {count: N, args: {...}} or add a random spec")
    if not count or not templates:
        return None, ()
    gen = Generate(count, templates)
    return gen, generated_cases(gen, version)


def declared(r: Reader, value: Any, key: str, entry: str, offered: tuple[str, ...]) -> tuple[Declared, ...]:
    """``wrong_answers`` / ``alternatives``: a list of code strings or ``{name, code, diagnosis, framework}``."""
    if value is MISSING:
        return ()
    if not isinstance(value, list) or not value:
        r.error(key, "expected a non-empty list of answers (code strings or {name, code, diagnosis})")
        return ()
    out: list[Declared] = []
    for i, item in enumerate(value):
        path = join(key, i)
        item = {"code": item} if isinstance(item, str) else item
        mapping = r.mapping(item, path, "a code string or a mapping with code")
        if mapping is None:
            continue
        r.keys(mapping, path, DECLARED_KEYS if key == "wrong_answers" else ("name", "code", "framework"))
        code = r.string(r.required(mapping, path, "code", f"Python source defining {entry}(...)"), join(path, "code"))
        name = r.string(mapping.get("name", f"{key[:-1].replace('_', '-')}-{i + 1}"), join(path, "name"))
        diagnosis = mapping.get("diagnosis")
        if diagnosis is not None and diagnosis not in DIAGNOSIS_CODES:
            close = difflib.get_close_matches(str(diagnosis), DIAGNOSIS_CODES, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else " (see the diagnosis codes in the format guide)"
            r.error(join(path, "diagnosis"), f"unknown diagnosis code {diagnosis!r}{hint}")
            diagnosis = None
        fw = mapping.get("framework")
        if fw is not None and fw not in offered:
            r.error(join(path, "framework"), f"expected one of {' | '.join(offered)}, got {fw!r}")
            fw = None
        if code is None or name is None:
            continue
        try:
            module = ast.parse(code)
        except SyntaxError as exc:
            r.error(join(path, "code"), f"Python syntax error: {exc.msg} (line {exc.lineno})")
            continue
        if not any(isinstance(n, ast.FunctionDef) and n.name == entry for n in module.body):
            r.error(join(path, "code"), f"expected the code to define {entry}(...)")
            continue
        if any(d.name == name for d in out):
            r.error(join(path, "name"), f"duplicate name {name!r}")
        out.append(Declared(name=name, code=code, diagnosis=diagnosis, framework=fw))
    return tuple(out)


def rules_extra(r: Reader, rules: dict[str, Any]) -> dict[str, Any]:
    """``rules.allow`` / ``max_lines`` / ``single_expression`` (the Rules fields beyond forbid/require)."""
    allow = None
    if rules.get("allow") is not None:
        allow = r.string_list(rules["allow"], "rules.allow", IDENT_PATTERN, "a Python name (or for, while...)")
        if not isinstance(rules["allow"], list) or not rules["allow"]:
            r.error("rules.allow", "expected a non-empty list of names such as [arange, where, shape]")
    max_lines = r.integer(rules.get("max_lines", MISSING), "rules.max_lines", 1, 200)
    single = r.boolean(rules.get("single_expression", MISSING), "rules.single_expression")
    return {"allow": allow, "max_lines": max_lines, "single_expression": bool(single)}

"""The exercise YAML schema: turn one parsed file into a ``domain.Exercise`` or precise, located errors."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

from service.domain import Case, CheckSpec, Exercise, Limits, Rules, Text
from service.exercises.errors import ExerciseError
from service.exercises.fields import ID_PATTERN, IDENT_PATTERN, MISSING, Reader
from service.exercises.schema_authoring import (
    AUTHORING_KEYS,
    check_case_args,
    declared,
    frameworks,
    generate,
    helpers,
    in_parameter_order,
    per_framework,
    rules_extra,
)
from service.exercises.yamltree import Tree, join
from service.results import DIAGNOSIS_CODES

# Weak-test linter candidates an exercise may waive with `allow: {name: reason}` (see lint.py).
LINT_CANDIDATES: tuple[str, ...] = (
    "unchanged_input", "reshape", "reversed_axes", "other_permutation", "transpose_all", "wrong_dtype",
)
COMMON_KEYS = ("id", "kind", "framework", "title", "prompt", "difficulty", "tags", "order", "hints", "explanation")
CODE_KEYS = ("entry", "starter", "solution", "cases", "check", "rules", "limits", "devices", "allow", "lint_input",
             *AUTHORING_KEYS)
QUIZ_KEYS = ("answer", "choices")
CASE_KEYS = ("name", "visible", "args")
CHECK_KEYS = tuple(CheckSpec.__dataclass_fields__)


@dataclass
class Parsed:
    """What the schema made of one file: the exercise (None if any error) and the explicit ``order``."""

    exercise: Exercise | None
    errors: list[ExerciseError] = field(default_factory=list)
    warnings: list[ExerciseError] = field(default_factory=list)
    explicit_order: int | None = None


def build_exercise(tree: Tree, file: str, stem: str, track: str, content_hash: str) -> Parsed:
    r = Reader(file, tree)
    doc = r.mapping(tree.value, "", "a mapping of exercise keys")
    if doc is None:
        return Parsed(None, r.errors)
    r.keys(doc, "", COMMON_KEYS + CODE_KEYS + QUIZ_KEYS)
    ex_id = r.string(r.required(doc, "", "id", "the exercise id, equal to the file name"), "id")
    if ex_id is not None and not ID_PATTERN.match(ex_id):
        r.error("id", f"expected lowercase letters, digits and single dashes (^[a-z0-9]+(-[a-z0-9]+)*$), got {ex_id!r}")
    elif ex_id is not None and ex_id != stem:
        r.error("id", f"expected the id to equal the file name {stem!r}, got {ex_id!r}")
    kind = r.choice(r.required(doc, "", "kind", "code | shape | choice"), "kind", ("code", "shape", "choice"))
    fw_value = doc.get("framework", MISSING if kind == "code" else "torch")
    if fw_value is MISSING:
        r.error("", "missing required key 'framework' (torch | numpy)")
    framework, offered = frameworks(r, fw_value)
    if offered and kind != "code":
        r.error("framework", "only code exercises may be offered in several frameworks")
    title = r.text(r.required(doc, "", "title", "{en, ja}"), "title")
    prompt = r.text(r.required(doc, "", "prompt", "{en, ja}"), "prompt")
    difficulty = r.integer(r.required(doc, "", "difficulty", "1..5"), "difficulty", 1, 5)
    tags = r.string_list(doc.get("tags"), "tags")
    order = r.integer(doc.get("order", MISSING), "order", 0)
    hints = _hints(r, doc.get("hints", MISSING))
    explanation = r.text(doc.get("explanation", MISSING), "explanation")
    common: dict[str, Any] = dict(
        id=ex_id or stem, kind=kind or "code", framework=framework or "torch", track=track,
        title=title, prompt=prompt, difficulty=difficulty or 1, tags=tags, content_hash=content_hash,
        source_path=file, hints=hints, explanation=explanation, order=order or 0,
    )
    if kind == "code":
        for key in QUIZ_KEYS:
            if key in doc:
                r.error(key, f"a code exercise must not have {key!r} (only shape/choice quizzes do)")
        common |= _code_fields(r, doc, common["framework"], offered or (common["framework"],), content_hash)
    elif kind in ("shape", "choice"):
        for key in CODE_KEYS:
            if key in doc:
                r.error(key, f"a {kind} quiz must not have {key!r} (only code exercises do)")
        if explanation is None and "explanation" not in doc:
            r.error("", "missing required key 'explanation' ({en, ja}, shown after answering)")
        common |= _quiz_fields(r, doc, kind)
    located = sorted(r.errors, key=lambda e: e.line)  # stable: same-line errors keep their order
    errors = [e for e in located if e.severity == "error"]
    warnings = [e for e in located if e.severity == "warning"]
    exercise = None if errors or kind is None else Exercise(**common)
    return Parsed(exercise, errors, warnings, order)


def _hints(r: Reader, value: Any) -> dict[str, Text]:
    hints: dict[str, Text] = {}
    mapping = r.mapping(value, "hints", "a mapping of diagnosis code to {en, ja}")
    for code, text in (mapping or {}).items():
        if code not in DIAGNOSIS_CODES:
            r.keys({code: text}, "hints", DIAGNOSIS_CODES)
            continue
        parsed = r.text(text, join("hints", code))
        if parsed is not None:
            hints[code] = parsed
    return hints


def _code(r: Reader, value: Any, path: str, entry: str, *, required: bool) -> tuple[str, ast.Module | None]:
    """Compile ``value``; a syntax error points at the YAML line of the offending code line."""
    if value is MISSING and required:
        r.error("", f"missing required key {path!r} (Python source defining {entry}(...))")
    code = r.string(value, path)
    if code is None:
        return "", None
    try:
        module = ast.parse(code, filename=path)
    except SyntaxError as exc:
        node = r.tree.nodes.get(path)
        line = r.tree.line(path)
        if node is not None and exc.lineno:
            # A block scalar (`|`) starts on the line after its key; a one-line string sits on the key's line.
            line = node.start_mark.line + (1 if getattr(node, "style", None) in ("|", ">") else 0) + exc.lineno
        r.errors.append(ExerciseError(r.file, line, path, f"Python syntax error: {exc.msg} (line {exc.lineno} of {path})"))
        return code, None
    defined = {n.name for n in module.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    if entry not in defined:
        r.error(path, f"expected {path} to define a function {entry}(...) (the entry), found {sorted(defined) or 'none'}")
        return code, None
    return code, module


def _params(module: ast.Module | None, entry: str) -> tuple[list[str], list[str], bool] | None:
    """(all parameter names, the required ones, takes **kwargs/*args) of the entry function."""
    for node in module.body if module else []:
        if isinstance(node, ast.FunctionDef) and node.name == entry:
            a = node.args
            names = [p.arg for p in a.posonlyargs + a.args + a.kwonlyargs]
            positional = a.posonlyargs + a.args
            required = [p.arg for p in positional[: len(positional) - len(a.defaults)]]
            required += [p.arg for p, d in zip(a.kwonlyargs, a.kw_defaults, strict=True) if d is None]
            return names, required, a.vararg is not None or a.kwarg is not None
    return None


def _code_fields(r: Reader, doc: dict[str, Any], framework: str, offered: tuple[str, ...],
                 version: str) -> dict[str, Any]:
    entry = r.string(doc.get("entry", "solve"), "entry") or "solve"
    if not IDENT_PATTERN.match(entry):
        r.error("entry", f"expected a Python function name, got {entry!r}")
    code: dict[str, dict[str, str]] = {fw: {} for fw in offered}
    module = None
    for key in ("starter", "solution"):
        values = per_framework(r, doc, key, offered)
        shared = not isinstance(doc.get(key), dict)  # one text for every framework (einops answers are)
        for fw in offered[:1] if shared else offered:
            source, parsed = _code(r, values[fw], key if shared else f"{key}.{fw}", entry, required=fw == framework)
            for target in offered if shared else (fw,):
                code[target][key] = source
            module = module or (parsed if key == "solution" else None)
    starter, solution = code[framework]["starter"], code[framework]["solution"]
    cases = _cases(r, r.required(doc, "", "cases", "a list of test cases"), framework, _params(module, entry), entry)
    gen, extra = generate(r, doc.get("generate", MISSING), cases, framework, version)
    cases = in_parameter_order(cases, _params(module, entry))
    extra = in_parameter_order(extra, _params(module, entry))
    lint_input = doc.get("lint_input", MISSING)
    allow: dict[str, str] = {}
    for name, reason in (r.mapping(doc.get("allow", MISSING), "allow", "a mapping of lint candidate to reason") or {}).items():
        if name not in LINT_CANDIDATES:
            r.keys({name: reason}, "allow", LINT_CANDIDATES)
        elif (text := r.string(reason, join("allow", name))) is not None:
            allow[name] = text
    if lint_input is not MISSING and r.string(lint_input, "lint_input") is not None and cases:
        if not all(lint_input in c.args for c in cases):
            r.error("lint_input", f"expected the name of an argument present in every case, got {lint_input!r}")
    return dict(entry=entry, starter=starter, solution=solution, cases=cases + extra,
                check=_check(r, doc.get("check", MISSING), framework), rules=_rules(r, doc.get("rules", MISSING)),
                limits=_limits(r, doc.get("limits", MISSING)), devices=_devices(r, doc.get("devices", MISSING), framework),
                allow=allow, lint_input=lint_input if isinstance(lint_input, str) else "",
                helpers=helpers(r, doc.get("helpers", MISSING), entry), frameworks=offered if len(offered) > 1 else (),
                per_framework={fw: code[fw] for fw in offered if fw != framework}, generate=gen,
                wrong_answers=declared(r, doc.get("wrong_answers", MISSING), "wrong_answers", entry, offered),
                alternatives=declared(r, doc.get("alternatives", MISSING), "alternatives", entry, offered))


def _cases(r: Reader, value: Any, framework: str, params: tuple[list[str], list[str], bool] | None,
           entry: str) -> tuple[Case, ...]:
    if value is MISSING:
        return ()
    if not isinstance(value, list) or not value:
        r.error("cases", "expected a non-empty list of cases")
        return ()
    cases: list[Case] = []
    for i, item in enumerate(value):
        path = join("cases", i)
        case = r.mapping(item, path, "a case mapping with args (and optional name, visible)")
        if case is None:
            continue
        r.keys(case, path, CASE_KEYS)
        name = r.string(case.get("name", f"case-{i + 1}"), join(path, "name"))
        visible = r.boolean(case.get("visible", False), join(path, "visible"))
        args = r.mapping(r.required(case, path, "args", "a mapping of argument name to value spec"), join(path, "args"))
        if args is None or name is None:
            continue
        for arg in args:
            arg_path = join(join(path, "args"), str(arg))
            if not IDENT_PATTERN.match(str(arg)):
                r.error(arg_path, f"expected a Python parameter name, got {arg!r}")
            elif params is not None and not params[2] and arg not in params[0]:
                r.error(arg_path, f"{arg!r} is not a parameter of {entry}({', '.join(params[0])})")
        check_case_args(r, path, args, framework)
        if params is not None:
            for missing in (p for p in params[1] if p not in args):
                r.error(join(path, "args"), f"missing argument {missing!r} of {entry}({', '.join(params[0])})")
        if any(c.name == name for c in cases):
            r.error(join(path, "name"), f"duplicate case name {name!r} (case names must be unique)")
        cases.append(Case(name=name, visible=bool(visible), args=args))
    if cases and not any(c.visible for c in cases):
        r.error("cases", "expected at least one visible case (visible: true), got none")
    if cases and all(c.visible for c in cases):
        r.error("cases", "no hidden case: add at least one case with visible: false (recommended)", "warning")
    return tuple(cases)


def _check(r: Reader, value: Any, framework: str) -> CheckSpec:
    check = r.mapping(value, "check")
    if check is None:
        return CheckSpec()
    r.keys(check, "check", CHECK_KEYS)
    values = r.choice(check.get("values", "exact"), "check.values", ("exact", "close")) or "exact"
    if values == "exact":
        for key in ("rtol", "atol"):
            if check.get(key) is not None:
                r.error(join("check", key), f"{key} only applies with values: close")
    flags = {k: r.boolean(check.get(k, MISSING), join("check", k))
             for k in ("dtype", "view_of_input", "input_unchanged", "device")}
    tri = {k: r.boolean(check.get(k), join("check", k), nullable=True) for k in ("contiguous", "channels_last")}
    if tri["channels_last"] and framework != "torch":
        r.error("check.channels_last", "channels_last applies to torch tensors only (framework: numpy)")
    return CheckSpec(
        values="close" if values == "close" else "exact",
        rtol=r.number(check.get("rtol", MISSING), "check.rtol"), atol=r.number(check.get("atol", MISSING), "check.atol"),
        **{k: v for k, v in flags.items() if v is not None}, **tri,  # type: ignore[arg-type]
    )


def _rules(r: Reader, value: Any) -> Rules:
    rules = r.mapping(value, "rules")
    if rules is None:
        return Rules()
    r.keys(rules, "rules", ("forbid", "require", "allow", "max_lines", "single_expression"))
    return Rules(
        forbid=r.string_list(rules.get("forbid"), "rules.forbid", IDENT_PATTERN, "a Python name"),
        require=r.string_list(rules.get("require"), "rules.require", IDENT_PATTERN, "a Python name"),
        **rules_extra(r, rules),
    )


def _limits(r: Reader, value: Any) -> Limits:
    limits = r.mapping(value, "limits")
    if limits is None:
        return Limits()
    r.keys(limits, "limits", ("time_s", "memory_mb"))
    time_s = limits.get("time_s", Limits.time_s)
    if not isinstance(time_s, int | float) or isinstance(time_s, bool) or not 0 < time_s <= 10:
        r.error("limits.time_s", f"expected a number of seconds in (0, 10], got {time_s!r}")
        time_s = Limits.time_s
    memory = r.integer(limits.get("memory_mb", Limits.memory_mb), "limits.memory_mb", 64, 4096)
    return Limits(time_s=float(time_s), memory_mb=memory or Limits.memory_mb)


def _devices(r: Reader, value: Any, framework: str) -> tuple[str, ...]:
    if value is MISSING:
        return ("cpu",)
    devices = r.string_list(value, "devices")
    for i, device in enumerate(devices):
        if device not in ("cpu", "cuda"):
            r.error(join("devices", i), f"expected cpu or cuda, got {device!r}")
        elif device == "cuda" and framework != "torch":
            r.error(join("devices", i), "cuda applies to torch exercises only (framework: numpy)")
    if not devices or len(set(devices)) != len(devices):
        r.error("devices", f"expected a non-empty list of distinct devices ([cpu] or [cpu, cuda]), got {list(devices)}")
    return devices or ("cpu",)


def _quiz_fields(r: Reader, doc: dict[str, Any], kind: str) -> dict[str, Any]:
    answer = r.required(doc, "", "answer", "the correct answer")
    if kind == "shape":
        if "choices" in doc:
            r.error("choices", "a shape quiz must not have 'choices' (only choice quizzes do)")
        if answer is not MISSING and (not isinstance(answer, list) or not all(
                isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in answer)):
            r.error("answer", f"expected a shape, a list of non-negative integers such as [3, 2], got {answer!r}")
        return dict(answer=answer if answer is not MISSING else None)
    raw = r.required(doc, "", "choices", "a list of choices")
    choices: list[Text] = []
    if raw is not MISSING:
        if not isinstance(raw, list) or len(raw) < 2:
            r.error("choices", "expected a list of at least two choices")
            raw = []
        for i, item in enumerate(raw):
            text = r.text(item, join("choices", i), plain_ok=True)
            choices.append(text or Text("", ""))
    indices = [answer] if isinstance(answer, int) and not isinstance(answer, bool) else answer
    if answer is not MISSING:
        if not isinstance(indices, list) or not indices or not all(
                isinstance(i, int) and not isinstance(i, bool) for i in indices):
            r.error("answer", f"expected a choice index or a non-empty list of indices, got {answer!r}")
        elif any(not 0 <= i < len(choices) for i in indices) or len(set(indices)) != len(indices):
            r.error("answer", f"expected distinct indices from 0 to {len(choices) - 1}, got {answer!r}")
    return dict(answer=answer if answer is not MISSING else None, choices=tuple(choices))

"""Malformed exercise files give one exact error each: file, line, key and what was expected."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from exercise_support import VALID
from hypothesis import given, settings
from hypothesis import strategies as st

from service.exercises import load_catalog
from service.exercises.loader import parse_exercise


def _errors(root) -> list[str]:
    return [str(e) for e in load_catalog(root).errors]


def _variant(old: str, new: str, name: str = "permute-2d") -> str:
    text = VALID.format(id=name)
    assert old in text
    return text.replace(old, new, 1)


def test_valid_file_loads_with_track_and_hash(tree: Callable[..., Path]) -> None:
    catalog = load_catalog(tree())
    assert catalog.errors == []
    ex = catalog.get("permute-2d")
    assert ex is not None and ex.track == "basics" and ex.kind == "code"
    assert ex.source_path == "exercises/basics/permute-2d.yaml"
    assert len(ex.content_hash) == 64 and [c.name for c in ex.cases] == ["example", "case-2"]
    assert ex.visible_cases[0].args == {"x": [[1, 2, 3], [4, 5, 6]]}
    assert [(t.id, t.title.ja, t.exercise_ids) for t in catalog.tracks] == [("basics", "基本", ("permute-2d",))]


def test_unknown_key_suggests_the_closest(tree: Callable[..., Path]) -> None:
    root = tree(text=_variant("solution: |", "soluton: |"))
    assert _errors(root) == [
        "exercises/basics/permute-2d.yaml:1: missing required key 'solution' (Python source defining solve(...))",
        "exercises/basics/permute-2d.yaml:11: soluton: unknown key 'soluton' (did you mean 'solution'?)",
    ]


def test_argument_of_wrong_type(tree: Callable[..., Path]) -> None:
    root = tree(text=_variant("args: {x: {arange: [3, 5]}}", "args: {x: hello}"))
    assert _errors(root) == [
        "exercises/basics/permute-2d.yaml:18: cases[1].args.x: expected a nested list of numbers or a mapping "
        "with one of arange/coded/random/literal/value/ones/zeros/full/randint/index/mask/dim_of, got a string",
    ]


def test_missing_japanese_translation(tree: Callable[..., Path]) -> None:
    root = tree(text=_variant('title: {en: "Transpose", ja: "転置"}', 'title: {en: "Transpose"}'))
    assert _errors(root) == [
        "exercises/basics/permute-2d.yaml:4: title.ja: missing Japanese translation "
        "(expected title.ja, a non-empty string)",
    ]


def test_duplicate_id_across_two_files_names_both(tree: Callable[..., Path]) -> None:
    tree()
    root = tree(track="nd")
    catalog = load_catalog(root)
    assert [str(e) for e in catalog.errors] == [
        "exercises/nd/permute-2d.yaml:1: id: duplicate id 'permute-2d': also defined in "
        "exercises/basics/permute-2d.yaml and exercises/nd/permute-2d.yaml",
    ]
    assert catalog.get("permute-2d").track == "basics"  # the first one still loads


@pytest.mark.parametrize(("bad_id", "message"), [
    ("Permute_2D", "expected lowercase letters, digits and single dashes (^[a-z0-9]+(-[a-z0-9]+)*$), got 'Permute_2D'"),
    ("permute--2d", "expected lowercase letters, digits and single dashes (^[a-z0-9]+(-[a-z0-9]+)*$), got 'permute--2d'"),
    ("other", "expected the id to equal the file name 'permute-2d', got 'other'"),
])
def test_bad_id(tree: Callable[..., Path], bad_id: str, message: str) -> None:
    root = tree(text=_variant("id: permute-2d", f"id: {bad_id}"))
    assert _errors(root) == [f"exercises/basics/permute-2d.yaml:1: id: {message}"]


def test_bad_dtype_points_at_the_dtype_key(tree: Callable[..., Path]) -> None:
    root = tree(text=_variant("{arange: [3, 5]}", "{random: [3, 5],\n        dtype: float8}"))
    assert _errors(root) == [
        "exercises/basics/permute-2d.yaml:19: cases[1].args.x.dtype: expected a dtype, one of bool, uint8, int8, "
        "int16, int32, int64, float16, float32, float64, complex64, complex128, got 'float8'",
    ]


def test_solution_syntax_error_reports_the_yaml_line_of_the_code_line(tree: Callable[..., Path]) -> None:
    root = tree(text=_variant("return x.permute(1, 0)", "return x.permute(1, 0"))
    assert _errors(root) == [
        "exercises/basics/permute-2d.yaml:13: solution: Python syntax error: '(' was never closed (line 2 of solution)",
    ]


def test_solution_must_define_the_entry(tree: Callable[..., Path]) -> None:
    root = tree(text=_variant("def solve(x):\n      return", "def answer(x):\n      return"))
    assert _errors(root) == [
        "exercises/basics/permute-2d.yaml:11: solution: expected solution to define a function solve(...) "
        "(the entry), found ['answer']",
    ]


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("difficulty: 1", "difficulty: 9", "6: difficulty: expected an integer from 1 to 5, got 9"),
    ("difficulty: 1", "difficulty: easy", "6: difficulty: expected an integer from 1 to 5, got a string"),
    ("kind: code", "kind: essay", "2: kind: expected one of code | shape | choice, got 'essay'"),
    ("tags: [permute]", "tags: [permute]\nhints: {reshape_not_permute: {en: a, ja: b}}",
     "8: hints.reshape_not_permute: unknown key 'reshape_not_permute' (did you mean 'reshape_instead_of_permute'?)"),
    ("tags: [permute]", "tags: [permute]\nallow: {reshape: ''}", "8: allow.reshape: expected a non-empty string, got an empty string"),
    ("tags: [permute]", "tags: [permute]\nlimits: {time_s: 60}", "8: limits.time_s: expected a number of seconds in (0, 10], got 60"),
    ("visible: true", "visible: false", "14: cases: expected at least one visible case (visible: true), got none"),
    ("  - args: {x: {arange: [3, 5]}}", "  - name: example\n    args: {x: {arange: [3, 5]}}",
     "18: cases[1].name: duplicate case name 'example' (case names must be unique)"),
    ("{x: {arange: [3, 5]}}", "{y: {arange: [3, 5]}}", "18: cases[1].args.y: 'y' is not a parameter of solve(x)"),
    ("{arange: [3, 5]}", "{coded: [11, 2]}", "18: cases[1].args.x.coded: expected every axis size to be at most 10 "
                                             "(one digit per index), got [11, 2]"),
])
def test_field_errors(tree: Callable[..., Path], old: str, new: str, expected: str) -> None:
    errors = _errors(tree(text=_variant(old, new)))
    assert f"exercises/basics/permute-2d.yaml:{expected}" in errors, errors


def test_quiz_rules(tree: Callable[..., Path]) -> None:
    quiz = """\
    id: q
    kind: choice
    title: {en: Q, ja: 問}
    prompt: {en: "Which?", ja: "どれ?"}
    difficulty: 1
    choices: [a, {en: b, ja: び}]
    answer: [1, 2]
    explanation: {en: E, ja: 説明}
    solution: "x"
    """
    assert _errors(tree(name="q", text=quiz)) == [
        "exercises/basics/q.yaml:7: answer: expected distinct indices from 0 to 1, got [1, 2]",
        "exercises/basics/q.yaml:9: solution: a choice quiz must not have 'solution' (only code exercises do)",
    ]


def test_one_bad_file_does_not_stop_the_others(tree: Callable[..., Path]) -> None:
    tree(name="good-one")
    root = tree(name="broken", text="id: broken\nkind: [code\n")
    catalog = load_catalog(root)
    assert list(catalog.exercises) == ["good-one"]
    assert catalog.bad_files == ["exercises/basics/broken.yaml"]
    assert str(catalog.errors[0]).startswith("exercises/basics/broken.yaml:3: invalid YAML")


def test_duplicate_yaml_key_is_an_error(tree: Callable[..., Path]) -> None:
    root = tree(text=_variant("difficulty: 1", "difficulty: 1\ndifficulty: 2"))
    assert _errors(root) == ["exercises/basics/permute-2d.yaml:7: difficulty: duplicate key 'difficulty' (first on line 6)"]


_JUNK = st.one_of(st.none(), st.booleans(), st.integers(-5, 20), st.floats(allow_nan=False), st.text(max_size=5),
                  st.lists(st.integers(0, 4), max_size=3), st.dictionaries(st.sampled_from(["en", "ja", "x"]), st.text(max_size=3)))


@settings(max_examples=300, deadline=None)
@given(key=st.sampled_from(["kind", "framework", "title", "difficulty", "tags", "starter", "solution", "cases",
                            "check", "rules", "hints", "limits", "devices", "allow", "answer", "choices", "order"]),
       value=_JUNK)
def test_any_wrong_value_is_an_error_not_an_exception(key: str, value: object) -> None:
    doc = yaml.safe_load(VALID.format(id="permute-2d"))
    doc[key] = value
    parsed = parse_exercise(yaml.safe_dump(doc, allow_unicode=True).encode(), "f.yaml", "permute-2d", "basics")
    assert parsed.exercise is not None or all(e.file == "f.yaml" and e.line >= 1 for e in parsed.errors)
    assert parsed.exercise is not None or parsed.errors

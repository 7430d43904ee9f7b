"""Bilingual starters, case labels and pinned expectations: the YAML keys and their errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from exercise_support import VALID

from service.exercises import load_catalog

BILINGUAL_STARTER = '''starter:
  en: |
    def solve(x):
        """x: (m, n). Return (n, m)."""
        ...
  ja: |
    def solve(x):
        """x: 形状 (m, n)。形状 (n, m) を返します。"""
        ...
'''


def _text(**replace: str) -> str:
    text = VALID.format(id="permute-2d")
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new, 1)
    return text


def test_bilingual_starter_and_labels_load(tree: Callable[..., Path]) -> None:
    text = _text(**{"starter: |\n  def solve(x):\n      ...\n": BILINGUAL_STARTER,
                    "  - name: example\n": "  - name: example\n    label: {en: the article's table, ja: 記事の表}\n"})
    catalog = load_catalog(tree(text=text))
    assert catalog.errors == []
    ex = catalog.get("permute-2d")
    assert ex is not None and ex.starters is not None
    assert "形状 (n, m)" in ex.starter_for("ja") and "Return (n, m)" in ex.starter_for("en")
    assert ex.starter == ex.starter_for("en")  # the plain field stays the English one (old readers keep working)
    assert ex.cases[0].label_for("ja") == "記事の表" and ex.cases[1].label_for("ja") == "case-2"


def test_plain_starter_is_used_for_both_languages(tree: Callable[..., Path]) -> None:
    ex = load_catalog(tree()).get("permute-2d")
    assert ex is not None and ex.starters is None and ex.starter_for("ja") == ex.starter


def test_bilingual_starter_needs_both_languages_and_the_entry(tree: Callable[..., Path]) -> None:
    text = _text(**{"starter: |\n  def solve(x):\n      ...\n":
                    "starter:\n  en: |\n    def solve(x):\n        ...\n  ja: |\n    def other(x):\n        ...\n"})
    errors = [str(e) for e in load_catalog(tree(text=text)).errors]
    assert any("starter.ja" in e and "define a function solve" in e for e in errors), errors
    text = _text(**{"starter: |\n  def solve(x):\n      ...\n": "starter:\n  en: |\n    def solve(x):\n        ...\n"})
    errors = [str(e) for e in load_catalog(tree(text=text)).errors]
    assert any("starter.ja" in e and "missing" in e for e in errors), errors


def test_pins_are_parsed_and_bad_pins_are_located(tree: Callable[..., Path]) -> None:
    text = _text(**{"    args: {x: [[1, 2, 3], [4, 5, 6]]}\n":
                    "    args: {x: [[1, 2, 3], [4, 5, 6]]}\n    expect: [[1, 4], [2, 5], [3, 6]]\n    expect_shape: [3, 2]\n"})
    ex = load_catalog(tree(text=text)).get("permute-2d")
    assert ex is not None and ex.cases[0].expect == [[1, 4], [2, 5], [3, 6]] and ex.cases[0].expect_shape == (3, 2)
    text = _text(**{"    args: {x: [[1, 2, 3], [4, 5, 6]]}\n":
                    "    args: {x: [[1, 2, 3], [4, 5, 6]]}\n    expect: hello\n    expect_shape: [3, -2]\n"})
    errors = [str(e) for e in load_catalog(tree(text=text)).errors]
    assert any("cases[0].expect:" in e for e in errors) and any("cases[0].expect_shape" in e for e in errors), errors


def test_a_hint_ladder_loads_and_is_bounded(tree: Callable[..., Path]) -> None:
    ladder = ("hints:\n  wrong_axis_order:\n    - {en: look at seat 0, ja: 席0 を見ましょう}\n"
              "    - {en: seat 0 holds axis 1, ja: 席0 には軸1}\n")
    ex = load_catalog(tree(text=VALID.format(id="permute-2d") + ladder)).get("permute-2d")
    assert ex is not None and [t.en for t in ex.hint_ladders["wrong_axis_order"]] == ["look at seat 0",
                                                                                      "seat 0 holds axis 1"]
    assert ex.hints["wrong_axis_order"].en == "look at seat 0"  # readers of the plain hints get rung 1
    long = ladder + "    - {en: a, ja: a}\n    - {en: b, ja: b}\n"
    errors = [str(e) for e in load_catalog(tree(text=VALID.format(id="permute-2d") + long)).errors]
    assert any("ladder of 1 to 3 hints" in e for e in errors), errors

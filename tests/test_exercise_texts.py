"""The bundled pack as a teacher reads it: prompts state goals, difficulty climbs, the Japanese reads cleanly."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.domain import Exercise
from service.exercises import load_catalog

ROOT = Path(__file__).resolve().parent.parent / "exercises"
README = ROOT.parent / "README.md"
CATALOG = load_catalog(ROOT)
EXERCISES = sorted(CATALOG.exercises.values(), key=lambda e: e.id)


def _worked_examples() -> set[str]:
    """The first code exercise of each track: the one place a prompt may show the call it asks for."""
    firsts = set()
    for track in CATALOG.tracks:
        code = [i for i in track.exercise_ids if CATALOG.exercises[i].kind == "code"]
        if code:
            firsts.add(code[0])
    return firsts


def _constant_like(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.UnaryOp):
        return _constant_like(node.operand)
    if isinstance(node, (ast.Tuple, ast.List)):
        return all(_constant_like(e) for e in node.elts)
    if isinstance(node, ast.Attribute):  # torch.channels_last
        return isinstance(node.value, ast.Name) or _constant_like(node.value)
    return False


def distinctive_calls(solution: str) -> set[str]:
    """What would hand the answer over if a prompt printed it: each call with literal arguments
    (``permute(2, 0, 1)``), each whole call with arguments as written, and each einsum-style subscript."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(solution)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and "->" in node.value:
            found.add(node.value)
        if not isinstance(node, ast.Call) or not (node.args or node.keywords):
            continue
        found.add(ast.unparse(node))
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if all(_constant_like(a) for a in node.args) and all(_constant_like(k.value) for k in node.keywords):
            args = [ast.unparse(a) for a in node.args] + [f"{k.arg}={ast.unparse(k.value)}" for k in node.keywords]
            found.add(f"{name}({', '.join(args)})")
    return found


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text).replace('"', "'")


def _texts(ex: Exercise) -> Iterator[tuple[str, str]]:
    """Every learner-facing string of an exercise as (where, text)."""
    for lang in ("en", "ja"):
        yield f"title.{lang}", ex.title.get(lang)
        yield f"prompt.{lang}", ex.prompt.get(lang)
        for code, hint in ex.hints.items():
            yield f"hints.{code}.{lang}", hint.get(lang)
        if ex.explanation:
            yield f"explanation.{lang}", ex.explanation.get(lang)
        for i, choice in enumerate(ex.choices):
            yield f"choices[{i}].{lang}", choice.get(lang)
    for track in CATALOG.tracks:
        if ex.id in track.exercise_ids:
            yield "track.title.ja", track.title.ja


def test_the_pack_has_76_or_more_exercises_and_no_errors() -> None:
    assert CATALOG.errors == []
    assert len(EXERCISES) >= 76


def test_readme_states_the_exercise_count() -> None:
    assert f"the {len(EXERCISES)} bundled exercises" in README.read_text("utf-8")


def test_distinctive_calls_finds_what_a_prompt_would_give_away() -> None:
    calls = distinctive_calls("def solve(x):\n    return torch.einsum('bhtd->bthd', x.permute(2, 0, 1))\n")
    assert {"bhtd->bthd", "permute(2, 0, 1)", "x.permute(2, 0, 1)"} <= calls
    assert "reshape(-1)" in distinctive_calls("def solve(x):\n    return x.t().reshape(-1)\n")
    assert distinctive_calls("def solve(x):\n    return x.T\n") == set()


@pytest.mark.parametrize("ex", [e for e in EXERCISES if e.kind == "code" and e.id not in _worked_examples()],
                         ids=lambda e: e.id)
def test_prompts_after_the_worked_example_state_the_goal_not_the_call(ex: Exercise) -> None:
    leaks = []
    for lang in ("en", "ja"):
        starter = ex.starter_for(lang) if hasattr(ex, "starter_for") else ex.starter  # bilingual starters
        shown = _squash(ex.title.get(lang) + "\n" + ex.prompt.get(lang) + "\n" + starter)
        leaks += [call for call in distinctive_calls(ex.solution) if _squash(call) in shown]
    assert leaks == [], f"{ex.id}: the title, prompt or starter hands over the reference's call"


@pytest.mark.parametrize("track", CATALOG.tracks, ids=lambda t: t.id)
def test_difficulty_never_drops_within_a_track(track: object) -> None:
    levels = [(i, CATALOG.exercises[i].difficulty) for i in track.exercise_ids]  # type: ignore[attr-defined]
    drops = [(a, b) for (a, da), (b, db) in zip(levels, levels[1:], strict=False) if db < da]
    assert drops == [], f"a harder exercise comes before an easier one: {drops}"


def test_every_track_has_its_own_position() -> None:
    orders = [t.order for t in CATALOG.tracks]
    assert len(set(orders)) == len(orders), "two tracks share an order: their sequence depends on folder names"


def test_tokens_to_image_comes_before_patchify() -> None:
    ids = next(t.exercise_ids for t in CATALOG.tracks if "patchify" in t.exercise_ids)
    assert ids.index("tokens-to-image") < ids.index("patchify")


def _soft_breaks(text: str) -> Iterator[tuple[str, str]]:
    """Line pairs that Markdown joins into one paragraph or list item (outside code fences and tables)."""
    fenced = False
    prev = ""
    for line in text.splitlines():
        if line.strip().startswith("```"):
            fenced = not fenced
            prev = ""
            continue
        if fenced or not line.strip() or line.lstrip().startswith("|"):
            prev = ""
            continue
        if prev and not re.match(r"\s*([-*]|\d+\.)\s", line):
            yield prev, line
        prev = line


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda e: e.id)
def test_japanese_reads_cleanly(ex: Exercise) -> None:
    problems = []
    for where, text in _texts(ex):
        if not where.endswith("ja"):
            continue
        for a, b in _soft_breaks(text):
            # A line break inside a Japanese paragraph renders as a stray space: one paragraph, one line.
            problems.append(f"{where}: folded line {a[-12:]!r} / {b.strip()[:12]!r}")
        plain = re.sub(r"`[^`]*`", "`…`", re.sub(r"```.*?```", "", text, flags=re.S))
        if re.search(r"(?<![*\\])\*(?!\*)[^*\n]+(?<!\*)\*(?!\*)", plain):
            problems.append(f"{where}: faux-italic *…* emphasis")
        if "本の文字" in text:
            problems.append(f"{where}: Japanese books run vertically; say 横書きの文章のように")
        if re.search(r"[。、] ", plain):
            problems.append(f"{where}: a space after 。 or 、")
        if "（" in plain or "）" in plain:
            problems.append(f"{where}: full-width parentheses (the glossary uses half-width ones)")
        if re.search(r"(?<![\d.])\d+ つ", plain):
            problems.append(f"{where}: a counter written with a space (「2つ」)")
        if ";" in plain:
            problems.append(f"{where}: clauses joined by an ASCII semicolon")
        if "ダメ" in text:
            problems.append(f"{where}: ダメ breaks the です/ます register")
        if re.search(r"次元\s*[0-9０-９]", plain):
            problems.append(f"{where}: an axis position is 軸N, not 次元N")
    assert problems == []


@pytest.mark.parametrize("ex", [e for e in EXERCISES if e.kind == "code"], ids=lambda e: e.id)
def test_hints_point_at_the_mistake_without_the_answers_call(ex: Exercise) -> None:
    """Staged feedback holds back a hint that contains the call until the last rung; ours never need to wait."""
    calls = distinctive_calls(ex.solution)
    leaks = [(code, call) for code, hint in ex.hints.items() for call in calls
             if _squash(call) in _squash(hint.en) or _squash(call) in _squash(hint.ja)]
    assert leaks == []

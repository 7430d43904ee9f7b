"""Dependency direction across the whole package: web, api -> services -> exercises, grading, persistence
-> domain. Read from the source (every import statement, lazy ones inside functions included)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVICE = Path(__file__).resolve().parent.parent / "service"

# What each part may import from `service.*` (besides itself). Shared infrastructure (config, extensions,
# errors) sits beside the layers. `exercises` and `grading` are one layer: the linter judges wrong answers
# with the grader's comparison, and the grader materialises the exercise's inputs.
ALLOWED: dict[str, set[str]] = {
    "domain": set(),
    "results": set(),
    "sandbox": set(),
    "exercises": {"domain", "results", "sandbox", "grading"},
    "grading": {"domain", "results", "sandbox", "exercises"},
    "persistence": {"domain", "config", "extensions"},
    "services": {"domain", "results", "exercises", "grading", "sandbox", "persistence", "config", "extensions",
                 "errors", "telemetry"},
    "api": {"domain", "results", "services", "errors", "extensions", "telemetry"},
    "web": {"domain", "results", "services", "errors", "extensions", "telemetry"},
    # A leaf: metrics, logs and request ids import nothing of Kiwame, and the pure layers never import it
    # (sandbox numbers are read from SandboxPool.stats() at scrape time by services.readings).
    "telemetry": set(),
}
# Layers that must stay free of the web framework and the database (plain data only).
NO_FRAMEWORK = {"domain", "results", "sandbox", "exercises", "grading"}


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def part_of(path: Path) -> str:
    rel = path.relative_to(SERVICE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


FILES = sorted(p for p in SERVICE.rglob("*.py") if part_of(p) in ALLOWED)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SERVICE)))
def test_imports_point_down(path: Path) -> None:
    part = part_of(path)
    bad = set()
    for name in imports_of(path):
        top = name.split(".")
        if top[0] == "service" and len(top) > 1 and top[1] != part and top[1] not in ALLOWED[part]:
            bad.add(name)
        if part in NO_FRAMEWORK and top[0] in {"flask", "flask_sqlalchemy", "sqlalchemy", "werkzeug"}:
            bad.add(name)
    assert not bad, f"{part} must not import {sorted(bad)}"


def test_the_rule_is_checked_on_real_files() -> None:
    parts = {part_of(p) for p in FILES}
    assert parts == set(ALLOWED)  # every layer has files, so a rename cannot silently empty the test
    assert imports_of(SERVICE / "web" / "sessions.py") >= {"service.services"}

"""Dependency direction across the whole package: entry points (cli, serve, worker) -> app -> edges (web, api,
lti) -> services -> authoring -> grading -> exercises, persistence -> domain. Read from the source (every
import statement, lazy ones inside functions included)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVICE = Path(__file__).resolve().parent.parent / "service"

INFRA = {"config", "extensions", "errors"}  # shared infrastructure beside the layers
# What each part may import from `service.*` (besides itself).
ALLOWED: dict[str, set[str]] = {
    "domain": set(),
    "results": set(),
    "sandbox": set(),
    "config": set(),
    "extensions": set(),
    "errors": set(),
    "request_limits": {"config", "errors"},  # JSON depth guard and trusted proxies, beside errors (issue 11)
    "telemetry": {"config"},  # a leaf: metrics declared once; imported by edges and services, never below
    "exercises": {"domain", "results", "sandbox"},
    "grading": {"domain", "results", "sandbox", "exercises"},
    # Authoring tools (validation, the weak-test linter) judge exercises with the grader: above both.
    "authoring": {"domain", "results", "sandbox", "exercises", "grading"},
    "persistence": {"domain", "config", "extensions"},
    "services": {"domain", "results", "exercises", "grading", "authoring", "sandbox", "persistence", "telemetry",
                 *INFRA},
    # Edges: HTTP in, plain data to services. Nothing but the app's wiring imports them.
    "api": {"domain", "results", "services", "telemetry", *INFRA},
    "web": {"domain", "results", "services", "telemetry", *INFRA},
    "lti": {"domain", "results", "services", "telemetry", *INFRA},
    # Wiring: the factory registers edges and builds the runtime.
    "app": {"domain", "exercises", "persistence", "services", "api", "web", "lti", "telemetry", "request_limits",
            *INFRA},
    # Entry points: processes started from outside; they import down and nothing imports them.
    "serve": {"app", "persistence", "services", "telemetry", *INFRA},
    "cli_support": {"app", "domain", "exercises", "grading", "authoring", "sandbox", "services", *INFRA},
    "cli_ops": {"cli", "app", "persistence", "services", *INFRA},  # operator commands (issue 11)
    "cli": {"app", "cli_support", "cli_ops", "serve", "persistence", "services", "telemetry", *INFRA},
    "worker": {"app", "services", "telemetry", *INFRA},
}
EDGES = {"api", "web", "lti"}
ENTRY_POINTS = {"cli", "cli_support", "cli_ops", "serve", "worker"}
# The next layers (and modules other issues are adding): their rules hold from their first file.
NOT_YET = {"lti", "telemetry", "cli_ops", "request_limits"}
# Layers that must stay free of the web framework and the database (plain data only), and of telemetry.
NO_FRAMEWORK = {"domain", "results", "sandbox", "exercises", "grading", "authoring"}
NO_TELEMETRY = {"domain", "results", "sandbox", "exercises", "grading", "authoring", "persistence"}
FRAMEWORK = {"flask", "flask_sqlalchemy", "sqlalchemy", "werkzeug"}
TELEMETRY = {"prometheus_client", "opentelemetry"}


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


FILES = sorted(p for p in SERVICE.rglob("*.py") if p.parent != SERVICE or p.stem != "__init__")


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SERVICE)))
def test_imports_point_down(path: Path) -> None:
    part = part_of(path)
    assert part in ALLOWED, f"{part} is not a known layer: give it a rule in ALLOWED"
    bad = set()
    for name in imports_of(path):
        top = name.split(".")
        if top[0] == "service" and len(top) > 1 and top[1] != part and top[1] not in ALLOWED[part]:
            bad.add(name)
        if part in NO_FRAMEWORK and top[0] in FRAMEWORK:
            bad.add(name)
        if part in NO_TELEMETRY and (top[0] in TELEMETRY or top[:2] == ["service", "telemetry"]):
            bad.add(name)
    assert not bad, f"{part} must not import {sorted(bad)}"


def test_edges_and_entry_points_are_imported_by_nobody_below() -> None:
    for part, allowed in ALLOWED.items():
        if part not in ENTRY_POINTS:
            assert not allowed & ENTRY_POINTS, f"{part} may not import an entry point"
        if part not in {"app", *ENTRY_POINTS}:
            assert not allowed & EDGES, f"{part} may not import an edge"
        if part != "worker":
            assert "worker" not in allowed  # the Celery queue reaches its tasks by name only


def test_the_rule_is_checked_on_real_files() -> None:
    parts = {part_of(p) for p in FILES}
    # Every layer has files (a rename cannot silently empty the test), bar the ones not written yet.
    assert set(ALLOWED) - parts <= NOT_YET
    assert parts <= set(ALLOWED)
    assert imports_of(SERVICE / "web" / "sessions.py") >= {"service.services"}


# The objects a process builds are reached through runtime(app) and settings(app) only (one typed accessor
# each), not by string keys into app.extensions; these modules own the keys they store.
EXTENSION_KEY_OWNERS = {"config.py", "errors.py", "services/runtime.py", "extensions.py", "telemetry/http.py"}


def _extension_keys(path: Path) -> set[str]:
    keys: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        target: ast.AST | None = None
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute):
            target = node.slice if node.value.attr == "extensions" else None
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            owner = node.func.value
            if isinstance(owner, ast.Attribute) and owner.attr == "extensions":
                target = node.args[0]
        if isinstance(target, ast.Constant) and isinstance(target.value, str) and target.value.startswith("kiwame"):
            keys.add(target.value)
    return keys


def test_app_objects_are_reached_through_the_runtime() -> None:
    found = {str(p.relative_to(SERVICE)): _extension_keys(p) for p in FILES}
    stray = {path: keys for path, keys in found.items() if keys and path not in EXTENSION_KEY_OWNERS}
    assert not stray, f"use runtime(app) / settings(app) instead of app.extensions lookups: {stray}"
    tests = Path(__file__).resolve().parent
    assert _extension_keys(tests / "conftest.py") == set()  # the fixtures go through runtime(app) too

"""Layering: the sandbox side never imports the web app, the database or its drivers (checked in a fresh
interpreter, so nothing imported by other tests can hide a violation)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

FORBIDDEN = ("flask", "sqlalchemy", "service.persistence", "service.app", "service.api", "service.web",
             "service.services", "psycopg", "redis")


def modules_after_import(*names: str) -> set[str]:
    code = f"import importlib, json, sys\nfor n in {list(names)!r}:\n    importlib.import_module(n)\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    return set(json.loads(out.stdout))


def offending(mods: set[str], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(m for m in mods if any(m == f or m.startswith(f + ".") for f in forbidden))


@pytest.mark.parametrize("module", [
    "service.sandbox.zygote", "service.sandbox.harness", "service.sandbox.isolation",
    "service.sandbox.seccomp", "service.sandbox.wire", "service.sandbox.cuda", "service.sandbox.selfcheck",
])
def test_sandbox_side_imports_no_web_or_database(module):
    assert offending(modules_after_import(module), FORBIDDEN) == []


def test_pool_does_not_import_torch():
    """The engine side stays light: torch lives in the zygote only."""
    mods = modules_after_import("service.sandbox.pool")
    assert offending(mods, FORBIDDEN + ("torch",)) == []
    assert "numpy" in mods


def test_the_check_itself_can_fail():
    assert offending({"flask.app", "flaskish", "service.web.pages"}, FORBIDDEN) == ["flask.app", "service.web.pages"]

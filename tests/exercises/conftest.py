"""Fixtures for exercise-format tests: write small exercise trees under a temporary working directory."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from exercise_support import TRACK, VALID

Writer = Callable[..., Path]


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Writer:
    """``tree(track, name, text)`` writes exercises/<track>/<name>.yaml (cwd = tmp) and returns the root."""
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "exercises"

    def write(track: str = "basics", name: str = "permute-2d", text: str | None = None) -> Path:
        folder = root / track
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / "_track.yaml").exists():
            (folder / "_track.yaml").write_text(TRACK, "utf-8")
        body = VALID.format(id=name) if text is None else textwrap.dedent(text)
        (folder / f"{name}.yaml").write_text(body, "utf-8")
        return root

    return write

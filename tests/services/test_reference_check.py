"""The start-up reference check: every reference runs in the sandbox; a broken one is reported, not served."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask

from service.domain import Exercise
from service.services import catalog as catalog_service
from service.services.runtime import runtime
from tests.exercises.exercise_support import TRACK, VALID


def _pack(root: Path) -> Path:
    track = root / "basics"
    track.mkdir(parents=True)
    (track / "_track.yaml").write_text(TRACK, encoding="utf-8")
    (track / "fine.yaml").write_text(VALID.format(id="fine"), encoding="utf-8")
    # Valid YAML and valid Python, but the reference itself raises in the sandbox on every case.
    broken = VALID.format(id="broken").replace("x.permute(1, 0)", "x.permute(2, 0, 1)")
    (track / "broken.yaml").write_text(broken, encoding="utf-8")
    return root


def test_broken_reference_is_reported_with_its_file(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    app = make_app(KIWAME_EXERCISES_DIR=str(_pack(tmp_path / "exercises")))
    with app.app_context():
        assert catalog_service.catalog_errors(runtime(app).catalog) == []  # schema-valid
    assert catalog_service.check_references(app) == 1
    with app.app_context():
        errors = catalog_service.catalog_errors(runtime(app).catalog)
    assert len(errors) == 1
    assert errors[0]["file"].endswith("basics/broken.yaml")
    assert errors[0]["key"] == "solution"
    assert "reference solution failed" in errors[0]["message"]
    health = app.test_client().get("/healthz").get_json()
    assert [e["file"] for e in health["exercises"]["errors"]] == [errors[0]["file"]]


def test_reference_check_warms_the_cache(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    app = make_app(KIWAME_EXERCISES_DIR=str(_pack(tmp_path / "exercises")))
    catalog_service.check_references(app)
    engine = runtime(app).engine
    with app.app_context():
        fine = runtime(app).catalog.get("fine")
    # The reference outputs are cached: asking again costs no sandbox run.
    assert engine.references.get(fine, "cpu").reference_ms == 0


def test_each_version_is_checked_once(make_app: Callable[..., Flask], tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from service.authoring import validate

    root = _pack(tmp_path / "exercises")
    app = make_app(KIWAME_EXERCISES_DIR=str(root))
    checked: list[str] = []
    real = validate.check_reference

    def counting(engine: object, exercise: Exercise, lint: bool = True) -> object:
        assert lint is False  # start-up only needs the reference verdict, not the linter
        checked.append(exercise.id)
        return real(engine, exercise, lint=lint)

    monkeypatch.setattr(validate, "check_reference", counting)
    assert catalog_service.check_references(app) == 1
    assert sorted(checked) == ["broken", "fine"]
    assert catalog_service.check_references(app) == 0  # nothing new: no sandbox run repeated
    assert sorted(checked) == ["broken", "fine"]
    fine = root / "basics" / "fine.yaml"
    fine.write_text(fine.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    with app.app_context():
        runtime(app).catalog.reload()
    assert catalog_service.check_references(app) == 0  # only the edited version runs
    assert sorted(checked) == ["broken", "fine", "fine"]
    with app.app_context():
        errors = catalog_service.catalog_errors(runtime(app).catalog)
    assert [e["file"].rsplit("/", 1)[-1] for e in errors] == ["broken.yaml"]  # still reported

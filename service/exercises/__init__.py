"""Exercise YAML format: schema validation with line numbers, input materialisation, catalog, weak-test linter."""

from service.exercises.catalog import Catalog, ReloadResult, Track, load_catalog
from service.exercises.errors import ExerciseError
from service.exercises.inputs import materialize
from service.exercises.loader import load_exercise

__all__ = ["Catalog", "ExerciseError", "ReloadResult", "Track", "load_catalog", "load_exercise", "materialize"]


def __getattr__(name: str) -> object:
    # validate/lint import service.grading, which imports exercises.inputs: load them on first use only.
    if name in ("validate_dir", "validate_catalog", "ValidationReport"):
        from service.exercises import validate

        return getattr(validate, name)
    raise AttributeError(name)

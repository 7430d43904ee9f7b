"""Exercise YAML format: schema validation with line numbers, input materialisation, catalog, weak-test linter."""

from service.exercises.catalog import Catalog, ReloadResult, Track, load_catalog
from service.exercises.errors import ExerciseError
from service.exercises.inputs import materialize
from service.exercises.loader import load_exercise

__all__ = ["Catalog", "ExerciseError", "ReloadResult", "Track", "load_catalog", "load_exercise", "materialize"]

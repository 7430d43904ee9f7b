"""Read exercise and track files from disk: hash, parse with line numbers, validate the schema."""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from service.domain import Text
from service.exercises.errors import ExerciseError
from service.exercises.fields import ID_PATTERN, Reader
from service.exercises.schema import Parsed, build_exercise
from service.exercises.yamltree import YamlError, parse

TRACK_FILE = "_track.yaml"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrackInfo:
    """A track's metadata from ``exercises/<track>/_track.yaml``."""

    id: str
    title: Text
    order: int


def display_path(path: Path) -> str:
    """The path as errors show it: relative to the working directory when it is below it."""
    rel = os.path.relpath(path)
    return path.as_posix() if rel.startswith("..") else Path(rel).as_posix()


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def parse_exercise(data: bytes, file: str, stem: str, track: str) -> Parsed:
    """Validate one exercise file's bytes; never raises for anything in the file."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Parsed(None, [ExerciseError(file, 1, "", f"expected UTF-8 text, got undecodable bytes ({exc.reason})")])
    try:
        tree = parse(text)
    except YamlError as exc:
        return Parsed(None, [ExerciseError(file, exc.line, exc.key, str(exc))])
    try:
        parsed = build_exercise(tree, file, stem, track, content_hash(data))
    except Exception as exc:  # a validator bug must list the file as bad, never take the catalog down
        log.exception("validator failed on %s", file)
        return Parsed(None, [ExerciseError(file, 1, "", f"internal validator error ({type(exc).__name__}: {exc})")])
    if not ID_PATTERN.match(track):
        parsed.errors.append(ExerciseError(file, 0, "", f"expected the track folder name to match ^[a-z0-9]+(-[a-z0-9]+)*$, got {track!r}"))
        parsed.exercise = None
    return parsed


def load_exercise(path: str | Path) -> Parsed:
    """Load ``exercises/<track>/<id>.yaml`` (the track is the parent folder's name)."""
    path = Path(path)
    file = display_path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return Parsed(None, [ExerciseError(file, 0, "", f"cannot read the file: {exc.strerror}")])
    return parse_exercise(data, file, path.stem, path.parent.name)


def load_track(path: Path) -> tuple[TrackInfo, list[ExerciseError]]:
    """Read ``_track.yaml``; a missing or broken one falls back to the folder name (errors say why)."""
    track_id = path.parent.name
    fallback = TrackInfo(track_id, Text(track_id, track_id), 1000)
    file = display_path(path)
    if not path.exists():
        return fallback, []
    try:
        tree = parse(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        return fallback, [ExerciseError(file, 0, "", f"cannot read the track file: {exc}")]
    except YamlError as exc:
        return fallback, [ExerciseError(file, exc.line, exc.key, str(exc))]
    r = Reader(file, tree)
    doc = r.mapping(tree.value, "", "a mapping with title and order")
    if doc is None:
        return fallback, r.errors
    r.keys(doc, "", ("title", "order"))
    title = r.text(r.required(doc, "", "title", "{en, ja}"), "title")
    order = r.integer(r.required(doc, "", "order", "an integer"), "order")
    return TrackInfo(track_id, title or fallback.title, order if order is not None else fallback.order), r.errors


def exercise_files(root: Path) -> list[Path]:
    """Every ``<track>/<name>.yaml`` below ``root``, skipping ``_``-prefixed files."""
    files = [p for p in root.glob("*/*.yaml") if not p.name.startswith("_") and p.is_file()]
    return sorted(files)


def misplaced_files(root: Path) -> list[ExerciseError]:
    """YAML files that can never load: directly in the root, nested too deep, or with a .yml suffix."""
    errors = []
    for p in sorted(root.rglob("*.y*ml")):
        rel = p.relative_to(root)
        if p.name.startswith("_"):
            continue
        if len(rel.parts) != 2:
            errors.append(ExerciseError(display_path(p), 0, "", "expected exercise files at <exercises>/<track>/<id>.yaml"))
        elif p.suffix == ".yml":
            errors.append(ExerciseError(display_path(p), 0, "", "expected the .yaml suffix, got .yml"))
    return errors



def key_line(path: str | Path, key: str) -> int:
    """The 1-based line of a top-level ``key:`` in a YAML file (1 if not found): for errors found after loading."""
    try:
        for n, line in enumerate(Path(path).read_text("utf-8").splitlines(), start=1):
            if line.startswith(f"{key}:"):
                return n
    except (OSError, UnicodeDecodeError):
        pass
    return 1

"""The loaded exercise catalog: ordered exercises, bad files listed (never raised), cheap thread-safe reloads."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from service.domain import Exercise, Text
from service.exercises.errors import ExerciseError
from service.exercises.loader import (
    TRACK_FILE,
    TrackInfo,
    content_hash,
    display_path,
    exercise_files,
    key_line,
    load_track,
    misplaced_files,
    parse_exercise,
)
from service.exercises.schema import Parsed

Stamp = tuple[int, int]  # (mtime_ns, size): the cheap "did it change" test before hashing


@dataclass(frozen=True)
class Track:
    id: str
    title: Text
    order: int
    exercise_ids: tuple[str, ...]


@dataclass(frozen=True)
class ReloadResult:
    """What a reload changed, by exercise id, plus the catalog's errors after it."""

    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    errors: tuple[ExerciseError, ...] = ()

    @property
    def anything(self) -> bool:
        return bool(self.added or self.changed or self.removed)


@dataclass(frozen=True)
class _Snapshot:
    exercises: dict[str, Exercise] = field(default_factory=dict)
    errors: tuple[ExerciseError, ...] = ()
    warnings: tuple[ExerciseError, ...] = ()
    tracks: tuple[Track, ...] = ()
    stamps: dict[Path, Stamp] = field(default_factory=dict)
    parsed: dict[Path, tuple[str, Parsed]] = field(default_factory=dict)  # path -> (content hash, result)


class Catalog:
    """All exercises under ``root``. Readers see one consistent snapshot; ``reload`` swaps it atomically."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._snapshot = _Snapshot()
        self._reload_lock = threading.Lock()
        self._last_check: float | None = None

    @property
    def exercises(self) -> dict[str, Exercise]:
        return self._snapshot.exercises

    @property
    def errors(self) -> list[ExerciseError]:
        return list(self._snapshot.errors)

    @property
    def warnings(self) -> list[ExerciseError]:
        return list(self._snapshot.warnings)

    @property
    def tracks(self) -> tuple[Track, ...]:
        return self._snapshot.tracks

    @property
    def bad_files(self) -> list[str]:
        return sorted({e.file for e in self._snapshot.errors})

    def get(self, exercise_id: str) -> Exercise | None:
        return self._snapshot.exercises.get(exercise_id)

    def __iter__(self) -> Iterator[Exercise]:
        return iter(list(self._snapshot.exercises.values()))

    def __len__(self) -> int:
        return len(self._snapshot.exercises)

    def reload(self) -> ReloadResult:
        """Re-read changed files (by mtime and size, then content hash) and swap in the new snapshot."""
        with self._reload_lock:
            old = self._snapshot
            stamps = self._stamps()
            if stamps == old.stamps and old.stamps:
                return ReloadResult(errors=old.errors)
            new = self._build(stamps, old)
            self._snapshot = new
        before = {k: e.content_hash for k, e in old.exercises.items()}
        after = {k: e.content_hash for k, e in new.exercises.items()}
        return ReloadResult(
            added=tuple(k for k in after if k not in before),
            changed=tuple(k for k in after if k in before and before[k] != after[k]),
            removed=tuple(k for k in before if k not in after),
            errors=new.errors,
        )

    def reload_if_changed(self, min_interval: float = 1.0) -> ReloadResult | None:
        """For a development ``before_request`` hook: at most one check per ``min_interval`` seconds."""
        now = time.monotonic()
        if self._last_check is not None and now - self._last_check < min_interval:
            return None
        self._last_check = now
        return self.reload()

    def _stamps(self) -> dict[Path, Stamp]:
        stamps: dict[Path, Stamp] = {}
        if not self.root.is_dir():
            return stamps
        for path in self.root.rglob("*.y*ml"):
            try:
                st = path.stat()
            except OSError:
                continue
            stamps[path] = (st.st_mtime_ns, st.st_size)
        return stamps

    def _parse(self, path: Path, stamps: dict[Path, Stamp], old: _Snapshot) -> tuple[str, Parsed]:
        if path in old.parsed and old.stamps.get(path) == stamps.get(path):
            return old.parsed[path]
        try:
            data = path.read_bytes()
        except OSError as exc:
            return "", Parsed(None, [ExerciseError(display_path(path), 0, "", f"cannot read the file: {exc.strerror}")])
        digest = content_hash(data)
        if path in old.parsed and old.parsed[path][0] == digest:
            return old.parsed[path]  # touched but not edited: keep the very same Exercise object
        return digest, parse_exercise(data, display_path(path), path.stem, path.parent.name)

    def _build(self, stamps: dict[Path, Stamp], old: _Snapshot) -> _Snapshot:
        errors: list[ExerciseError] = []
        warnings: list[ExerciseError] = []
        if not self.root.is_dir():
            errors.append(ExerciseError(display_path(self.root), 0, "", "exercise directory not found"))
        errors += misplaced_files(self.root) if self.root.is_dir() else []
        parsed: dict[Path, tuple[str, Parsed]] = {}
        by_track: dict[str, list[tuple[Path, Parsed]]] = {}
        seen: dict[str, Path] = {}
        for path in exercise_files(self.root):
            parsed[path] = self._parse(path, stamps, old)
            result = parsed[path][1]
            errors += result.errors
            warnings += result.warnings
            ex = result.exercise
            if ex is None:
                continue
            if ex.id in seen:
                first = display_path(seen[ex.id])
                errors.append(ExerciseError(display_path(path), key_line(path, "id"), "id",
                                            f"duplicate id {ex.id!r}: also defined in {first} and {display_path(path)}"))
                continue
            seen[ex.id] = path
            by_track.setdefault(ex.track, []).append((path, result))
        infos: dict[str, TrackInfo] = {}
        for folder in sorted(p for p in self.root.glob("*") if p.is_dir()) if self.root.is_dir() else []:
            if (folder / TRACK_FILE).exists() or folder.name in by_track:
                infos[folder.name], track_errors = load_track(folder / TRACK_FILE)
                errors += track_errors
        exercises: dict[str, Exercise] = {}
        tracks: list[Track] = []
        for info in sorted(infos.values(), key=lambda t: (t.order, t.id)):
            members = sorted(by_track.get(info.id, []), key=lambda pr: (
                pr[1].explicit_order is None, pr[1].explicit_order or 0, pr[0].name))
            ids = []
            for position, (_, result) in enumerate(members, start=1):
                assert result.exercise is not None
                ex = result.exercise
                prev = old.exercises.get(ex.id)
                if prev is not None and prev.content_hash == ex.content_hash and prev.order == position:
                    ex = prev  # unchanged: readers keep the very same object
                elif ex.order != position:
                    ex = dataclasses.replace(ex, order=position)
                exercises[ex.id] = ex
                ids.append(ex.id)
            tracks.append(Track(info.id, info.title, info.order, tuple(ids)))
        return _Snapshot(exercises, tuple(errors), tuple(warnings), tuple(tracks), stamps, parsed)


def load_catalog(root: str | Path) -> Catalog:
    """Load every exercise under ``root``; bad files end up in ``catalog.errors``, never as an exception."""
    catalog = Catalog(root)
    catalog.reload()
    return catalog

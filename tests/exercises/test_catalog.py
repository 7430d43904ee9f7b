"""Catalog reloads: edits are picked up with a new content hash, old Exercise objects never change."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

from exercise_support import VALID

from service.exercises import load_catalog


def _touch_later(path: Path) -> None:
    # Guarantee a different mtime even on coarse-timestamp filesystems.
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_reload_picks_up_an_edit_and_keeps_the_old_version_intact(tree: Callable[..., Path]) -> None:
    root = tree()
    catalog = load_catalog(root)
    old = catalog.get("permute-2d")
    assert old is not None
    path = root / "basics" / "permute-2d.yaml"
    path.write_text(VALID.format(id="permute-2d").replace('en: "Transpose"', 'en: "Transpose it"'), "utf-8")
    _touch_later(path)
    result = catalog.reload()
    new = catalog.get("permute-2d")
    assert result.changed == ("permute-2d",) and result.added == () and result.removed == ()
    assert new is not None and new.title.en == "Transpose it" and new.content_hash != old.content_hash
    assert old.title.en == "Transpose"  # past submissions keep grading/displaying against their version


def test_reload_reports_added_removed_and_errors(tree: Callable[..., Path]) -> None:
    root = tree()
    catalog = load_catalog(root)
    tree(name="second")
    (root / "basics" / "permute-2d.yaml").unlink()
    tree(name="broken", text="id: broken\n")
    result = catalog.reload()
    assert (result.added, result.removed) == (("second",), ("permute-2d",))
    assert [e.file for e in result.errors] == ["exercises/basics/broken.yaml"] * len(result.errors)
    assert list(catalog.exercises) == ["second"]


def test_reload_without_changes_is_cheap_and_keeps_objects(tree: Callable[..., Path]) -> None:
    root = tree()
    catalog = load_catalog(root)
    before = catalog.get("permute-2d")
    path = root / "basics" / "permute-2d.yaml"
    _touch_later(path)  # touched, same bytes: re-hashed but not re-parsed
    result = catalog.reload()
    assert not result.anything and catalog.get("permute-2d") is before
    assert catalog.reload_if_changed(min_interval=3600) is not None  # first call checks
    assert catalog.reload_if_changed(min_interval=3600) is None  # rate-limited


def test_track_and_exercise_order(tree: Callable[..., Path]) -> None:
    root = tree(track="nd", name="b-ex")
    tree(track="nd", name="a-ex")
    tree(track="nd", name="z-first", text=VALID.format(id="z-first") + "order: 1\n")
    (root / "nd" / "_track.yaml").write_text("title: {en: N-D, ja: 多次元}\norder: 2\n", "utf-8")
    tree(track="basics", name="c-ex")
    catalog = load_catalog(root)
    assert [(t.id, t.exercise_ids) for t in catalog.tracks] == [
        ("basics", ("c-ex",)), ("nd", ("z-first", "a-ex", "b-ex"))]
    assert list(catalog.exercises) == ["c-ex", "z-first", "a-ex", "b-ex"]
    assert [catalog.exercises[i].order for i in ("z-first", "a-ex", "b-ex")] == [1, 2, 3]


def test_concurrent_readers_always_see_a_whole_snapshot(tree: Callable[..., Path]) -> None:
    root = tree()
    catalog = load_catalog(root)
    seen: list[int] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            snapshot = catalog.exercises
            seen.append(len(snapshot))
            assert all(e.id in snapshot for e in snapshot.values())

    reader = threading.Thread(target=read)
    reader.start()
    for i in range(20):
        tree(name=f"extra-{i}")
        catalog.reload()
    stop.set()
    reader.join()
    assert len(catalog) == 21 and seen and catalog.errors == []


def test_missing_directory_is_an_error_not_an_exception(tmp_path: Path) -> None:
    catalog = load_catalog(tmp_path / "nope")
    assert len(catalog) == 0
    assert [e.message for e in catalog.errors] == ["exercise directory not found"]


def test_misplaced_files_and_bad_track_files_are_listed(tree: Callable[..., Path]) -> None:
    root = tree()
    (root / "stray.yaml").write_text("id: stray\n", "utf-8")
    (root / "basics" / "other.yml").write_text("id: other\n", "utf-8")
    (root / "basics" / "_track.yaml").write_text("title: {en: Basics}\norder: first\n", "utf-8")
    catalog = load_catalog(root)
    assert [str(e) for e in catalog.errors] == [
        "exercises/basics/other.yml: expected the .yaml suffix, got .yml",
        "exercises/stray.yaml: expected exercise files at <exercises>/<track>/<id>.yaml",
        "exercises/basics/_track.yaml:1: title.ja: missing Japanese translation (expected title.ja, a non-empty string)",
        "exercises/basics/_track.yaml:2: order: expected an integer, got a string",
    ]
    assert list(catalog.exercises) == ["permute-2d"]  # still served, under the folder-name title
    assert catalog.tracks[0].title.en == "basics"

"""cgroup v2, checked over a temporary directory laid out like a cgroup2 mount (this machine kind has
cgroup v1, so the v2 path has never run against a real kernel): exactly which files the zygote and the
pool write, with which values. A small fake plays the kernel's part: mkdir creates a group's interface
files, rmdir removes them and refuses a group that still has child groups."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.sandbox import cgroups

INTERFACE = {"cgroup.procs": "", "cgroup.controllers": "cpu memory pids", "cgroup.subtree_control": "",
             "memory.max": "max", "memory.swap.max": "max", "memory.events": "oom 0\noom_kill 0\n",
             "pids.max": "max", "cpu.max": "max 100000", "cpu.weight": "100"}


@pytest.fixture
def cgroup2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, list[tuple[str, str]]]]:
    root = tmp_path / "cgroup2"
    root.mkdir()
    for name, text in INTERFACE.items():
        (root / name).write_text(text)
    (root / "cgroup.controllers").write_text("cpuset cpu io memory hugetlb pids rdma misc\n")
    real_mkdir, real_rmdir, real_write = os.mkdir, os.rmdir, cgroups._write

    def mkdir(path: str | os.PathLike[str], mode: int = 0o777, **kw: object) -> None:
        real_mkdir(path, mode)
        if str(path).startswith(str(root)):
            for name, text in INTERFACE.items():
                Path(path, name).write_text(text)

    def rmdir(path: str | os.PathLike[str], **kw: object) -> None:
        p = Path(path)
        if str(p).startswith(str(root)) and p.is_dir():
            if any(c.is_dir() for c in p.iterdir()):
                raise OSError(16, "Device or resource busy", str(p))
            for name in INTERFACE:
                (p / name).unlink(missing_ok=True)
        real_rmdir(path)

    writes: list[tuple[str, str]] = []

    def write(path: str, text: str) -> None:
        writes.append((os.path.relpath(path, root), text))
        real_write(path, text)  # O_WRONLY without O_CREAT: the interface file must exist

    monkeypatch.setattr(os, "mkdir", mkdir)
    monkeypatch.setattr(os, "rmdir", rmdir)
    monkeypatch.setattr(cgroups, "_write", write)
    yield root, writes


def test_v2_parent_and_leaf_get_exactly_these_files(cgroup2: tuple[Path, list[tuple[str, str]]]) -> None:
    root, writes = cgroup2
    own = cgroups._own_path("").strip("/")
    parent = os.path.join(own, "kiwame-10-20") if own else "kiwame-10-20"
    groups = cgroups.Groups.detect("kiwame-10-20", str(root))
    assert groups.version == 2 and groups.parents == {"unified": str(root / parent)}
    # the parent delegates the three controllers to its leaves and weighs like several processes
    assert (root / parent / "cgroup.subtree_control").read_text() == "+memory +pids +cpu"
    assert writes == [(f"{parent}/cpu.weight", str(min(10000, 400 * (os.cpu_count() or 1))))]
    writes.clear()

    dirs = groups.create("c1", 16)
    leaf = f"{parent}/c1"
    assert dirs == [str(root / leaf)]
    assert writes == [(f"{leaf}/memory.max", str((1024 << 20) + (64 << 20))),  # bounded before any job
                      (f"{leaf}/pids.max", "16"),
                      (f"{leaf}/cpu.max", "100000 100000"),  # one CPU: quota = period
                      (f"{leaf}/memory.swap.max", "0")]
    writes.clear()

    cgroups.join(dirs)  # the child, first thing
    cgroups.set_memory(groups.memory_file("c1"), 256)  # the pool, per job
    cgroups.set_weight(groups.weight_file("c1"), True)  # demoted after its first moments...
    cgroups.set_weight(groups.weight_file("c1"), False)  # ...and restored
    assert writes == [(f"{leaf}/cgroup.procs", "0"), (f"{leaf}/memory.max", str((256 << 20) + (64 << 20))),
                      (f"{leaf}/cpu.weight", "1"), (f"{leaf}/cpu.weight", "100")]

    assert not groups.oom_killed("c1")
    (root / leaf / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert groups.oom_killed("c1")  # memory.events' oom_kill counter, as the v2 kernel reports it

    (root / leaf / "stray").mkdir()  # something still inside: rmdir is refused, retried later
    assert not groups.remove("c1")
    os.rmdir(root / leaf / "stray")
    assert groups.remove("c1") and not (root / leaf).exists()


def test_v2_sweep_removes_only_groups_of_dead_zygotes(cgroup2: tuple[Path, list[tuple[str, str]]]) -> None:
    root, _ = cgroup2
    groups = cgroups.Groups.detect(f"kiwame-1-{os.getpid()}", str(root))
    above = Path(groups.parents["unified"]).parent
    dead = cgroups.Groups.detect("kiwame-1-4194305", str(root))  # above pid_max: never a live process
    dead.create("c7", 16)
    groups.sweep()
    assert not (above / "kiwame-1-4194305").exists()
    assert (above / f"kiwame-1-{os.getpid()}").is_dir()  # a live zygote's group is left alone


def test_v2_without_a_controller_is_refused_with_its_name(cgroup2: tuple[Path, list[tuple[str, str]]]) -> None:
    root, writes = cgroup2
    (root / "cgroup.controllers").write_text("cpuset cpu io memory\n")
    with pytest.raises(OSError, match="cgroup v2 without the pids controller"):
        cgroups.Groups.detect("kiwame-10-20", str(root))
    assert writes == []

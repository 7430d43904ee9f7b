"""The sandbox's bounds without cgroup leaves: the single-process fallback really forbids new processes,
`kiwame doctor` / `/healthz` name the missing cgroups, and a pool that requires them fails closed.

A host without cgroups is simulated by pointing the pool at an empty directory as its cgroup mount (the
zygote then finds no hierarchy, exactly as on such a host); the sandboxes themselves are real."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sandbox_support import GOOD, X, job

from service.sandbox.pool import SandboxPool
from service.services import health

pytestmark = pytest.mark.sandbox

FORK = ("import os, threading, subprocess\ndef solve(x):\n    out = []\n"
        "    for name, start in (('fork', os.fork), ('thread', lambda: threading.Thread(target=len, args=((),)).start()),\n"
        "                        ('spawn', lambda: subprocess.Popen(['/bin/true']).wait())):\n"
        "        try:\n            pid = start()\n            if name == 'fork' and pid == 0:\n                os._exit(0)\n"
        "            out.append(name + ' started')\n"
        "        except BaseException as exc:\n            out.append(name + ' ' + type(exc).__name__)\n"
        "    return out\n")


def _pool(**kw: object) -> Iterator[SandboxPool]:
    if os.geteuid() != 0:
        pytest.skip("the sandbox needs root (or CAP_SYS_ADMIN); it fails closed without it")
    p = SandboxPool(size=1, spares=1, **kw)  # type: ignore[arg-type]
    yield p
    p.close()
    health._cache.pop("sandbox", None)  # the report below describes this pool only


@pytest.fixture(scope="module")
def nocgroup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxPool]:
    yield from _pool(cgroup_root=str(tmp_path_factory.mktemp("no-cgroupfs")))


@pytest.fixture
def required(tmp_path: Path) -> Iterator[SandboxPool]:
    yield from _pool(cgroup_root=str(tmp_path), cgroups="require")


def test_without_cgroups_a_sandbox_cannot_start_a_second_process(nocgroup: SandboxPool) -> None:
    r = nocgroup.run(job(FORK))
    assert nocgroup.bounds.startswith("no-cgroup no cgroup v1 memory hierarchy")
    assert r.status == "ok", r
    got = r.cases["case0"].value.items
    assert [v.scalar.split()[0] for v in got] == ["fork", "thread", "spawn"]
    assert not any(v.scalar.endswith("started") for v in got), [v.scalar for v in got]
    ok = nocgroup.run(job(GOOD))  # and honest work is graded as usual
    assert ok.status == "ok" and (ok.cases["case0"].value.array == X.transpose(2, 0, 1)).all()


def test_doctor_and_healthz_name_the_missing_cgroups(nocgroup: SandboxPool) -> None:
    report = health.sandbox_check(pool=nocgroup, fresh=True)
    bounds = next(ly for ly in report["layers"] if ly["name"] == "bounds")
    # "auto": single-process sandboxes are an accepted bound, and the report says why there is no leaf
    assert report["ok"] and bounds["ok"]
    assert "single-process mode (RLIMIT_NPROC=1)" in bounds["detail"]
    assert "no cgroup leaf: no cgroup v1 memory hierarchy at" in bounds["detail"]


def test_cgroups_turned_off_by_configuration(tmp_path: Path) -> None:
    for pool in _pool(cgroups="off"):  # on this host cgroups exist: "off" must not use them
        r = pool.run(job(FORK))
        assert pool.bounds == "no-cgroup cgroups turned off by configuration"
        assert not any(v.scalar.endswith("started") for v in r.cases["case0"].value.items)


def test_required_cgroups_that_are_missing_fail_closed(required: SandboxPool) -> None:
    r = required.run(job(GOOD))
    assert r.status == "unavailable" and r.cases == {}
    assert "isolation layer 'bounds' is missing" in r.detail and "KIWAME_SANDBOX_CGROUPS=require" in r.detail
    report = health.sandbox_check(pool=required, fresh=True)
    bounds = next(ly for ly in report["layers"] if ly["name"] == "bounds")
    assert not report["ok"] and not bounds["ok"] and "no cgroup v1 memory hierarchy" in bounds["detail"]
    assert "cgroup" in bounds["how_to_enable"]


def test_required_cgroups_that_exist_are_used() -> None:
    if not os.path.isdir("/sys/fs/cgroup/memory") and not os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        pytest.skip("this host has no cgroups")
    for pool in _pool(cgroups="require"):
        r = pool.run(job("def solve(x):\n    return open('/proc/self/cgroup').read()\n"))
        assert pool.bounds.startswith("cgroup-v") and "/kiwame-" in r.cases["case0"].value.scalar
        forks = pool.run(job(FORK))  # bounded by the leaf instead, so the same code may start processes
        assert [v.scalar for v in forks.cases["case0"].value.items] == ["fork started", "thread started",
                                                                         "spawn started"]


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError):
        SandboxPool(cgroups="maybe")

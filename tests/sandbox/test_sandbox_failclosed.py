"""Fail closed: without the privileges a layer needs, the pool refuses to grade and says how to fix it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from service.sandbox.selfcheck import LayerStatus, refusal

pytestmark = pytest.mark.sandbox

SCRIPT = """
import json
from service.sandbox.pool import SandboxPool
from service.sandbox.protocol import Job
pool = SandboxPool(size=1)
r = pool.run(Job(code="def solve():\\n    return 1\\n", entry="solve", framework="numpy", cases=()))
layers = [(ly.name, ly.ok) for ly in pool.selfcheck()]
pool.close()
print(json.dumps({"status": r.status, "detail": r.detail, "layers": layers}))
"""


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root and setpriv")
def test_without_cap_sys_admin_the_pool_refuses_to_grade():
    out = subprocess.run(["setpriv", "--bounding-set=-sys_admin", "--inh-caps=-sys_admin", "--",
                          sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["status"] == "unavailable"
    assert "isolation layer" in res["detail"] and "CAP_SYS_ADMIN" in res["detail"]
    assert not any(ok for name, ok in res["layers"] if name != "wallclock")


def test_refusal_names_only_failing_required_layers():
    layers = [LayerStatus("uid", True, True, "", ""), LayerStatus("network", False, True, "eth0 visible", "fix net"),
              LayerStatus("gpu", False, False, "none", "add a GPU")]
    assert refusal(layers, ("uid", "network")) == "isolation layer 'network' is missing (eth0 visible): fix net"
    assert refusal(layers[:1], ("uid",)) == ""


def test_a_dead_zygote_is_restarted(pool):
    from sandbox_support import assert_healthy

    os.kill(pool.pids()[0], 9)
    pool._proc.wait()  # type: ignore[union-attr]
    assert_healthy(pool)


def test_selfcheck_probes_every_layer_from_inside(pool):
    layers = {ly.name: ly for ly in pool.selfcheck()}
    assert set(layers) == {"zygote", "uid", "mount", "network", "pid", "ipc", "uts", "seccomp", "rlimits",
                           "environment", "wallclock", "bounds"}
    assert all(ly.ok and ly.required and not ly.how_to_enable for ly in layers.values())
    uid = int(layers["uid"].detail.split()[0].removeprefix("uid="))
    assert uid in pool.uids() and "NoNewPrivs=1" in layers["uid"].detail
    assert "ptrace_killed=True" in layers["seccomp"].detail and "interfaces=['lo']" in layers["network"].detail
    if pool.bounds.startswith("cgroup"):  # this host has cgroups: every child is in its own leaf
        assert "cgroup leaf" in layers["bounds"].detail and "/kiwame-" in layers["bounds"].detail
    else:  # none usable: the zygote says why and runs every job in single-process mode
        assert "single-process mode" in layers["bounds"].detail, (pool.bounds, layers["bounds"])


def test_a_pool_inherited_across_fork_starts_its_own_zygote(pool):
    from sandbox_support import GOOD, job

    parent_zygote = pool.pids()[0]
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # e.g. a gunicorn worker forked after --preload
        try:
            res = pool.run(job(GOOD))
            os.write(w, json.dumps([res.status, pool.pids()[0]]).encode())
            pool.close()
        finally:
            os._exit(0)
    os.close(w)
    status, child_zygote = json.loads(os.read(r, 4096))
    os.waitpid(pid, 0)
    assert status == "ok" and child_zygote != parent_zygote
    assert pool.pids()[0] == parent_zygote and pool.run(job(GOOD)).status == "ok"


def test_spares_die_with_their_zygote(pool):
    """A spare that outlived its zygote would keep a uid the next zygote (or another pool's) hands out again."""
    import time

    pids = pool.pids()
    zygote, spares = pids[0], pids[1:]
    assert spares, "the pool keeps spares forked"
    os.kill(zygote, 9)
    pool._proc.wait()  # type: ignore[union-attr]
    deadline = time.monotonic() + 5
    alive = spares
    while alive and time.monotonic() < deadline:
        alive = [p for p in spares if _running(p)]
        time.sleep(0.05)
    assert not alive, f"spares {alive} outlived their zygote"


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False

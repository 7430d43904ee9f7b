"""The shared root template (speed, issue 8): the zygote builds the sandbox root once, in a mount namespace
it keeps; each child copies it and mounts only its own /tmp and /proc. What must hold: nothing in the
shared part is writable, and each sandbox's /tmp is its own (not seen by one running at the same time,
gone for the next)."""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import uuid

import pytest
from sandbox_support import job

from service.sandbox import isolation, libc
from service.sandbox.limits import DEFAULT_LIMITS
from service.sandbox.pool import SandboxPool

pytestmark = pytest.mark.sandbox


def test_the_shared_root_is_read_only_everywhere_but_tmp(pool: SandboxPool) -> None:
    code = ("import os\ndef solve(x):\n    out = []\n"
            "    for d in ['/', '/dev', '/proc', '/usr', '/etc', '/tmp']:\n"
            "        try:\n            os.mkdir(os.path.join(d, 'kiwame-x'))\n            out.append(d)\n"
            "        except OSError:\n            pass\n"
            "    try:\n        os.chmod('/', 0o777)\n        out.append('chmod /')\n    except OSError:\n        pass\n"
            "    return out\n")
    r = pool.run(job(code))
    value = r.cases["case0"].value if r.status == "ok" else None
    assert value is not None and [i.scalar for i in value.items] == ["/tmp"], r


def test_each_sandbox_has_its_own_tmp(pool: SandboxPool) -> None:
    mark = uuid.uuid4().hex
    write = (f"import os, time\ndef solve(x):\n    open('/tmp/{mark}', 'w').write('x')\n    time.sleep(0.6)\n"
             "    return sorted(os.listdir('/tmp'))\n")
    look = "import os, time\ndef solve(x):\n    time.sleep(0.3)\n    return sorted(os.listdir('/tmp'))\n"
    seen: dict[str, list[str]] = {}

    def run(name: str, code: str) -> None:
        value = pool.run(job(code)).cases["case0"].value
        seen[name] = [i.scalar for i in value.items] if value is not None else ["no result"]

    # What an untouched sandbox lists in /tmp: nothing, or the mount points of a venv or Python that lives
    # under /tmp (a checkout cloned into /tmp, as a CI run's may be).
    run("empty", look)
    threads = [threading.Thread(target=run, args=a) for a in (("writer", write), ("neighbour", look))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    run("next", look)
    empty = seen.pop("empty")
    bound = [sys.prefix, sys.base_prefix, *sys.path]
    assert all(any(p.startswith(f"/tmp/{item}/") for p in bound) for item in empty), empty
    assert seen == {"writer": sorted([*empty, mark]), "neighbour": empty, "next": empty}, seen


def test_a_root_with_binds_under_tmp_is_built_per_child() -> None:
    plan = isolation.MountPlan("/x", ("/usr", "/tmp/ci/.venv"), (), ())
    assert not isolation.templatable(plan)  # a child's own /tmp would hide the venv bound under it
    assert isolation.templatable(isolation.MountPlan("/x", ("/usr", "/root/.venv"), ("/etc/ld.so.cache",), ()))


def test_a_root_built_in_the_child_itself_is_complete() -> None:
    # Single-use runners (GPU, the benchmark's baseline) and plans with binds under /tmp build the whole
    # root in the child (template=False): /tmp and /proc mounted, the rest read-only, the host gone.
    if os.geteuid() != 0:
        pytest.skip("mounting needs root")
    mountpoint = tempfile.mkdtemp(prefix="kiwame-test-root-")
    plan = isolation.plan_mounts(mountpoint)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            libc.unshare(libc.CLONE_NEWNS)
            isolation.build_root(plan, DEFAULT_LIMITS)
            with open("/tmp/x", "w") as f:
                f.write("x")
            try:
                os.mkdir("/kiwame-x")
                code = 3
            except OSError:
                code = 0 if os.getcwd() == "/tmp" and os.path.isdir("/proc/self") \
                    and not os.path.exists(mountpoint) else 4
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    os.rmdir(mountpoint)
    assert os.waitstatus_to_exitcode(status) == 0

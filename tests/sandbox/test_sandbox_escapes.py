"""Python-level escapes, secrets and files, and the network: nothing of the host is reachable."""

from __future__ import annotations

import os
import socket
import uuid

import pytest
from sandbox_support import SECRET, job, leaked

pytestmark = pytest.mark.sandbox
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_subclasses_walk_reaches_only_the_sandbox(run):
    code = ("def solve(x):\n"
            "    popen = [c for c in ().__class__.__base__.__subclasses__() if c.__name__ == 'Popen'][0]\n"
            f"    p = popen(['/usr/bin/cat', {REPO + '/pyproject.toml'!r}, '/proc/1/environ'], stdout=-1, stderr=-2)\n"
            "    return p.communicate()[0].decode(errors='replace')\n")
    r = run(code)
    assert r.status == "ok"
    out = r.cases["case0"].value.scalar if r.cases["case0"].value else str(r.cases["case0"].error)
    # The file's content must not come back; its path may (in an error message), whatever the checkout is called.
    assert "[build-system]" not in out and "\"flask>=" not in out and not leaked(r)


def test_ctypes_cannot_regain_root(run):
    code = ("import ctypes, os\ndef solve(x):\n    libc = ctypes.CDLL(None)\n"
            "    return [libc.setuid(0), libc.setgid(0), os.getuid(), os.geteuid()]\n")
    r = run(code)
    res, _, uid, euid = [i.scalar for i in r.cases["case0"].value.items]
    assert res == -1 and uid == euid and uid >= 64000


def test_gc_and_frames_hold_no_secrets(run, pool):
    # A previous submission (think: the reference solution run) leaves nothing behind for the next one.
    marker = f"reference-{uuid.uuid4().hex}"
    pool.run(job(f"SOLUTION = {marker!r}\ndef solve(x):\n    return x.permute(2, 0, 1)\n"))
    code = ("import gc, sys\ndef solve(x):\n    seen = []\n"
            "    for o in gc.get_objects():\n"
            "        if isinstance(o, dict):\n"
            "            seen += [str(k) for k in list(o)] + [v for v in list(o.values()) if isinstance(v, str)]\n"
            "    f = sys._getframe()\n    while f:\n        seen += [str(v)[:500] for v in f.f_locals.values()]\n"
            "        f = f.f_back\n"
            "    blob = '\\n'.join(seen)\n"
            # the needles are built at run time: the probe's own source must not contain them
            f"    return [{SECRET[::-1]!r}[::-1] in blob, {marker[::-1]!r}[::-1] in blob, len(blob) > 10000]\n")
    r = run(code)
    assert [i.scalar for i in r.cases["case0"].value.items] == [False, False, True]


def test_environment_and_proc_environ_are_clean(run):
    code = ("import os\ndef solve(x):\n    found = dict(os.environ)\n"
            "    for pid in [p for p in os.listdir('/proc') if p.isdigit()] + ['self', '1']:\n"
            "        try:\n            found[pid] = open(f'/proc/{pid}/environ', 'rb').read().decode()\n"
            "        except OSError as e:\n            found[pid] = type(e).__name__\n"
            "    print(found)\n    return str(found)\n")
    r = run(code)
    assert r.status == "ok" and not leaked(r) and "KIWAME" not in r.stdout


def test_database_solutions_and_project_files_are_invisible(run, tmp_path):
    db = tmp_path / "kiwame.sqlite3"
    db.write_text(SECRET)
    targets = [str(db), REPO + "/service/sandbox/pool.py", REPO + "/exercises", REPO + "/instance",
               "/etc/passwd", "/etc/shadow", "/root/.bash_history", "/var/run/postgresql"]
    code = ("import os\ndef solve(x):\n"
            f"    return [os.path.exists(p) for p in {targets!r}]\n")
    r = run(code)
    assert [i.scalar for i in r.cases["case0"].value.items] == [False] * len(targets)


def test_symlinks_and_sitecustomize_do_not_escape(run):
    code = ("import os, sys\ndef solve(x):\n    os.symlink('/proc/1/root', '/tmp/r')\n"
            "    same = sorted(os.listdir('/tmp/r')) == sorted(os.listdir('/'))\n"
            f"    project = os.path.exists('/tmp/r' + {REPO!r} + '/service')\n"
            "    wrote = []\n"
            "    for d in sys.path + ['/tmp']:\n"
            "        try:\n            open(os.path.join(d, 'sitecustomize.py'), 'w').write('print(1)')\n"
            "            wrote.append(d)\n        except OSError:\n            pass\n"
            "    return (same, project, wrote)\n")
    r = run(code)
    same, project, wrote = r.cases["case0"].value.items
    assert same.scalar is True and project.scalar is False  # /proc/1/root is the sandbox's own root
    assert [i.scalar for i in wrote.items] == ["/tmp"]  # the only writable place, gone after the run


@pytest.mark.parametrize("body", [
    "    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n    s.connect(('127.0.0.1', 5432))\n",
    "    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n    s.sendto(b'x', ('8.8.8.8', 53))\n",
    "    socket.getaddrinfo('pypi.org', 443)\n",
    "    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)\n    s.connect(('::1', 6379))\n",
    "    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW)\n",
    "    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\n",
])
def test_no_network(run, body):
    r = run("import socket\ndef solve(x):\n" + body + "    return 'connected'\n")
    c = r.cases["case0"]
    assert r.status == "ok" and c.value is None and c.error["type"] in ("PermissionError", "gaierror", "OSError")


def test_abstract_unix_sockets_of_the_host_are_unreachable(run):
    name = f"\0kiwame-test-{uuid.uuid4().hex}"
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(name)
    srv.listen(1)
    try:
        r = run(f"import socket\ndef solve(x):\n    s = socket.socket(socket.AF_UNIX)\n    s.connect({name!r})\n    return 1\n")
        assert r.cases["case0"].error["type"] == "ConnectionRefusedError"
    finally:
        srv.close()

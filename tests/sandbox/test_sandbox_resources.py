"""Resources (memory, lazily touched pages, disk, output, CPU) and terminal/HTML injection in output."""

from __future__ import annotations

import shutil

import pytest

pytestmark = pytest.mark.sandbox


@pytest.mark.parametrize("body", [
    "    b = bytearray(8 * 1024 ** 3)\n",
    "    import torch\n    t = torch.empty(2 * 1024 ** 3)\n    t.fill_(1)\n",
    "    import numpy as np\n    a = np.ones((1024 ** 3,))\n",
    "    keep = []\n    while True:\n        keep.append(bytearray(64 * 1024 ** 2))\n",
])
def test_memory_bombs(run, body):
    r = run("def solve(x):\n" + body + "    return 1\n", memory_mb=256)
    assert r.status == "memory_limit" and r.limits_hit == ["memory"], r


def test_lazily_touched_pages_count_too(run):
    # mmap reserves address space without touching it: the address-space limit refuses it up front.
    r = run("import mmap\ndef solve(x):\n    m = mmap.mmap(-1, 4 * 1024 ** 3)\n    m[::4096] = b'x' * (4 * 1024 ** 3 // 4096)\n"
            "    return 1\n", memory_mb=256)
    c = r.cases.get("case0")
    assert r.status in ("memory_limit", "ok") and c is not None and c.value is None


def test_disk_fill_stays_in_the_private_tmpfs(run):
    before = shutil.disk_usage("/tmp").used
    r = run("def solve(x):\n    n = 0\n    try:\n        with open('/tmp/fill', 'wb') as f:\n"
            "            while True:\n                f.write(b'x' * 65536)\n                n += 65536\n"
            "    except OSError as e:\n        return (n, e.errno)\n")
    n, errno = (i.scalar for i in r.cases["case0"].value.items)
    assert n <= 16 << 20 and errno in (27, 28)  # EFBIG (RLIMIT_FSIZE) or ENOSPC (tmpfs size)
    assert abs(shutil.disk_usage("/tmp").used - before) < 8 << 20


def test_output_flood(run):
    r = run("import sys\ndef solve(x):\n    while True:\n        print('spam' * 1000)\n", time_s=5.0)
    assert r.status == "output_limit" and r.limits_hit == ["output"]
    assert 0 < len(r.stdout) <= 64 * 1024


def test_busy_loop_and_sleep_time_out(run):
    r = run("def solve(x):\n    while True:\n        pass\n", time_s=0.5)
    assert r.status == "timeout" and r.limits_hit in (["timeout"], ["cpu"])
    r = run("import time\ndef solve(x):\n    time.sleep(60)\n", time_s=0.3)
    assert r.status == "timeout" and r.limits_hit == ["timeout"] and r.timings["total"] < 5000


def test_cpu_thread_storm(run):
    code = ("import threading, torch\ntorch.set_num_threads(64)\ndef spin():\n    while True:\n        pass\n"
            "def solve(x):\n    for _ in range(64):\n        try:\n            threading.Thread(target=spin, daemon=True).start()\n"
            "        except RuntimeError:\n            break\n    a = torch.randn(1500, 1500)\n    while True:\n        a = a @ a\n")
    r = run(code, time_s=0.5)
    # threads count against RLIMIT_NPROC and their stacks against the address space; either way the
    # storm ends within the wall clock
    assert r.status in ("timeout", "memory_limit") and r.timings["total"] < 5000


def test_terminal_and_html_injection_come_back_as_plain_text(run):
    code = ("import sys\ndef solve(x):\n    print('\\x1b[2J\\x1b]0;pwned\\x07<script>alert(1)</script>\\r\\x00done')\n"
            "    sys.stderr.write('\\x1b[31merr\\x9b\\n')\n    sys.stdout.buffer.write(b'\\xff\\xfe bad utf8\\n')\n    return 1\n")
    r = run(code)
    for text in (r.stdout, r.stderr):
        assert not any(ord(ch) < 32 and ch not in "\n\t" or 0x7F <= ord(ch) < 0xA0 for ch in text)
    assert "<script>alert(1)</script>" in r.stdout and "[2J" in r.stdout and "\ufffd" in r.stdout
    assert "[31merr" in r.stderr


def test_memory_bomb_at_import_time(run):
    r = run("import torch\nHOARD = torch.ones(2 * 1024 ** 3)\ndef solve(x):\n    return 1\n", memory_mb=256)
    assert r.status == "memory_limit" and r.limits_hit == ["memory"]


def test_inode_flood_is_capped(run):
    r = run("import os\ndef solve(x):\n    n = 0\n    try:\n        while True:\n"
            "            open(f'/tmp/{n}', 'w').close()\n            n += 1\n    except OSError as e:\n        return (n, e.errno)\n")
    n, errno = (i.scalar for i in r.cases["case0"].value.items)
    assert n < 4096 and errno == 28  # ENOSPC from nr_inodes


def test_memfd_cannot_hoard_memory_outside_the_address_space_limit(run):
    # memfd pages are not in RLIMIT_AS unless mapped; RLIMIT_FSIZE bounds each such file instead.
    r = run("import os\ndef solve(x):\n    fd = os.memfd_create('hoard')\n    out = []\n"
            "    for op in (lambda: os.ftruncate(fd, 1 << 33), lambda: os.posix_fallocate(fd, 0, 1 << 33),\n"
            "               lambda: os.write(fd, b'x' * (16 << 20))):\n"
            "        try:\n            op()\n            out.append(0)\n        except OSError as e:\n"
            "            out.append(e.errno)\n    return out\n")
    assert [i.scalar for i in r.cases["case0"].value.items][:2] == [27, 27]  # EFBIG


def test_stderr_is_never_parsed(run):
    # Text that looks like an allocation failure, then a crash: the status comes from the signal only.
    r = run("import os, sys\ndef solve(x):\n"
            "    sys.stderr.write('terminate called after throwing an instance of std::bad_alloc\\n')\n"
            "    print('MemoryError: done')\n    sys.stdout.flush()\n    sys.stderr.flush()\n    os.abort()\n")
    # As PID 1 of its namespace the child ignores its own SIGABRT; glibc's abort() then faults (SIGSEGV).
    assert r.status == "crashed" and r.limits_hit == [] and "bad_alloc" in r.stderr

"""Lent network namespaces (speed, issue 8): the zygote lends each child an empty network namespace and
takes it back when the child is gone. What must hold: two live sandboxes never share one, and nothing a
sandbox leaves in its namespace (an abstract Unix socket kept alive in an fd-passing cycle) reaches a later
sandbox: a namespace that is not empty is dropped, not lent again."""

from __future__ import annotations

import os
import socket

import pytest
from sandbox_support import job, scalars_at_once

from service.sandbox import libc
from service.sandbox.netns import NetworkNamespaces
from service.sandbox.pool import SandboxPool

pytestmark = pytest.mark.sandbox

# Binds an abstract name and passes the sockets' own fds through a socket pair, so that the sockets outlive
# the process (the kernel collects such cycles only later): an attempt to leave a message for the next
# sandbox, e.g. from a hidden run to a later visible one.
LEAK = ("import socket\ndef solve(x):\n    a = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
        "    a.bind('\\0kiwame-leak')\n    a.listen(1)\n    b, c = socket.socketpair()\n"
        "    socket.send_fds(b, [b'x'], [a.fileno(), b.fileno(), c.fileno()])\n"
        "    socket.send_fds(c, [b'x'], [b.fileno(), c.fileno()])\n    return 1\n")
PROBE = ("import socket\ndef solve(x):\n    lines = open('/proc/net/unix').read().count('\\n')\n"
         "    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
         "    try:\n        s.connect('\\0kiwame-leak')\n        found = True\n    except OSError:\n"
         "        found = False\n    return [found, lines]\n")


def test_nothing_left_in_a_network_namespace_reaches_a_later_sandbox(pool: SandboxPool) -> None:
    # End to end, as a learner would try it. The kernel may collect the cycle before the zygote reaps the
    # child; the test below checks the zygote's own emptiness check with a socket that is certainly left.
    r = pool.run(job(LEAK))
    assert r.status == "ok", r
    for _ in range(8):  # later children take the namespaces given back since (the last one first)
        r = pool.run(job(PROBE))
        value = r.cases["case0"].value if r.status == "ok" else None
        assert value is not None, r
        assert [v.scalar for v in value.items] == [False, 1], r  # not reachable, no socket but the header


def test_a_namespace_with_a_socket_left_in_it_is_not_lent_again() -> None:
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    pid = os.fork()
    if pid == 0:  # in a child: this changes network namespaces (and restores them) as the zygote does
        code = 1
        try:
            nets = NetworkNamespaces()
            lent = nets.take()
            libc.setns(lent, libc.CLONE_NEWNET)
            left = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            left.bind("\0kiwame-left")
            libc.setns(nets.home, libc.CLONE_NEWNET)
            nets.release(lent)  # a socket is still open in it
            dropped = not nets.idle
            left.close()
            fresh = nets.take()
            nets.release(fresh)  # empty: kept for the next child
            code = 0 if dropped and nets.idle == [fresh] else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_sandboxes_running_at_once_have_different_network_namespaces(pool: SandboxPool) -> None:
    code = "import os, time\ndef solve(x):\n    time.sleep(0.5)\n    return os.readlink('/proc/self/ns/net')\n"
    out = scalars_at_once(pool, code)
    assert len(out) == 2 and all(out) and out[0] != out[1], out
    assert os.readlink("/proc/self/ns/net") not in out

"""Network namespaces for sandbox children, made by the zygote and reused once a child is gone and its
namespace is empty, instead of a new one per child.

Why: creating a network namespace (loopback device, per-namespace sysctl tables, protocol state) and the
kernel's deferred teardown of each one cost about 0.8 ms of CPU per child, a tenth of a sandbox's life.
What keeps reuse safe: a namespace is lent to one live child at a time (the zygote takes it back only when
it has reaped the child, PID 1 of its PID namespace, so every process of that sandbox is gone); inside, an
unprivileged process can only create AF_UNIX sockets (seccomp refuses every other family, and netlink), so
once no Unix socket is left in it (`/proc/net/unix`, read from inside the namespace, has no entry; a
socket kept alive in an fd-passing cycle is listed until the kernel collects it) nothing of the last
sandbox remains: no abstract name, no queued data. The loopback device stays down and the per-namespace
sysctls need CAP_NET_ADMIN, which no sandbox has. A namespace that is not empty is dropped, never lent.
"""

from __future__ import annotations

import os

from service.sandbox import libc

MAX_IDLE = 64  # namespaces kept (at most as many as children were ever alive at once)


class NetworkNamespaces:
    """`take()` an fd of an empty network namespace for a new child, `release(fd)` it when the child is gone."""

    def __init__(self) -> None:
        self.home = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)  # the zygote's own
        self.idle: list[int] = []

    def take(self) -> int:
        return self.idle.pop() if self.idle else self._new()

    def _new(self) -> int:
        libc.unshare(libc.CLONE_NEWNET)
        try:
            return os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        finally:
            libc.setns(self.home, libc.CLONE_NEWNET)

    def release(self, fd: int) -> None:
        """Keep the namespace for another child if nothing is left in it, else drop it."""
        if len(self.idle) < MAX_IDLE and self.empty(fd):
            self.idle.append(fd)
        else:
            os.close(fd)

    def empty(self, fd: int) -> bool:
        """No Unix socket in the namespace (read from inside it; the zygote goes straight back home)."""
        libc.setns(fd, libc.CLONE_NEWNET)
        try:
            with open("/proc/self/net/unix", "rb") as f:
                lines = f.read().count(b"\n")
        finally:
            libc.setns(self.home, libc.CLONE_NEWNET)
        return lines <= 1  # the header line only

    def close(self) -> None:
        for fd in self.idle + [self.home]:
            os.close(fd)
        self.idle = []

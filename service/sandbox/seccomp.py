"""A hand-built classic-BPF seccomp filter, assembled once in the zygote and loaded just before learner code.

Policy (documented in docs/sandbox.md):
- foreign architecture or the x32 ABI -> kill the process (no way around the syscall table);
- calls no tensor code needs and that attack the kernel or other processes (ptrace, process_vm_*, bpf,
  perf_event_open, userfaultfd, io_uring, keyrings, mount/unshare/setns, kexec, modules...) -> kill the
  process with SIGSYS, which the pool reports as `sandbox_violation`;
- clone() with any namespace flag -> EPERM; clone3() -> ENOSYS so glibc falls back to clone(), whose
  flags a classic filter can read (clone3 passes them behind a pointer);
- socket() for anything but AF_UNIX -> EPERM (library probes get a clean Python error);
- ioctl(TIOCSTI / TIOCLINUX) -> EPERM (terminal injection, CVE-2017-5226);
- everything else is allowed: the other layers (uid, namespaces, read-only mounts, rlimits) confine it.
"""

from __future__ import annotations

import ctypes
import struct

from service.sandbox import libc

AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x40000000

RET_KILL_PROCESS = 0x80000000
RET_ERRNO = 0x00050000
RET_ALLOW = 0x7FFF0000
EPERM, ENOSYS = 1, 38

# BPF opcodes.
LD_ABS_W = 0x20
JEQ_K = 0x15
JGE_K = 0x35
JSET_K = 0x45
RET_K = 0x06

# seccomp_data offsets: nr @0, arch @4, args[i] @16 + 8*i (low 32 bits first on little-endian).
OFF_NR, OFF_ARCH, OFF_ARG0, OFF_ARG1 = 0, 4, 16, 24

# x86_64 numbers (arch/x86/entry/syscalls/syscall_64.tbl).
KILL: dict[str, int] = {
    "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "bpf": 321,
    "perf_event_open": 298, "userfaultfd": 323, "io_uring_setup": 425, "io_uring_enter": 426,
    "io_uring_register": 427, "keyctl": 250, "add_key": 248, "request_key": 249,
    "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161, "unshare": 272, "setns": 308,
    "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
    "mount_setattr": 442, "kexec_load": 246, "kexec_file_load": 320, "init_module": 175,
    "finit_module": 313, "delete_module": 176, "open_by_handle_at": 304, "name_to_handle_at": 303,
    "swapon": 167, "swapoff": 168, "reboot": 169, "acct": 163, "settimeofday": 164,
    "clock_settime": 227, "adjtimex": 159, "clock_adjtime": 305, "syslog": 103, "quotactl": 179,
    "iopl": 172, "ioperm": 173, "uselib": 134, "kcmp": 312, "pidfd_getfd": 438, "move_pages": 279,
    "migrate_pages": 256, "lookup_dcookie": 212, "vhangup": 153, "memfd_secret": 447,
}
NR_CLONE, NR_CLONE3, NR_SOCKET, NR_IOCTL = 56, 435, 41, 16
AF_UNIX = 1
TIOCSTI, TIOCLINUX = 0x5412, 0x541C


def _ins(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k & 0xFFFFFFFF)


def _on_arg(nr: int, arg_off: int, test: int, values: list[int], hit: int, miss: int) -> list[bytes]:
    """`if nr == X: return hit if <arg test> matches any of values else miss`, jump offsets counted here.

    After loading the argument the accumulator no longer holds nr, so the block always returns."""
    n = len(values)
    return [_ins(JEQ_K, 0, n + 3, nr),  # not this call: skip the load, the n tests and both returns
            _ins(LD_ABS_W, 0, 0, arg_off),
            *(_ins(test, n - i, 0, v) for i, v in enumerate(values)),  # a match jumps to `hit`
            _ins(RET_K, 0, 0, miss),
            _ins(RET_K, 0, 0, hit)]


def build_program() -> bytes:
    """The filter as raw `struct sock_filter[]` bytes (x86_64 only; other arches fail the self-check)."""
    p: list[bytes] = [
        _ins(LD_ABS_W, 0, 0, OFF_ARCH),
        _ins(JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
        _ins(RET_K, 0, 0, RET_KILL_PROCESS),
        _ins(LD_ABS_W, 0, 0, OFF_NR),
        _ins(JGE_K, 0, 1, X32_SYSCALL_BIT),
        _ins(RET_K, 0, 0, RET_KILL_PROCESS),
    ]
    for nr in KILL.values():  # "if nr == X: kill", two instructions each
        p += [_ins(JEQ_K, 0, 1, nr), _ins(RET_K, 0, 0, RET_KILL_PROCESS)]
    p += [_ins(JEQ_K, 0, 1, NR_CLONE3), _ins(RET_K, 0, 0, RET_ERRNO | ENOSYS)]
    p += _on_arg(NR_CLONE, OFF_ARG0, JSET_K, [libc.NS_FLAGS], hit=RET_ERRNO | EPERM, miss=RET_ALLOW)
    p += _on_arg(NR_SOCKET, OFF_ARG0, JEQ_K, [AF_UNIX], hit=RET_ALLOW, miss=RET_ERRNO | EPERM)
    p += _on_arg(NR_IOCTL, OFF_ARG1, JEQ_K, [TIOCSTI, TIOCLINUX], hit=RET_ERRNO | EPERM, miss=RET_ALLOW)
    p.append(_ins(RET_K, 0, 0, RET_ALLOW))
    return b"".join(p)


class Filter:
    """A prebuilt program kept alive in memory; `load()` installs it in the calling process (irreversible)."""

    def __init__(self) -> None:
        code = build_program()
        self._buf = ctypes.create_string_buffer(code, len(code))
        # struct sock_fprog { unsigned short len; struct sock_filter *filter; } (padding after len).
        self._prog = ctypes.create_string_buffer(struct.pack("=HxxxxxxQ", len(code) // 8,
                                                             ctypes.addressof(self._buf)))

    def load(self) -> None:
        if libc.ARCH != "x86_64":
            raise OSError(f"seccomp filter only written for x86_64, not {libc.ARCH}")
        libc.prctl(libc.PR_SET_NO_NEW_PRIVS, 1)  # required to load a filter without CAP_SYS_ADMIN
        libc.seccomp_set_filter(ctypes.addressof(self._prog))

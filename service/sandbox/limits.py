"""Every sandbox limit in one documented place (like codejail's DEFAULT_LIMITS)."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class SandboxLimits:
    """Fixed limits of one sandbox child. Per-job time and memory come from the `Job` itself."""

    # Wall clock: the pool SIGKILLs the child's PID namespace at `job.time_s + wall_grace_s`.
    wall_grace_s: float = 1.0
    # CPU seconds (RLIMIT_CPU soft; hard is one more) = ceil(job.time_s) + cpu_grace_s.
    cpu_grace_s: int = 1
    # Processes *and threads* of the child's private uid (RLIMIT_NPROC). Stops fork bombs and
    # thread floods; the harness itself needs one.
    nproc: int = 16
    # Largest file the learner may write (RLIMIT_FSIZE, bytes); beyond it SIGXFSZ/EFBIG.
    fsize_bytes: int = 8 << 20
    # Open files (RLIMIT_NOFILE).
    nofile: int = 64
    # Private tmpfs mounted as /tmp (and cwd), in bytes: a disk fill stops here.
    tmpfs_bytes: int = 16 << 20
    # ...and at most this many files in it: empty files cost kernel memory but no tmpfs bytes.
    tmpfs_inodes: int = 4096
    # stdout and stderr: keep this much of each for display, kill the child past the hard cap.
    output_keep_bytes: int = 64 << 10
    output_hard_bytes: int = 1 << 20
    # Result channel: one JSON header, and the raw tensor bytes of one whole run.
    header_max_bytes: int = 64 << 10
    payload_max_bytes: int = 16 << 20
    # Shape sanity: at most this many dimensions and this many items in a tuple/list output.
    max_ndim: int = 8
    max_items: int = 1024
    max_depth: int = 8
    # Job pipe (trusted -> child): the encoded inputs of all cases.
    job_max_bytes: int = 64 << 20
    # Per-child uids/gids: each zygote on the host claims its own block of `uid_slots` uids (a lock file
    # held for its lifetime), and a child gets block base + slot, unique among all live children, so a
    # per-uid limit (RLIMIT_NPROC) is really per sandbox even with several pools (gunicorn workers).
    uid_base: int = 64000
    uid_slots: int = 512
    uid_blocks: int = 64  # fresh single-use runners (GPU) use uids above all blocks

    def cpu_seconds(self, time_s: float) -> int:
        return math.ceil(time_s) + self.cpu_grace_s

    def wall_seconds(self, time_s: float) -> float:
        return time_s + self.wall_grace_s

    @property
    def fresh_uid_base(self) -> int:
        return self.uid_base + self.uid_slots * self.uid_blocks


DEFAULT_LIMITS = SandboxLimits()

# The environment the zygote starts with. It is all a learner can ever read back (for example from
# /proc/1/environ), so it must never hold a secret: no KIWAME_*, no database URL, no tokens.
ZYGOTE_ENV: dict[str, str] = {
    "PATH": "/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONHASHSEED": "0",
}

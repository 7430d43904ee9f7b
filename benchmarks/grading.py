"""Speed benchmark (not a timed test): grade a 3-case `permute` exercise through the whole engine.

    python benchmarks/grading.py [--n 300] [--seconds 8] [--baseline-n 8]

Prints p50/p99 latency of one grading, throughput with the pool's default worker count, the pool's
memory (PSS of the zygote and its spare children, from /proc/<pid>/smaps_rollup), and the same figures
for a baseline that starts a fresh interpreter per submission with the same harness and isolation
(`service.sandbox.cuda.run_fresh` on the CPU), then the ratios. Targets on a 2-core machine (issue 8):
p50 <= 8 ms, p99 <= 25 ms, throughput >= 130 gradings/s, and >= 40x the baseline. Throughput uses one
worker thread per core (the pool itself has more slots than cores, for fairness under slow submissions).
Needs root (the sandbox does).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from service.domain import Case, Exercise, Submission, Text  # noqa: E402
from service.grading.engine import Engine  # noqa: E402
from service.sandbox.cuda import run_fresh  # noqa: E402
from service.sandbox.pool import SandboxPool  # noqa: E402
from service.sandbox.protocol import Job, RawRun  # noqa: E402

SOLUTION = "import torch\n\n\ndef solve(x):\n    return x.permute(2, 0, 1)\n"
LEARNER = "import torch\n\n\ndef solve(x):\n    y = x.permute(2, 0, 1)\n    return y\n"


def permute_exercise() -> Exercise:
    cases = (Case("arange-2x3x4", True, {"x": {"arange": [2, 3, 4]}}),
             Case("coded-3x4x5", False, {"x": {"coded": [3, 4, 5]}}),
             Case("random-4x2x3", False, {"x": {"random": [4, 2, 3], "seed": 1}}))
    return Exercise(id="bench-permute", kind="code", framework="torch", track="bench", title=Text("p", "p"),
                    prompt=Text("p", "p"), difficulty=1, tags=(), cases=cases, solution=SOLUTION,
                    content_hash=hashlib.sha256(SOLUTION.encode()).hexdigest())


class FreshRunner:
    """Baseline: a fresh interpreter (import torch, same harness and isolation) per sandbox run."""

    def run(self, job: Job, cancel: threading.Event | None = None) -> RawRun:
        return run_fresh(job, gpu=False)


def pss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                total += next(int(line.split()[1]) for line in f if line.startswith("Pss:"))
        except (OSError, StopIteration):
            pass
    return total


def cpu_ms(pid: int) -> float:
    """utime + stime of `pid` plus that of its reaped children (the zygote reaps every sandbox child)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) * 1000 / os.sysconf("SC_CLK_TCK")


def own_cpu_ms() -> float:
    t = os.times()
    return (t.user + t.system) * 1000


def latency(engine: Engine, ex: Exercise, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        result = engine.grade(ex, Submission(ex.id, code=LEARNER))
        out.append((time.perf_counter() - t) * 1000)
        assert result.passed, result
    return out


def throughput(engine: Engine, ex: Exercise, workers: int, seconds: float, max_n: int) -> float:
    done = [0]
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def worker() -> None:
        while time.perf_counter() < stop:
            with lock:
                if done[0] >= max_n:
                    return
            assert engine.grade(ex, Submission(ex.id, code=LEARNER)).passed
            with lock:
                done[0] += 1

    start = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done[0] / (time.perf_counter() - start)


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300, help="sequential gradings for latency")
    ap.add_argument("--seconds", type=float, default=8.0, help="throughput window")
    ap.add_argument("--baseline-n", type=int, default=8)
    args = ap.parse_args()
    ex = permute_exercise()

    pool = SandboxPool()
    bad = [ly.name for ly in pool.selfcheck() if ly.required and not ly.ok]
    if bad:
        sys.exit(f"sandbox unavailable, missing layers: {bad}")
    engine = Engine(pool)
    latency(engine, ex, 10)  # reference run (cached) and warm-up
    zygote = pool.pids()[0]
    cpu0 = cpu_ms(zygote) + own_cpu_ms()
    lat = latency(engine, ex, args.n)
    # CPU per grading (trusted process + zygote + its reaped children): what the load on a shared
    # machine cannot distort; cores * 1000 / this is the throughput the CPUs allow.
    cpu_per = (cpu_ms(zygote) + own_cpu_ms() - cpu0) / args.n
    workers = os.cpu_count() or 1
    tput = throughput(engine, ex, workers, args.seconds, 100000)
    time.sleep(0.5)  # let the spares finish isolating before measuring them
    pids = pool.pids()
    mem = pss_kib(pids)
    pool.close()

    base = Engine(FreshRunner())  # type: ignore[arg-type]
    latency(base, ex, 1)
    blat = latency(base, ex, args.baseline_n)
    btput = throughput(base, ex, workers, args.seconds, args.baseline_n * 2)
    cores = os.cpu_count()
    print(f"machine: {cores} cores, load average {os.getloadavg()[0]:.2f} (other work on the machine skews all figures)")
    print(f"pool (zygote + {pool.size} slots, {len(pids) - 1} spare children); one grading = "
          "1 sandbox child (visible cases, then the sealed hidden ones: SandboxPool.run_phases):")
    print(f"  latency   p50 {statistics.median(lat):7.1f} ms   p99 {pct(lat, 99):7.1f} ms   (n={len(lat)})")
    print(f"  throughput {tput:6.1f} gradings/s with {workers} workers")
    print(f"  CPU       {cpu_per:7.1f} ms per grading (all processes) -> at most "
          f"{(cores or 1) * 1000 / cpu_per:.0f} gradings/s on {cores} idle cores")
    print(f"  memory    PSS {mem / 1024:7.1f} MiB (zygote + spares)")
    print("baseline (fresh interpreter per submission, same harness and isolation):")
    print(f"  latency   p50 {statistics.median(blat):7.1f} ms   p99 {pct(blat, 99):7.1f} ms   (n={len(blat)})")
    print(f"  throughput {btput:6.1f} gradings/s with {workers} workers")
    print("ratios:")
    print(f"  latency    {statistics.median(blat) / statistics.median(lat):6.1f}x faster (p50)")
    print(f"  throughput {tput / btput:6.1f}x")
    p50, p99 = statistics.median(lat), pct(lat, 99)
    print(f"targets: p50 <= 8 ms {'OK' if p50 <= 8 else 'MISSED'}; p99 <= 25 ms {'OK' if p99 <= 25 else 'MISSED'}; "
          f">= 130/s {'OK' if tput >= 130 else 'MISSED'}; >= 40x baseline {'OK' if tput / btput >= 40 else 'MISSED'}")


if __name__ == "__main__":
    main()

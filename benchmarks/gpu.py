"""GPU check (run once on a machine with an NVIDIA GPU; prints, never asserts): the CUDA grading path.

    python benchmarks/gpu.py [--n 5]

1. Is a CUDA GPU visible (device files, and torch in a fresh process)? Without one it says so and exits 0.
2. Runs a 3-D permute job with device="cuda" through the real SandboxPool n times (each a fresh, isolated,
   single-use process that initialises CUDA itself) and prints p50 latency, against the same job on the
   CPU pool in the same run (the ratio says what a GPU case costs on top of a CPU one).
3. Grades the bundled `devices: [cpu, cuda]` exercises with their reference solutions through the Engine
   and prints whether the `<case>@cuda` cases ran and passed.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.domain import Submission  # noqa: E402
from service.exercises.loader import load_exercise  # noqa: E402
from service.grading.engine import Engine  # noqa: E402
from service.sandbox.cuda import gpu_present  # noqa: E402
from service.sandbox.pool import SandboxPool  # noqa: E402
from service.sandbox.protocol import ArgIn, CaseIn, Job  # noqa: E402

CODE = "def solve(x):\n    return x.permute(2, 0, 1)\n"
GPU_EXERCISES = ("einsum/qk-two-ways.yaml", "practice/nchw-to-nhwc.yaml", "practice/split-heads.yaml")


def timed(pool: SandboxPool, device: str, n: int) -> tuple[list[float], str]:
    x = np.arange(2 * 3 * 4, dtype=np.int64).reshape(2, 3, 4)
    job = Job(code=CODE, entry="solve", framework="torch", cases=(CaseIn("c", (ArgIn("x", array=x),)),),
              time_s=20.0, device=device)
    times, status = [], ""
    for _ in range(n):
        start = time.perf_counter()
        run = pool.run(job)
        times.append((time.perf_counter() - start) * 1000)
        status = f"{run.status} {run.detail}".strip()
        value = run.cases["c"].value if "c" in run.cases else None
        if value is not None:
            status += f", device {value.device}, correct {bool(np.array_equal(value.array, x.transpose(2, 0, 1)))}"
    return times, status


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=5)
    args = parser.parse_args()
    probe = subprocess.run([sys.executable, "-c", "import torch; print(torch.__version__, torch.version.cuda, "
                            "torch.cuda.is_available() and torch.cuda.get_device_name(0))"],
                           capture_output=True, text=True, timeout=120)
    print(f"device files: {gpu_present()}; torch (fresh process): {probe.stdout.strip() or probe.stderr[-300:]}")
    if not gpu_present():
        print("no CUDA GPU here: GPU path skipped")
        return
    pool = SandboxPool()
    try:
        cpu, cpu_status = timed(pool, "cpu", args.n)
        gpu, gpu_status = timed(pool, "cuda", args.n)
        print(f"cpu job:  p50 {statistics.median(cpu):8.1f} ms  ({cpu_status})")
        print(f"cuda job: p50 {statistics.median(gpu):8.1f} ms  ({gpu_status})  n={args.n}")
        print(f"ratio cuda/cpu p50: {statistics.median(gpu) / statistics.median(cpu):.1f}x")
        engine = Engine(pool)
        for rel in GPU_EXERCISES:
            exercise = load_exercise(ROOT / "exercises" / rel).exercise
            assert exercise is not None, rel
            start = time.perf_counter()
            result = engine.grade(exercise, Submission(exercise.id, code=exercise.solution))
            ms = (time.perf_counter() - start) * 1000
            cuda_cases = [c for c in result.cases if c.name.endswith("@cuda")]
            skipped = [d.message for d in result.diagnoses if d.code == "gpu_skipped"]
            print(f"{exercise.id}: passed {result.passed}, score {result.score}, cuda cases "
                  f"{sum(c.passed for c in cuda_cases)}/{len(cuda_cases)} passed, {ms:.0f} ms"
                  + (f", skipped: {skipped[0]}" if skipped else ""))
    finally:
        pool.close()


if __name__ == "__main__":
    main()

"""Speed benchmark (not a timed test): the cost of the operation diagnoses on one failing case.

    python benchmarks/diagnose.py [--n 200]

Compares real wrong answers (wrong reduction axes, missing keepdim, swapped broadcast, wrong contraction,
wrong window) with ``compare_case`` as the engine does, with the operation search (diagnose_ops) and without it
(the baseline, measured in the same run), and prints p50/p99 per case and the ratio. The engine runs the search
on at most one visible and one hidden case per grading, so this is the added latency of a failing submission.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from service.domain import Case, Exercise, Text  # noqa: E402
from service.grading.compare import compare_case  # noqa: E402
from service.sandbox.protocol import ArgIn, Value  # noqa: E402


def _value(a: np.ndarray) -> Value:
    return Value(kind="ndarray", array=a, dtype=str(a.dtype), shape=a.shape, device="cpu")


def _cases() -> list[tuple[str, list[ArgIn], np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 8))
    a, b = rng.standard_normal((5, 5)), rng.standard_normal((5, 5))
    z = np.arange(40.0)
    w = np.lib.stride_tricks.sliding_window_view
    return [
        ("wrong_reduction_axes", [ArgIn("x", array=x)], x / x.sum(1, keepdims=True), x / x.sum(0, keepdims=True)),
        ("missing_keepdim", [ArgIn("x", array=x)], x.sum(1, keepdims=True), x.sum(1)),
        ("wrong_broadcast_axes", [ArgIn("a", array=z[:6]), ArgIn("b", array=z[:7])],
         z[:6, None] * z[None, :7], z[None, :6] * z[:7, None]),
        ("wrong_contraction", [ArgIn("a", array=a), ArgIn("b", array=b)], a @ b, a @ b.T),
        ("wrong_window", [ArgIn("z", array=z)], w(z, 4).mean(-1), w(z, 4)[::4].mean(-1)),
        ("no finding (values off)", [ArgIn("x", array=x)], x * 2, x * 3),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200)
    n = parser.parse_args().n
    ex = Exercise(id="bench", kind="code", framework="numpy", track="b", title=Text("b", "b"), prompt=Text("b", "b"),
                  difficulty=1, tags=(), content_hash="b", cases=(Case("c", True, {}),))
    for label, args, expected, got in _cases():
        times: dict[bool, list[float]] = {True: [], False: []}
        codes = []
        for _ in range(n):
            for search in (False, True):
                t0 = time.perf_counter()
                verdict = compare_case(ex, args, _value(expected), _value(got), None, operations=search)
                times[search].append((time.perf_counter() - t0) * 1000)
                if search:
                    codes = [d.code for d in verdict.diagnoses]
        p50 = {k: statistics.median(v) for k, v in times.items()}
        p99 = {k: sorted(v)[int(len(v) * 0.99) - 1] for k, v in times.items()}
        print(f"{label:24s} with search p50 {p50[True]:.2f} ms p99 {p99[True]:.2f} ms | baseline p50 "
              f"{p50[False]:.3f} ms | +{p50[True] - p50[False]:.2f} ms | codes {codes}")


if __name__ == "__main__":
    main()

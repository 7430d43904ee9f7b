"""Page benchmark (not a timed test): server render time and weight of the learner's exercise page.

    python benchmarks/pages.py [--n 200]

Renders /exercises/permute-2d for a signed-in learner through the Flask test client on a temporary
SQLite database and prints the median and p90 render time, against a baseline measured in the same run:
the cheapest page the app serves (/healthz without the sandbox probe is not cheap, so the baseline is the
sign-in form, which touches the session store and templates but no exercise or grading code).
Also prints the page weight (HTML + its assets, raw and gzip).
"""

from __future__ import annotations

import argparse
import gzip
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from service.app import create_app  # noqa: E402

PAGE = "/exercises/permute-2d"
BASELINE = "/signin"
CSRF_RE = re.compile(r'name="csrf-token" content="([^"]+)"')


def timed(client, path: str, n: int) -> list[float]:  # type: ignore[no-untyped-def]
    for _ in range(10):  # warm template and catalog caches
        client.get(path)
    times = []
    for _ in range(n):
        start = time.perf_counter()
        assert client.get(path).status_code == 200
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        # The per-client rate limit would answer 429 after 120 renders: a benchmark is not an abusive client.
        app = create_app({"KIWAME_INSTANCE_DIR": tmp, "KIWAME_SECRET_KEY": "b" * 32,
                          "KIWAME_RATE_LIMIT": "1000000 per minute"})
        client = app.test_client()
        token = CSRF_RE.search(client.get("/signup").get_data(as_text=True)).group(1)  # type: ignore[union-attr]
        client.post("/signup", data={"csrf_token": token, "username": "bench", "password": "correct horse"})
        html = client.get(PAGE).get_data()
        raw = len(html)
        packed = len(gzip.compress(html))
        for url in re.findall(rb'(?:src|href)="(/static/web/[^"]+)"', html):
            body = client.get(url.decode()).get_data()
            raw += len(body)
            packed += len(gzip.compress(body))
        page = timed(client, PAGE, args.n)
        base = timed(client, BASELINE, args.n)
    p50, b50 = statistics.median(page), statistics.median(base)
    print(f"exercise page weight: {raw} bytes raw, {packed} bytes gzip (HTML {len(html)} bytes)")
    print(f"exercise page render: p50 {p50:.2f} ms, p90 {sorted(page)[int(len(page) * 0.9)]:.2f} ms (n={args.n})")
    print(f"baseline {BASELINE}:     p50 {b50:.2f} ms, p90 {sorted(base)[int(len(base) * 0.9)]:.2f} ms")
    print(f"ratio exercise/baseline p50: {p50 / b50:.2f}x")


if __name__ == "__main__":
    main()

"""Page weight and server render time of the exercise page, against budgets (figures printed with -s)."""

from __future__ import annotations

import gzip
import re
import statistics
import time

from flask import Flask

from tests.web.conftest import signup

PAGE = "/exercises/permute-2d"
WEIGHT_BUDGET = 600_000  # bytes, uncompressed, HTML + CSS + JS (the editor bundle is most of it)
GZIP_BUDGET = 180_000
RENDER_BUDGET_MS = 60.0  # median, test client, SQLite: generous for a slow CI machine


def test_exercise_page_weight(app: Flask) -> None:
    client = app.test_client()
    signup(client, "weigher")
    html = client.get(PAGE).get_data()
    assets = re.findall(rb'(?:src|href)="(/static/web/[^"]+)"', html)
    sizes = {"html": (len(html), len(gzip.compress(html)))}
    for url in assets:
        body = client.get(url.decode()).get_data()
        sizes[url.decode().split("?")[0]] = (len(body), len(gzip.compress(body)))
    raw = sum(s[0] for s in sizes.values())
    packed = sum(s[1] for s in sizes.values())
    print(f"\nexercise page weight: {raw} bytes raw, {packed} bytes gzip; {sizes}")
    assert len(assets) == 5  # app.css, site.js, editor.js, grid.js, exercise.js: no CDN, nothing else
    assert raw < WEIGHT_BUDGET and packed < GZIP_BUDGET


def test_exercise_page_render_time(app: Flask) -> None:
    client = app.test_client()
    signup(client, "timer")
    for _ in range(5):  # warm the template cache and the catalog
        client.get(PAGE)
    times = []
    for _ in range(50):
        start = time.perf_counter()
        assert client.get(PAGE).status_code == 200
        times.append((time.perf_counter() - start) * 1000)
    median = statistics.median(times)
    print(f"\nexercise page render: median {median:.2f} ms, p90 {sorted(times)[44]:.2f} ms over 50 renders")
    assert median < RENDER_BUDGET_MS

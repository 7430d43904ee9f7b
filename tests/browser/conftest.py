"""Real-browser fixtures: the real app (engine, sandbox, temp SQLite) on a free port, and Debian's Chromium."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Screenshots go to $KIWAME_ARTIFACTS when set (to keep them), else a pytest temp folder."""
    wanted = os.environ.get("KIWAME_ARTIFACTS")
    path = Path(wanted) if wanted else tmp_path_factory.mktemp("artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def serve(config: dict[str, Any]) -> Iterator[tuple[Any, str]]:
    """The real app with ``config`` on a free port, in a thread; yields (app, base URL)."""
    from werkzeug.serving import make_server

    from service.app import create_app

    app = create_app({"KIWAME_SECRET_KEY": "b" * 32, **config})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        from service.services.runtime import runtime

        runtime(app).close()


@pytest.fixture(scope="session")
def live_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str]]:
    with serve({"KIWAME_INSTANCE_DIR": str(tmp_path_factory.mktemp("instance"))}) as running:
        yield running


AXE = Path(__file__).parent / "vendor" / "axe.min.js"  # axe-core from npm (service/web/frontend: npm run axe)


def axe_violations(page: Any) -> list[str]:
    """Runs axe-core in the page (WCAG 2.x A/AA and best practices) and returns one line per violation."""
    page.evaluate(AXE.read_text())  # evaluated through the DevTools protocol: the page's CSP does not apply
    found = page.evaluate("""() => axe.run(document, {resultTypes: ['violations']}).then(r => r.violations.map(
        v => v.id + ' (' + v.impact + '): ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | ')))""")
    return list(found)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium package to run the browser tests")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()

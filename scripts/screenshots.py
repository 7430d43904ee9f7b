"""Regenerates the README's screenshots (docs/screenshots/) in English and Japanese with Debian's Chromium.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots]

Runs the real app (real sandbox, temporary SQLite) on a free port and drives it like a learner and an
instructor would. Japanese needs a CJK font: ``apt-get install fonts-noto-cjk``.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "s3cret-pass"
WAIT = 90_000  # ms: the first grading also starts the sandbox pool
RESHAPE = "import torch\n\n\ndef solve(x):\n    return x.reshape(3, 2)\n"
WRONG_3D = "import torch\n\n\ndef solve(x):\n    return x.permute(1, 2, 0)\n"
HALF_4D = "import torch\n\n\ndef solve(x):\n    y = x.swapaxes(1, 3).clone()\n    y[1] = y[1].flip(0)\n    return y\n"


def serve(instance: str) -> tuple[Any, str, Any]:
    from werkzeug.serving import make_server

    from service.app import create_app

    app = create_app({"KIWAME_INSTANCE_DIR": instance, "KIWAME_SECRET_KEY": "s" * 32})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return app, f"http://127.0.0.1:{server.server_port}", server


def set_code(page: Any, code: str) -> None:
    page.locator(".cm-content").click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(code)


def submit(page: Any, code: str) -> None:
    set_code(page, code)
    page.click("#submit")
    page.wait_for_selector("#result .verdict", timeout=WAIT)


def skip_prediction(page: Any) -> None:
    page.click("#predict-skip", timeout=WAIT)


def learner_views(browser: Any, base: str, lang: str, out: Path) -> None:
    ctx = browser.new_context(base_url=base, locale="ja-JP" if lang == "ja" else "en-US",
                              viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.goto("/")
    page.wait_for_selector('#demo .anim[data-state="done"]', timeout=WAIT)
    page.screenshot(path=str(out / f"landing-{lang}.png"), full_page=True)
    page.goto("/signup")
    page.fill("#username", f"learner-{lang}")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))
    page.goto("/exercises/permute-2d")
    page.wait_for_selector("#predict-shape", timeout=WAIT)
    page.fill("#predict-shape", "3, 2")
    page.click('#predict button.pick[aria-label="y[1, 0]"]')
    page.click("#predict-check")
    page.wait_for_selector('#predict .anim[data-state="done"]', timeout=WAIT)
    page.screenshot(path=str(out / f"predict-{lang}.png"), full_page=True)
    page.click("#predict-unlock")
    if lang == "en":
        submit(page, RESHAPE)
        page.screenshot(path=str(out / "verdict-reshape-diff.png"), full_page=True)
        page.check("#picture")
        page.screenshot(path=str(out / "picture-it.png"), full_page=True)
    else:
        page.screenshot(path=str(out / "exercise-ja.png"), full_page=True)
    page.goto("/exercises/permute-3d")
    skip_prediction(page)
    page.wait_for_selector("#examples button.play", timeout=WAIT)
    page.click("#examples button.play")
    page.wait_for_selector('#examples .anim[data-state="done"]', timeout=WAIT)
    page.locator("#examples").screenshot(path=str(out / f"animation-{lang}.png"))
    if lang == "en":
        submit(page, WRONG_3D)
        page.check("#picture")
        page.screenshot(path=str(out / "verdict-3d-axis-order.png"), full_page=True)
        page.goto("/exercises/permute-shape-quiz")
        page.fill("#shape-answer", "7, 4")
        page.click("#submit")
        page.wait_for_selector("#result .verdict", timeout=WAIT)
        page.screenshot(path=str(out / "quiz-shape.png"), full_page=True)
    ctx.close()
    phone = browser.new_context(base_url=base, locale="ja-JP" if lang == "ja" else "en-US",
                                viewport={"width": 390, "height": 844})
    page = phone.new_page()
    page.goto("/signin")
    page.fill("#username", f"learner-{lang}")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))
    page.goto("/exercises/swap-axes")
    skip_prediction(page)
    submit(page, HALF_4D)
    page.screenshot(path=str(out / f"phone-{lang}.png"), full_page=True)
    phone.close()


def instructor_views(browser: Any, app: Any, base: str, lang: str, out: Path) -> None:
    ctx = browser.new_context(base_url=base, locale="ja-JP" if lang == "ja" else "en-US",
                              viewport={"width": 1280, "height": 800})
    page = ctx.new_page()
    page.goto("/signin")
    page.fill("#username", "sensei")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))
    page.select_option("#lang-select", lang)
    page.wait_for_selector(f'html[lang="{lang}"]')
    page.goto("/instructor/")
    page.screenshot(path=str(out / f"instructor-overview-{lang}.png"))
    if lang == "en":
        page.goto("/instructor/exercises/permute-2d")
        page.screenshot(path=str(out / "instructor-exercise.png"), full_page=True)
        with app.app_context():
            from service.services import instructor, users

            uid = users.get_user("learner-en").id
            latest = instructor.submissions(uid, "permute-3d")[0].id
        page.goto(f"/instructor/submissions/{latest}")
        page.wait_for_selector("#result .verdict")
        page.screenshot(path=str(out / "instructor-submission.png"), full_page=True)
    ctx.close()


def _class_of_learners() -> None:
    """A few learners with progress, so the class matrix has something to show."""
    from datetime import UTC, datetime

    from service.persistence import db
    from service.services import catalog, progress, users
    from service.services.runtime import runtime

    ids = [e.id for e in catalog.exercises(runtime().catalog)]
    for k, name in enumerate(("aiko", "ben", "chen", "dana", "emi", "farid")):
        uid = users.create_user(name, "learner", PASSWORD).user.id
        for j, ex in enumerate(ids[: 6 + 5 * k]):
            solved = (j + k) % 4 != 0
            progress.record_attempt(uid, ex, 1.0 if solved else 0.4, solved, datetime.now(UTC))
    db.session.commit()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="docs/screenshots")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        app, base, server = serve(tmp)
        with app.app_context():
            from service.services import users

            users.create_user("sensei", "instructor", PASSWORD)
            _class_of_learners()
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            for lang in ("en", "ja"):
                learner_views(browser, base, lang, out)
            for lang in ("en", "ja"):
                instructor_views(browser, app, base, lang, out)
        finally:
            browser.close()
            server.shutdown()
            from service.services.runtime import runtime

            runtime(app).close()
    print("\n".join(sorted(str(f) for f in out.glob("*.png"))))


if __name__ == "__main__":
    main()

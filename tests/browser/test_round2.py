"""Issue 13 in a real browser: predict mode, the animation, drafts across reloads, Next exercise, phone, matrix."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import axe_violations, serve
from tests.browser.test_flows import PASSWORD, PERMUTE, VERDICT_TIMEOUT, set_code, shot

pytestmark = pytest.mark.browser
REPO = Path(__file__).resolve().parents[2]


def new_page(browser: Any, base: str, *, width: int = 1280, height: int = 900, locale: str = "en-US",
             **extra: Any) -> Any:
    context = browser.new_context(base_url=base, locale=locale, viewport={"width": width, "height": height}, **extra)
    context.set_default_timeout(30_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors
    return page


def sign_up(page: Any, name: str) -> Any:
    page.goto("/signup")
    page.fill("#username", name)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))
    return page


def sign_in(page: Any, name: str, password: str) -> None:
    page.goto("/signin")
    page.fill("#username", name)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))


def test_predict_mode_asks_checks_explains_and_records(browser: Any, live_app: tuple[Any, str],
                                                       artifacts: Path) -> None:
    app, base = live_app
    page = sign_up(new_page(browser, base), "predictor")
    page.goto("/exercises/permute-2d")
    # A new learner starts in predict mode: the editor is locked until the prediction is made or skipped.
    page.wait_for_selector("#predict-shape", timeout=VERDICT_TIMEOUT)
    assert page.locator("#answer-box").evaluate("n => n.inert") is True
    marked = page.locator("#predict td.cell.marked")
    assert marked.count() == 1 and marked.text_content() == "2"  # the value that moves, x[0, 1]
    # First a wrong prediction: the shape of the input, and the value left where it was.
    page.fill("#predict-shape", "2, 3")
    page.click('#predict button.pick[aria-label="y[0, 1]"]')
    page.click("#predict-check")
    page.wait_for_selector('#predict .verdict[data-correct="0"]')
    text = page.locator("#predict .pred-result").text_content()
    assert "(3, 2)" in text and "y[1, 0]" in text
    page.wait_for_selector('#predict .anim[data-state="done"]')  # explained with the picture
    # Then the right one.
    page.fill("#predict-shape", "(3, 2)")
    page.click('#predict button.pick[aria-label="y[1, 0]"]')
    page.click("#predict-check")
    page.wait_for_selector('#predict .verdict[data-correct="1"]')
    shot(page, artifacts, "predict-mode")
    page.click("#predict-unlock")
    assert page.locator("#answer-box").evaluate("n => n.inert") is False
    assert page.locator("#predict").is_hidden()
    with app.app_context():
        from service.services import predictions

        acc = predictions.accuracy(["permute-2d"])["permute-2d"]
    assert acc.predictions >= 2 and acc.learners >= 1
    # Instructors see the accuracy per exercise (first predictions only: this learner's first was wrong).
    with app.app_context():
        from service.services import users

        users.create_user("teacher13", "instructor", "teach-pass-13")
    staff = new_page(browser, base)
    sign_in(staff, "teacher13", "teach-pass-13")
    staff.goto("/instructor/exercises/permute-2d")
    rate = staff.locator("#prediction-rate").text_content()
    assert rate.strip().endswith("%"), rate
    # The shape quiz answers with the same widget (an empty grid of the typed shape).
    page.goto("/exercises/permute-shape-quiz")
    page.fill("#shape-answer", "7, 4")
    assert page.locator("#shape-widget table.grid td.cell").count() == 28
    page.click("#submit")
    page.wait_for_selector('.verdict[data-passed="1"]', timeout=VERDICT_TIMEOUT)
    assert not page.js_errors, page.js_errors


def test_animation_reaches_its_final_state_with_memory_strip(browser: Any, live_app: tuple[Any, str],
                                                             artifacts: Path) -> None:
    page = sign_up(new_page(browser, live_app[1]), "animator")
    page.goto("/exercises/permute-3d")
    page.click("#predict-skip", timeout=VERDICT_TIMEOUT)
    # The examples show the expected output for every visible case.
    page.wait_for_selector("#examples .expected-example", timeout=VERDICT_TIMEOUT)
    assert "shape (4, 2, 3)" in page.locator("#examples .expected-example .shape").first.text_content()
    page.click("#examples button.play")
    anim = page.locator('#examples .anim[data-state="done"]')
    anim.wait_for(timeout=20_000)
    # Final state: each output value has the colour of the same value in the input.
    colours = anim.locator(".anim-out td.cell").evaluate_all(
        "cs => cs.map(c => c.textContent + '=' + getComputedStyle(c).backgroundColor)")
    inputs = anim.locator(".stage > figure").first.locator("td.cell").evaluate_all(
        "cs => cs.map(c => c.textContent + '=' + getComputedStyle(c).backgroundColor)")
    assert sorted(colours) == sorted(inputs) and len(colours) == 24
    assert anim.locator(".fly").count() == 0  # the flying copies are gone
    seats = anim.locator(".seats-out .dim-chip").all_text_contents()
    assert [s.split("·")[1].strip() for s in seats] == ["4", "2", "3"]  # the sizes travelled with their dims
    memory = anim.locator(".memory").text_content()
    assert "strides (12, 4, 1)" in memory and "strides (1, 12, 4)" in memory and "view(-1)" in memory
    words = anim.locator(".anim-text").text_content()
    assert "dim 2 (size 4) moves to seat 0" in words
    shot(page, artifacts, "animation-3d")
    # 4-D: swapaxes(1, 3) on (2, 3, 4, 5), 120 values in flight.
    page.goto("/exercises/swap-axes")
    page.click("#predict-skip", timeout=VERDICT_TIMEOUT)
    page.wait_for_selector("#examples button.play", timeout=VERDICT_TIMEOUT)
    page.click("#examples button.play")
    four = page.locator('#examples .anim[data-state="done"]')
    four.wait_for(timeout=30_000)
    assert [s.split("·")[1].strip() for s in four.locator(".seats-out .dim-chip").all_text_contents()] == ["2", "5", "4", "3"]
    assert four.locator(".anim-out td.cell").count() == 120 and four.locator(".fly").count() == 0
    # prefers-reduced-motion: no movement, straight to the final state.
    still = new_page(page.context.browser, live_app[1], reduced_motion="reduce")
    sign_in(still, "animator", PASSWORD)
    still.goto("/exercises/permute-2d")
    still.click("#predict-skip", timeout=VERDICT_TIMEOUT)
    still.wait_for_selector("#examples button.play", timeout=VERDICT_TIMEOUT)
    still.click("#examples button.play")
    assert still.locator("#examples .anim").get_attribute("data-state") == "done"
    assert still.locator("#examples .fly").count() == 0


def test_draft_and_last_verdict_survive_reload_and_device(browser: Any, live_app: tuple[Any, str]) -> None:
    page = sign_up(new_page(browser, live_app[1]), "drafter")
    page.goto("/exercises/transpose-0-1")
    page.click("#predict-skip", timeout=VERDICT_TIMEOUT)
    draft = "import torch\n\n\ndef solve(x):\n    # my draft\n    return x\n"
    set_code(page, draft)
    page.wait_for_selector('#draft-status[data-saved="1"]')
    page.reload()
    page.wait_for_selector(".cm-content")
    assert "# my draft" in page.locator(".cm-content").inner_text()
    assert page.locator("#predict").is_hidden()  # a learner with a draft is past the prediction step
    page.click("#submit")
    page.wait_for_selector('.verdict[data-passed="0"]', timeout=VERDICT_TIMEOUT)
    # Another device (a fresh browser context) resumes the same code and the last verdict.
    other = new_page(browser, live_app[1])
    sign_in(other, "drafter", PASSWORD)
    other.goto("/exercises/transpose-0-1")
    other.wait_for_selector('.verdict[data-passed="0"]')
    assert "# my draft" in other.locator(".cm-content").inner_text()
    assert "Your last verdict" in other.locator(".verdict-head").text_content()


def test_next_exercise_after_a_pass(browser: Any, live_app: tuple[Any, str]) -> None:
    page = sign_up(new_page(browser, live_app[1]), "nexter")
    page.goto("/exercises/permute-2d")
    page.click("#predict-skip", timeout=VERDICT_TIMEOUT)
    assert page.locator("#next-link").count() == 0
    set_code(page, PERMUTE)
    page.click("#submit")
    page.wait_for_selector('.verdict[data-passed="1"]', timeout=VERDICT_TIMEOUT)
    link = page.locator("#next-link")
    assert link.get_attribute("href") == "/exercises/permute-shape-quiz"  # the next in the basics track
    link.click()
    page.wait_for_url(re.compile(r"/exercises/permute-shape-quiz$"))
    page.go_back()
    page.wait_for_selector("#next-link")  # still offered after a reload (the last verdict is a pass)


def test_phone_layout_at_390px(browser: Any, live_app: tuple[Any, str], artifacts: Path) -> None:
    page = sign_up(new_page(browser, live_app[1], width=390, height=844), "phone13")
    bar = page.locator(".topbar").bounding_box()
    assert bar is not None and bar["height"] < 56, bar  # one line
    tops = page.locator(".topbar .brand, .topbar .nav > a, .topbar .nav > form").evaluate_all(
        "ns => ns.map(n => Math.round(n.getBoundingClientRect().top))")
    assert max(tops) - min(tops) < 12, tops
    fits = "n => n.scrollWidth <= n.clientWidth + 1"
    assert page.locator(".topbar .nav").evaluate(fits)  # nothing hidden off the edge either
    page.goto("/exercises/qkv-split")
    # Its output is a tuple: no position to predict, so predict mode steps aside and the editor opens.
    page.locator("#predict").wait_for(state="hidden", timeout=VERDICT_TIMEOUT)
    assert page.locator("#answer-box").evaluate("n => n.inert") is False
    page.wait_for_selector("#examples table.grid")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    cue = page.locator("#examples .tensor.overflows .scroll-cue")
    assert cue.count() >= 1 and cue.first.is_visible()
    # A 4-D verdict: slices fold away, the differing ones open.
    page.goto("/exercises/swap-axes")
    page.click("#predict-skip", timeout=VERDICT_TIMEOUT)
    # Right for the first batch item, wrong (flipped) for the second: only x[1, ...] slices differ.
    set_code(page, "import torch\n\n\ndef solve(x):\n    y = x.swapaxes(1, 3).clone()\n"
                   "    y[1] = y[1].flip(0)\n    return y\n")
    page.click("#submit")
    page.wait_for_selector('.verdict[data-passed="0"]', timeout=VERDICT_TIMEOUT)
    yours = page.locator("#result .yours details.slice")
    assert yours.count() >= 2
    states = yours.evaluate_all("ds => ds.map(d => [d.open, d.classList.contains('has-diff')])")
    assert any(o for o, _ in states) and all(o == diff for o, diff in states), states
    shot(page, artifacts, "phone-4d-verdict")
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height < 8390, height
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def _extra_exercises(root: Path, n: int) -> None:
    track = root / "extra"
    track.mkdir()
    (track / "_track.yaml").write_text('title: {en: "Extra drills", ja: "追加ドリル"}\norder: 9\n')
    for i in range(n):
        (track / f"drill-{i:02d}.yaml").write_text(
            f"id: drill-{i:02d}\nkind: shape\nframework: torch\n"
            f'title: {{en: "Drill {i}", ja: "ドリル {i}"}}\ndifficulty: 1\ntags: [shape]\norder: {i + 1}\n'
            f'prompt: {{en: "Shape of `torch.zeros({i + 1}, 2).T`?", ja: "`torch.zeros({i + 1}, 2).T` の形状は?"}}\n'
            f"answer: [2, {i + 1}]\n"
            f'explanation: {{en: "`.T` swaps the two sizes.", ja: "`.T` は2つのサイズを入れ替えます。"}}\n')


def test_instructor_matrix_at_76_plus_exercises(browser: Any, tmp_path: Path, artifacts: Path) -> None:
    exercises = tmp_path / "exercises"
    shutil.copytree(REPO / "exercises", exercises)
    _extra_exercises(exercises, 31)
    with serve({"KIWAME_INSTANCE_DIR": str(tmp_path / "instance"), "KIWAME_EXERCISES_DIR": str(exercises)}) as (app, base):
        with app.app_context():
            from service.services import catalog, progress, users
            from service.services.runtime import runtime

            assert len(catalog.exercises(runtime().catalog)) >= 76
            users.create_user("prof", "instructor", "prof-pass-13")
            from datetime import UTC, datetime

            from service.persistence import db

            for k in range(25):
                uid = users.create_user(f"student{k:02d}", "learner", "pass-pass-13").user.id
                progress.record_attempt(uid, "drill-03", 1.0, True, datetime.now(UTC))
            db.session.commit()
        page = new_page(browser, base, height=700)
        sign_in(page, "prof", "prof-pass-13")
        page.goto("/instructor/")
        heads = page.locator("#class-grid th.track-head")
        assert "Extra drills" in heads.all_text_contents()
        assert page.locator("#class-grid th.ex-head").count() >= 76
        assert "Drill 3" in page.locator('#class-grid th.ex-head[data-exercise="drill-03"]').text_content()
        # Sticky: after scrolling the matrix both ways, the headers and the learner column stay in view.
        wrap = page.locator(".matrix-wrap")
        wrap.evaluate("w => { w.scrollTop = 400; w.scrollLeft = 3000; }")
        box = wrap.bounding_box()
        head = page.locator('#class-grid th.ex-head[data-exercise="drill-03"]').bounding_box()
        name = page.locator('tr[data-learner="student20"] th.sticky-col').bounding_box()
        assert abs(head["y"] - (box["y"] + 34)) < 12, (head, box)
        assert abs(name["x"] - box["x"]) < 4, (name, box)
        shot(page, artifacts, "instructor-matrix-76")
        page.fill("#learner-filter", "student1")
        page.select_option("#track", "extra")
        page.click(".filters button[type=submit]")
        page.wait_for_url(re.compile(r"learner=student1"))
        rows = page.locator("#class-grid tbody tr").evaluate_all("rs => rs.map(r => r.dataset.learner)")
        assert rows == [f"student1{k}" for k in range(10)]
        assert page.locator("#class-grid th.ex-head").count() == 31
        assert axe_violations(page) == []
        # On a phone, the staff's top bar fits on one line too (catalog and tokens move into the page).
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto("/instructor/")
        assert page.locator(".topbar").bounding_box()["height"] < 56
        assert page.locator(".topbar .nav").evaluate("n => n.scrollWidth <= n.clientWidth + 1")
        assert page.locator("main .phone-only a").count() == 2


def test_axe_finds_no_violations_on_any_page(browser: Any, live_app: tuple[Any, str]) -> None:
    app, base = live_app
    with app.app_context():
        from service.services import submissions, users

        users.create_user("axeteacher", "instructor", "teach-pass-axe")
        uid = users.create_user("axelearner", "learner", PASSWORD).user.id
        sub = submissions.submit(submissions.SubmitRequest(uid, "permute-3d", source="web",
                                                           code="def solve(x):\n    return x.permute(1, 2, 0)\n"))
        submissions.wait_for(sub.id, 60, viewer_id=uid, staff=False)
    visitor = new_page(browser, base)
    found: dict[str, list[str]] = {}
    for path in ("/", "/signin", "/signup", "/no-such-page"):
        visitor.goto(path)
        found[path] = axe_violations(visitor)
    learner = new_page(browser, base)
    sign_in(learner, "axelearner", PASSWORD)
    for path in ("/", "/progress", "/exercises/permute-3d", "/exercises/permute-3d/history",
                 "/exercises/permute-shape-quiz", "/exercises/stride-quiz", "/exercises/permute-2d?mode=predict",
                 "/exercises/np100-sum-of-products", "/exercises/np100-sum-of-products/history"):
        learner.goto(path)
        learner.wait_for_load_state("networkidle")
        found[path] = axe_violations(learner)
    learner.goto("/exercises/permute-3d")
    learner.wait_for_selector("#examples button.play", timeout=VERDICT_TIMEOUT)
    learner.click("#examples button.play")
    learner.wait_for_selector('#examples .anim[data-state="done"]')
    found["animation"] = axe_violations(learner)
    staff = new_page(browser, base)
    sign_in(staff, "axeteacher", "teach-pass-axe")
    for path in ("/instructor/", "/instructor/exercises/permute-3d", f"/instructor/learners/{uid}",
                 f"/instructor/submissions/{sub.id}", "/instructor/catalog", "/instructor/tokens"):
        staff.goto(path)
        staff.wait_for_load_state("networkidle")
        found[path] = axe_violations(staff)
    assert {path: v for path, v in found.items() if v} == {}
    # The instructor sees the learner's grids, and hidden cases carry the same numbers for both (1, 2, 3).
    staff.goto(f"/instructor/submissions/{sub.id}")
    titles = staff.locator("#result .case-title").all_text_contents()
    assert staff.locator("#result .yours table.grid").count() >= 1
    learner.goto("/exercises/permute-3d")
    learner.wait_for_selector("#result .case-title")
    assert learner.locator("#result .case-title").all_text_contents() == titles
    hidden = [t for t in titles if t.startswith("Hidden case")]
    assert hidden == [f"Hidden case {k}" for k in range(1, len(hidden) + 1)] and hidden

"""The four browser flows of issue 5 (one test, in order: they share a learner, like a real class) and more."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

LEARNER, PASSWORD = "learner1", "s3cret-pass"
FIRST = "permute-2d"
RESHAPE = "import torch\n\n\ndef solve(x):\n    return x.reshape(3, 2)\n"
PERMUTE = "import torch\n\n\ndef solve(x):\n    return x.permute(1, 0)\n"
LOOP = "def solve(x):\n    while True:\n        pass\n"
VERDICT_TIMEOUT = 60_000  # ms: the first grading also starts the sandbox pool


@pytest.fixture()
def learner(browser: Any, live_app: tuple[Any, str]) -> Any:
    context = browser.new_context(base_url=live_app[1], locale="en-US", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.js_errors = errors
    yield page
    context.close()


@pytest.fixture()
def fresh(learner: Any, request: pytest.FixtureRequest) -> Any:
    """A page signed in as a new learner of its own (tests below do not depend on the flows' state)."""
    learner.goto("/signup")
    learner.fill("#username", re.sub(r"[^A-Za-z0-9]", "", request.node.name)[-40:])
    learner.fill("#password", PASSWORD)
    learner.click("button[type=submit]")
    learner.wait_for_url(re.compile(r"/$"))
    return learner


def test_issue5_flows_in_order(learner: Any, browser: Any, live_app: tuple[Any, str], artifacts: Path,
                               tmp_path: Path) -> None:
    # One test, because each flow builds on the previous one (and xdist may split separate tests).
    flow_1_signup_fail_with_reshape_then_pass_with_permute(learner, artifacts)
    flow_2_switch_to_japanese(learner, artifacts)
    flow_3_instructor_sees_result_and_downloads_csv(browser, live_app, artifacts, tmp_path)
    flow_4_infinite_loop_times_out_and_page_stays_usable(learner, artifacts)


def set_code(page: Any, code: str) -> None:
    if page.locator("#predict").is_visible():  # new learners start in predict mode (issue 13): skip it here
        page.click("#predict-skip", timeout=VERDICT_TIMEOUT)
    editor = page.locator(".cm-content")
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(code)  # one input event: no auto-indent or bracket closing on the way


def shot(page: Any, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


def flow_1_signup_fail_with_reshape_then_pass_with_permute(learner: Any, artifacts: Path) -> None:
    page = learner
    page.goto("/signup")
    page.fill("#username", LEARNER)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))
    shot(page, artifacts, "exercise-list-new")
    page.click(f'li[data-exercise="{FIRST}"] a.title')
    page.wait_for_selector("#examples table.grid")
    cells = page.locator("#examples .side > figure:first-child td.cell").all_text_contents()
    assert cells == ["1", "2", "3", "4", "5", "6"]
    assert "shape (2, 3)" in page.locator("#examples .shape").first.text_content()
    assert page.locator(".cm-lineNumbers").count() == 1 and "def solve" in page.locator(".cm-content").inner_text()
    shot(page, artifacts, "exercise-page")

    set_code(page, RESHAPE)
    page.keyboard.press("Control+Enter")  # the keyboard path; the button is used below
    verdict = page.wait_for_selector(".verdict", timeout=VERDICT_TIMEOUT)
    assert verdict.get_attribute("data-passed") == "0"
    diff = page.locator("#result .yours td.cell.diff")
    assert diff.count() == 4  # reshape(3,2) vs permute: 1 and 6 sit in the same place, 4 cells differ
    assert page.locator("#result .expected td.cell").all_text_contents() == ["1", "4", "2", "5", "3", "6"]
    hints = " ".join(page.locator("#result .diag").all_text_contents())
    assert "permute" in hints and "reshape" in hints
    assert page.locator('#result .diag[data-code="reshape_instead_of_permute"] .hint').count() == 1
    shot(page, artifacts, "verdict-reshape-diff")

    page.check("#picture")
    colours = page.locator("#result .yours td.cell.pic").evaluate_all(
        "cells => cells.map(c => c.textContent + ':' + getComputedStyle(c).backgroundColor)")
    inputs = page.locator("#result .side > figure").first.locator("td.cell.pic").evaluate_all(
        "cells => cells.map(c => c.textContent + ':' + getComputedStyle(c).backgroundColor)")
    assert sorted(colours) == sorted(inputs) and len(set(c.split(":")[1] for c in inputs)) == 6
    shot(page, artifacts, "picture-it")
    page.uncheck("#picture")

    set_code(page, PERMUTE)
    page.click("#submit")
    page.wait_for_selector('.verdict[data-passed="1"]', timeout=VERDICT_TIMEOUT)
    assert page.locator("#ex-state").get_attribute("class").endswith("state-solved")
    shot(page, artifacts, "verdict-pass")
    page.goto("/")
    assert "state-solved" in page.locator(f'li[data-exercise="{FIRST}"] .state').get_attribute("class")
    assert not [e for e in page.js_errors if "Content Security Policy" in e], page.js_errors


def flow_2_switch_to_japanese(learner: Any, artifacts: Path) -> None:
    page = learner
    page.goto("/")
    page.select_option("#lang-select", "ja")
    page.wait_for_selector('html[lang="ja"]')
    assert page.locator("nav").get_by_text("演習", exact=True).count() == 1
    assert "正解" in page.locator(f'li[data-exercise="{FIRST}"] .state').text_content()
    page.click(f'li[data-exercise="{FIRST}"] a.title')
    page.wait_for_selector("#examples table.grid")
    assert "permute(1, 0) で転置する" in page.locator("h1").text_content()
    assert "2行3列" in page.locator(".prompt").text_content()
    assert page.locator("#submit").text_content() == "提出"
    assert "次元 1" in page.locator("#examples .axis-col").first.text_content()
    shot(page, artifacts, "exercise-ja")
    # Remembered: a reload (and the stored locale) keep Japanese even though the browser asks for English.
    page.reload()
    assert page.locator("html").get_attribute("lang") == "ja"


def flow_3_instructor_sees_result_and_downloads_csv(browser: Any, live_app: tuple[Any, str], artifacts: Path,
                                                   tmp_path: Path) -> None:
    app, base = live_app
    with app.app_context():
        from service.services import submissions, users

        users.create_user("teacher", "instructor", "teach-pass-1")
        # Two more learners graded through the real pipeline, so the grid has rows to compare.
        for name, code in (("aiko", RESHAPE), ("ben", PERMUTE)):
            uid = users.create_user(name, "learner", "pass-pass-1").user.id
            sub = submissions.submit(submissions.SubmitRequest(uid, FIRST, code=code, source="web"))
            submissions.wait_for(sub.id, 30, viewer_id=uid, staff=False)
    context = browser.new_context(base_url=base, locale="en-US", accept_downloads=True,
                                  viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto("/signin")
    page.fill("#username", "teacher")
    page.fill("#password", "teach-pass-1")
    page.click("button[type=submit]")
    page.click("nav >> text=Class")
    row = page.locator(f'tr[data-learner="{LEARNER}"]')
    cell = row.locator(f'td[data-exercise="{FIRST}"]')
    assert "solved" in cell.get_attribute("class") and "100%" in cell.text_content()
    shot(page, artifacts, "instructor-overview")
    with page.expect_download() as info:
        page.click("#csv")
    target = tmp_path / "grades.csv"
    info.value.save_as(str(target))
    text = target.read_text()
    header, *rows = text.strip().splitlines()
    assert FIRST in header.split(",")
    column = header.split(",").index(FIRST)
    best = {r.split(",")[0]: r.split(",")[column] for r in rows}
    assert best[LEARNER] == "1.00" and best["ben"] == "1.00" and best["aiko"] == "0.00"
    page.click(f'a[href="/instructor/exercises/{FIRST}"]')
    assert "reshape_instead_of_permute" in page.locator("#common").text_content()  # what the class gets wrong
    shot(page, artifacts, "instructor-exercise")
    context.close()


def flow_4_infinite_loop_times_out_and_page_stays_usable(learner: Any, artifacts: Path) -> None:
    page = learner
    page.goto(f"/exercises/{FIRST}")
    page.wait_for_selector(".cm-content")
    set_code(page, LOOP)
    page.click("#submit")
    assert page.locator("#spinner").get_attribute("data-on") == "1"
    page.wait_for_selector('#result .diag[data-code="timeout"]', timeout=VERDICT_TIMEOUT)
    assert page.locator(".verdict").get_attribute("data-passed") == "0"
    shot(page, artifacts, "verdict-timeout")
    assert page.locator("#submit").is_enabled()
    set_code(page, PERMUTE)
    page.click("#submit")
    page.wait_for_selector('.verdict[data-passed="1"]', timeout=VERDICT_TIMEOUT)


def test_phone_sized_screen(browser: Any, live_app: tuple[Any, str], artifacts: Path) -> None:
    context = browser.new_context(base_url=live_app[1], viewport={"width": 390, "height": 844}, locale="en-US")
    page = context.new_page()
    page.goto("/signup")
    page.fill("#username", "phoneuser")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"/exercises/{FIRST}")
    page.wait_for_selector("#examples table.grid")
    width = page.evaluate("document.documentElement.scrollWidth")
    wide = page.evaluate("""() => [...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > 392).slice(0, 5)
        .map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))""")
    assert width <= 390, f"page scrolls sideways on a phone ({width}px): {wide}"
    # One column on a phone: the editor sits under the prompt, using the full width.
    page.locator("#editor").scroll_into_view_if_needed()  # CodeMirror measures lines once it is visible
    page.wait_for_timeout(100)
    box = page.locator("#editor").bounding_box()
    assert box is not None and box["x"] < 40 and box["width"] > 300
    shot(page, artifacts, "phone")
    context.close()


def test_quizzes_show_the_explanation_after_answering(fresh: Any, artifacts: Path) -> None:
    page = fresh
    page.goto("/exercises/permute-shape-quiz")
    page.fill("#shape-answer", "(4, 7)")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector('.verdict[data-passed="0"]', timeout=VERDICT_TIMEOUT)
    page.fill("#shape-answer", "7, 4")
    page.click("#submit")
    page.wait_for_selector('.verdict[data-passed="1"]', timeout=VERDICT_TIMEOUT)
    assert "(7, 4)" in page.locator(".explanation").text_content()
    shot(page, artifacts, "quiz-shape")
    page.goto("/exercises/stride-quiz")
    choices = page.locator('input[name="choice"]')
    assert choices.count() >= 2
    choices.first.check()
    page.click("#submit")
    page.wait_for_selector(".verdict", timeout=VERDICT_TIMEOUT)
    assert page.locator(".explanation").count() == 1


def test_wrong_axis_order_names_both_permutations_on_3d_slices(fresh: Any, artifacts: Path) -> None:
    page = fresh
    page.goto("/exercises/permute-3d")
    page.wait_for_selector("#examples .slice")
    assert page.locator("#examples .slice-label").first.text_content() == "x[0, :, :]"
    set_code(page, "import torch\n\n\ndef solve(x):\n    return x.permute(1, 2, 0)\n")
    page.click("#submit")
    diag = page.wait_for_selector('#result .diag[data-code="wrong_axis_order"]', timeout=VERDICT_TIMEOUT)
    perms = [p.text_content() for p in diag.query_selector_all(".perm")]
    assert perms == ["(1, 2, 0)", "(2, 0, 1)"]
    assert page.locator("#result .yours .slice").count() >= 2
    page.check("#picture")
    shot(page, artifacts, "verdict-3d-axis-order")

"""Issue 15 in a real browser: the torch/numpy switch changes the starter, keeps a draft per framework, and the
pick is graded (a numpy-only answer passes once numpy is picked)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser.test_flows import VERDICT_TIMEOUT, set_code, shot
from tests.browser.test_round2 import new_page, sign_up

pytestmark = pytest.mark.browser
# numpy-only: ndarray.transpose takes the whole permutation; Tensor.transpose swaps two axes (a TypeError here)
NUMPY_ANSWER = ("import numpy as np\n\n\ndef solve(x):\n    b, h, w, c = x.shape\n"
                "    return x.transpose(1, 0, 2, 3).reshape(h, b * w, c)\n")


def editor_text(page: Any) -> str:
    return str(page.locator(".cm-content").inner_text())


def test_switch_to_numpy_and_pass_with_a_numpy_answer(browser: Any, live_app: tuple[Any, str],
                                                      artifacts: Path) -> None:
    page = sign_up(new_page(browser, live_app[1]), "switcher")
    page.goto("/exercises/einops-batch-into-width")
    group = page.get_by_role("group", name="Answer in")
    torch, numpy = group.get_by_role("radio", name="PyTorch"), group.get_by_role("radio", name="NumPy")
    assert torch.is_checked() and not numpy.is_checked()
    set_code(page, NUMPY_ANSWER)
    page.click("#submit")  # graded in torch (the first), where the numpy-only answer fails
    page.wait_for_selector('.verdict[data-passed="0"]', timeout=VERDICT_TIMEOUT)
    # Keyboard: focus the checked radio and move to the next one with an arrow key, as in any radio group.
    torch.focus()
    page.keyboard.press("ArrowRight")
    assert numpy.is_checked()
    assert "from einops import rearrange" in editor_text(page)  # this framework's (shared) starter, not the draft
    assert page.locator("#ex-framework").text_content() == "numpy"
    page.wait_for_selector("#examples .expected-example")  # the examples are drawn again, now as numpy arrays
    set_code(page, NUMPY_ANSWER)
    page.click("#submit")
    page.wait_for_selector('.verdict[data-passed="1"]', timeout=VERDICT_TIMEOUT)
    shot(page, artifacts, "framework-switch-numpy-passed")
    page.goto("/exercises/einops-batch-into-width/history")
    cells = [page.get_by_role("cell", name=fw, exact=True).count() for fw in ("numpy", "torch")]
    assert cells == [1, 1]  # the history's Framework column: one submission in each
    assert page.js_errors == []


def test_the_starter_follows_the_switch_and_each_framework_keeps_its_draft(browser: Any,
                                                                           live_app: tuple[Any, str]) -> None:
    page = sign_up(new_page(browser, live_app[1]), "drafter2")
    page.goto("/exercises/np100-sum-of-products")
    page.click("#predict-skip", timeout=VERDICT_TIMEOUT)  # a new learner starts in predict mode
    assert "import numpy as np" in editor_text(page)
    page.get_by_role("radio", name="PyTorch").check()
    assert "import torch" in editor_text(page) and "import numpy" not in editor_text(page)
    set_code(page, "import torch\n\n\ndef solve(m, v):\n    # torch draft\n    return m\n")
    page.wait_for_selector('#draft-status[data-saved="1"]')
    page.get_by_role("radio", name="NumPy").check()
    assert "import numpy as np" in editor_text(page) and "# torch draft" not in editor_text(page)
    page.get_by_role("radio", name="PyTorch").check()
    assert "# torch draft" in editor_text(page)
    page.reload()  # the drafts live on the server: the torch one is still there, the numpy starter too
    page.wait_for_selector(".cm-content")
    page.get_by_role("radio", name="PyTorch").check()
    assert "# torch draft" in editor_text(page)
    page.get_by_role("radio", name="NumPy").check()
    assert "import numpy as np" in editor_text(page)
    assert page.js_errors == []

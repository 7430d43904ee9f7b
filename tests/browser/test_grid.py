"""grid.js in a real browser: 3-D/4-D slices, elision of large tensors, diff and colour modes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser
GRID_JS = Path(__file__).resolve().parents[2] / "service" / "web" / "static" / "grid.js"


@pytest.fixture(scope="module")
def page(browser: Any) -> Any:
    context = browser.new_context()
    page = context.new_page()
    page.set_content("<!doctype html><html><body><div id='out'></div></body></html>")
    page.add_script_tag(path=str(GRID_JS))
    yield page
    context.close()


def render(page: Any, tensor: dict[str, Any], **opts: Any) -> dict[str, Any]:
    return page.evaluate("""([t, o]) => {
        if (o.colourFrom) o.colours = KGrid.colourMap(o.colourFrom);
        const fig = KGrid.render(t, o);
        document.getElementById('out').replaceChildren(fig);
        return {
          slices: [...fig.querySelectorAll('.slice-label')].map(n => n.textContent),
          cells: [...fig.querySelectorAll('td.cell')].map(n => n.textContent),
          gaps: fig.querySelectorAll('td.gap').length,
          diff: Number(fig.dataset.diffCells),
          hues: [...fig.querySelectorAll('td.cell.pic')].map(n => n.style.getPropertyValue('--hue')),
          shapeDiffers: fig.classList.contains('shape-differs'),
          html: fig.innerHTML,
        };
    }""", [tensor, opts])


def nested(shape: tuple[int, ...], start: int = 0) -> Any:
    if len(shape) == 1:
        return list(range(start, start + shape[0]))
    step = 1
    for n in shape[1:]:
        step *= n
    return [nested(shape[1:], start + i * step) for i in range(shape[0])]


def test_3d_tensor_is_drawn_as_labelled_slices(page: Any) -> None:
    out = render(page, {"shape": [2, 2, 3], "dtype": "int64", "values": nested((2, 2, 3))}, name="x")
    assert out["slices"] == ["x[0, :, :]", "x[1, :, :]"]
    assert out["cells"] == [str(i) for i in range(12)]


def test_4d_tensor_nests_slices(page: Any) -> None:
    out = render(page, {"shape": [2, 2, 1, 2], "values": nested((2, 2, 1, 2))}, name="t")
    assert out["slices"] == ["t[0, :, :, :]", "t[0, 0, :, :]", "t[0, 1, :, :]",
                             "t[1, :, :, :]", "t[1, 0, :, :]", "t[1, 1, :, :]"]
    assert len(out["cells"]) == 8


def test_large_axes_are_elided_with_both_ends_kept(page: Any) -> None:
    out = render(page, {"shape": [30, 30], "values": nested((30, 30))})
    assert len(out["cells"]) == 8 * 8  # 4 first + 4 last on each axis
    assert out["cells"][0] == "0" and out["cells"][-1] == str(30 * 30 - 1)
    assert out["gaps"] > 0


def test_diff_marks_exactly_the_differing_cells(page: Any) -> None:
    expected = {"shape": [3, 2], "values": [[1, 4], [2, 5], [3, 6]]}
    out = render(page, {"shape": [3, 2], "values": [[1, 2], [3, 4], [5, 6]]}, against=expected)
    assert out["diff"] == 4
    wrong_shape = render(page, {"shape": [2, 3], "values": [[1, 2, 3], [4, 5, 6]]}, against=expected)
    assert wrong_shape["diff"] == 0 and wrong_shape["shapeDiffers"]


def test_picture_it_gives_each_source_value_its_own_colour_wherever_it_lands(page: Any) -> None:
    source = {"shape": [2, 3], "values": [[1, 2, 3], [4, 5, 6]]}
    before = render(page, source, colourFrom=source)
    after = render(page, {"shape": [3, 2], "values": [[1, 4], [2, 5], [3, 6]]}, colourFrom=source)
    hue = dict(zip(before["cells"], before["hues"], strict=True))
    assert len(set(hue.values())) == 6
    assert after["hues"] == [hue[c] for c in after["cells"]]


def test_values_are_text_never_markup(page: Any) -> None:
    out = render(page, {"shape": [1], "values": ["<img src=x onerror=alert(1)>"]})
    assert "<img" not in out["html"] and "&lt;img" in out["html"]

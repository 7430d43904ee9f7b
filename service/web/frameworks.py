"""The exercise page's torch/numpy switch: which framework it opens in, and each one's starter and draft."""

from __future__ import annotations

from typing import Any

from service.domain import Exercise
from service.errors import Invalid
from service.services import display
from service.services import drafts as drafts_service

LABELS = {"torch": "PyTorch", "numpy": "NumPy"}  # product names: the same in English and Japanese


def pick(ex: Exercise, wanted: object) -> str | None:
    """``wanted`` when the exercise offers it; None for anything else (the first framework is then meant)."""
    return wanted if isinstance(wanted, str) and wanted in ex.offered else None


def opening(ex: Exercise, asked: object, last: str | None) -> str:
    """The framework the page opens in: the one asked for (``?framework=``), else the last verdict's, else the first."""
    return pick(ex, asked) or pick(ex, last) or ex.framework


def switch(ex: Exercise, user_id: int, lang: str, current: str, code: str | None) -> list[dict[str, Any]]:
    """Per offered framework: its label, starter and the learner's draft (the current one gets ``code``).
    Empty for an exercise offered in one framework: the page then shows no switch."""
    if ex.kind != "code" or len(ex.offered) < 2:
        return []
    out = []
    for fw in ex.offered:
        mine = code if fw == current else drafts_service.resume(user_id, ex.id, fw, first=fw == ex.framework).code
        mine_ex = ex.for_framework(fw)
        out.append({"name": fw, "label": LABELS.get(fw, fw), "starter": mine_ex.starter_for(lang), "code": mine,
                    "cases": display.visible_inputs(mine_ex)})
    return out


def draft_framework(ex: Exercise, wanted: object) -> str | None:
    """The draft key's framework part: None for the first framework (its drafts keep the plain id).
    One the exercise does not offer is refused rather than filed under another framework's draft."""
    if wanted is None:
        return None
    fw = pick(ex, wanted)
    if fw is None:
        raise Invalid(f"{ex.id} is offered in {', '.join(ex.offered)}, not {wanted!r}", code="framework_not_offered")
    return fw if fw != ex.framework else None

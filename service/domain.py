"""Plain, framework-free value objects shared by every layer (no Flask, SQLAlchemy or torch here)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["code", "shape", "choice"]
Framework = Literal["torch", "numpy"]
Lang = Literal["en", "ja"]
LANGS: tuple[Lang, ...] = ("en", "ja")
SUBMISSION_STATUSES: tuple[str, ...] = ("queued", "running", "graded", "error")
FINAL_STATUSES: tuple[str, ...] = ("graded", "error")  # a submission in one of these is never graded again


@dataclass(frozen=True)
class Text:
    """A bilingual string; every learner-facing text exists in English and Japanese."""

    en: str
    ja: str

    def get(self, lang: str) -> str:
        return self.ja if lang == "ja" else self.en

    def to_dict(self) -> dict[str, str]:
        return {"en": self.en, "ja": self.ja}


@dataclass(frozen=True)
class Case:
    """One test case. ``args`` keeps the raw YAML spec of each argument (see docs/exercise-format.md)."""

    name: str
    visible: bool
    args: Mapping[str, Any]


@dataclass(frozen=True)
class CheckSpec:
    """What the comparator checks beyond shape and values (the YAML ``check:`` block)."""

    dtype: bool = True
    values: Literal["exact", "close"] = "exact"
    rtol: float | None = None  # None: torch.testing.assert_close's default for the dtype
    atol: float | None = None
    view_of_input: bool = False
    contiguous: bool | None = None
    channels_last: bool | None = None
    input_unchanged: bool = True
    device: bool = True


@dataclass(frozen=True)
class Rules:
    """Names the submission must not / must use, checked on the syntax tree (a learning aid, not security)."""

    forbid: tuple[str, ...] = ()
    require: tuple[str, ...] = ()


@dataclass(frozen=True)
class Limits:
    time_s: float = 2.0
    memory_mb: int = 1024


@dataclass(frozen=True)
class Exercise:
    """One validated exercise, exactly as loaded from ``exercises/<track>/<id>.yaml``."""

    id: str
    kind: Kind
    framework: Framework
    track: str
    title: Text
    prompt: Text
    difficulty: int
    tags: tuple[str, ...]
    content_hash: str  # sha256 of the file's bytes: the exercise version
    source_path: str = ""
    # code exercises
    entry: str = "solve"
    starter: str = ""
    solution: str = ""
    cases: tuple[Case, ...] = ()
    check: CheckSpec = field(default_factory=CheckSpec)
    rules: Rules = field(default_factory=Rules)
    hints: Mapping[str, Text] = field(default_factory=dict)  # keyed by diagnosis code
    limits: Limits = field(default_factory=Limits)
    devices: tuple[str, ...] = ("cpu",)
    allow: Mapping[str, str] = field(default_factory=dict)  # lint waivers: candidate -> reason
    lint_input: str = ""  # the argument the weak-test linter rearranges ("" = the first array argument)
    # quiz exercises
    answer: Any = None  # shape: list[int]; choice: int or list[int]
    choices: tuple[Text, ...] = ()
    explanation: Text | None = None
    order: int = 0  # position within its track (from the YAML ``order`` key, else file name order)

    @property
    def visible_cases(self) -> tuple[Case, ...]:
        return tuple(c for c in self.cases if c.visible)


@dataclass(frozen=True)
class Submission:
    """What a learner handed in: code for ``code`` exercises, an answer for quiz kinds."""

    exercise_id: str
    code: str | None = None
    answer: Any = None

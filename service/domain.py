"""Plain, framework-free value objects shared by every layer (no Flask, SQLAlchemy or torch here)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
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
    salt: int | None = None  # generated cases: mixed into every random draw (None: the specs' own seeds)


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
    # Allow-list mode (issue 15): only these names/calls, plus indexing, arithmetic and comparison.
    allow: tuple[str, ...] | None = None
    max_lines: int | None = None  # code lines of the learner's functions (docstrings, comments, imports not counted)
    single_expression: bool = False  # the entry's body is one ``return <expression>``


@dataclass(frozen=True)
class Declared:
    """A known wrong answer (must fail, optionally with ``diagnosis``) or alternative (must pass)."""

    name: str
    code: str
    diagnosis: str | None = None
    framework: str | None = None  # None: the exercise's first framework


@dataclass(frozen=True)
class Generate:
    """``generate:``: ``count`` hidden cases drawn from ``args`` templates (re-seeded per case)."""

    count: int
    templates: tuple[Mapping[str, Any], ...]


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
    # authoring (issue 15)
    helpers: str = ""  # exercise-provided code: shown read-only, appended to every run, exempt from rules
    frameworks: tuple[str, ...] = ()  # every framework the exercise is offered in ((): just ``framework``)
    per_framework: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # fw -> {starter, solution}
    generate: Generate | None = None
    wrong_answers: tuple[Declared, ...] = ()
    alternatives: tuple[Declared, ...] = ()
    # the learner's seed of a per-learner variant (None: the default variant); mixed into every random input
    variant_seed: int | None = None

    @property
    def offered(self) -> tuple[str, ...]:
        return self.frameworks or (self.framework,)

    def for_framework(self, framework: str | None) -> Exercise:
        """This exercise as offered in ``framework`` (its own starter/solution); unknown: unchanged."""
        if not framework or framework == self.framework or framework not in self.offered:
            return self
        code = self.per_framework.get(framework, {})
        return replace(self, framework=framework,  # type: ignore[arg-type]
                       starter=code.get("starter", self.starter), solution=code.get("solution", self.solution))

    @property
    def visible_cases(self) -> tuple[Case, ...]:
        return tuple(c for c in self.cases if c.visible)


@dataclass(frozen=True)
class Submission:
    """What a learner handed in: code for ``code`` exercises, an answer for quiz kinds."""

    exercise_id: str
    code: str | None = None
    answer: Any = None
    framework: str | None = None  # for exercises offered in several; None: from the code's imports

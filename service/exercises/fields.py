"""Typed field readers for the exercise schema: each records an ExerciseError with the key's line on failure."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from typing import Any

from service.domain import LANGS, Text
from service.exercises.errors import ExerciseError
from service.exercises.inputs import describe
from service.exercises.yamltree import Tree, join

ID_PATTERN = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
IDENT_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
LANG_NAMES = {"en": "English", "ja": "Japanese"}
MISSING = object()


class Reader:
    """Reads one document's values by key path and collects errors instead of raising."""

    def __init__(self, file: str, tree: Tree) -> None:
        self.file = file
        self.tree = tree
        self.errors: list[ExerciseError] = []

    def error(self, path: str, message: str, severity: str = "error") -> None:
        self.errors.append(ExerciseError(self.file, self.tree.line(path), path, message,
                                         "warning" if severity == "warning" else "error"))

    def keys(self, mapping: Mapping[str, Any], path: str, known: Iterable[str]) -> None:
        """Report every key that is not in ``known``, suggesting the closest known one."""
        known = list(known)
        for key in mapping:
            if key in known:
                continue
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (expected one of: {', '.join(known)})"
            self.error(join(path, str(key)), f"unknown key {key!r}{hint}")

    def mapping(self, value: Any, path: str, what: str = "a mapping") -> dict[str, Any] | None:
        if value is MISSING:
            return None
        if not isinstance(value, dict):
            self.error(path, f"expected {what}, got {describe(value)}")
            return None
        return value

    def required(self, mapping: Mapping[str, Any], path: str, key: str, what: str) -> Any:
        if key not in mapping:
            self.error(path, f"missing required key {key!r} ({what})")
            return MISSING
        return mapping[key]

    def string(self, value: Any, path: str, *, empty: bool = False) -> str | None:
        if value is MISSING:
            return None
        if not isinstance(value, str) or (not empty and not value.strip()):
            self.error(path, f"expected a non-empty string, got {describe(value) if not isinstance(value, str) else 'an empty string'}")
            return None
        return value

    def integer(self, value: Any, path: str, low: int | None = None, high: int | None = None) -> int | None:
        if value is MISSING:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            self.error(path, f"expected an integer{_range(low, high)}, got {describe(value)}")
            return None
        if (low is not None and value < low) or (high is not None and value > high):
            self.error(path, f"expected an integer{_range(low, high)}, got {value}")
            return None
        return value

    def number(self, value: Any, path: str) -> float | None:
        if value is MISSING or value is None:
            return None
        if not isinstance(value, int | float) or isinstance(value, bool):
            self.error(path, f"expected a number or null, got {describe(value)}")
            return None
        if value < 0:
            self.error(path, f"expected a non-negative number, got {value}")
            return None
        return float(value)

    def boolean(self, value: Any, path: str, *, nullable: bool = False) -> bool | None:
        if value is MISSING or (nullable and value is None):
            return None
        if not isinstance(value, bool):
            self.error(path, f"expected true or false{' or null' if nullable else ''}, got {describe(value)}")
            return None
        return value

    def choice(self, value: Any, path: str, options: Iterable[str]) -> str | None:
        options = list(options)
        if value is MISSING:
            return None
        if value not in options:
            shown = repr(value) if isinstance(value, str) else describe(value)
            self.error(path, f"expected one of {' | '.join(options)}, got {shown}")
            return None
        return str(value)

    def string_list(self, value: Any, path: str, pattern: re.Pattern[str] | None = None,
                    what: str = "a string") -> tuple[str, ...]:
        if value is MISSING or value is None:
            return ()
        if not isinstance(value, list):
            self.error(path, f"expected a list of strings, got {describe(value)}")
            return ()
        out: list[str] = []
        for i, item in enumerate(value):
            if not isinstance(item, str) or (pattern is not None and not pattern.match(item)):
                got = repr(item) if isinstance(item, str) else describe(item)
                self.error(join(path, i), f"expected {what}, got {got}")
            else:
                out.append(item)
        return tuple(out)

    def text(self, value: Any, path: str, *, plain_ok: bool = False) -> Text | None:
        """A bilingual {en, ja} text; ``plain_ok`` also takes one string used for both languages."""
        if value is MISSING:
            return None
        if plain_ok and isinstance(value, str) and value.strip():
            return Text(en=value, ja=value)
        what = "a mapping with en and ja" + (" or one string" if plain_ok else "")
        mapping = self.mapping(value, path, what)
        if mapping is None:
            return None
        self.keys(mapping, path, LANGS)
        found: dict[str, str] = {}
        for lang in LANGS:
            if lang not in mapping:
                self.error(join(path, lang), f"missing {LANG_NAMES[lang]} translation (expected {path}.{lang}, a non-empty string)")
            else:
                text = self.string(mapping[lang], join(path, lang))
                if text is not None:
                    found[lang] = text
        return Text(**found) if len(found) == len(LANGS) else None


def _range(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f" from {low} to {high}"
    if low is not None:
        return f" >= {low}"
    return ""

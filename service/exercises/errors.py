"""The one error shape for exercise files: file, line, key and what was expected."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class ExerciseError:
    """A problem in an exercise file, rendered ``file:line: key: message`` (line is 1-based, 0 = whole file)."""

    file: str
    line: int
    key: str
    message: str
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        key = f" {self.key}:" if self.key else ""
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{where}:{key} {prefix}{self.message}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"text": str(self)}

#!/usr/bin/env python3
"""Tidy the Japanese text of exercise YAML files in place (what tests/test_exercise_texts.py checks).

- joins soft-wrapped lines of a `ja: |` paragraph or list item (a line break renders as a stray space);
- drops faux-italic `*…*` emphasis outside code;
- removes spaces after 。 and 、, uses half-width parentheses and writes counters as 「2つ」.

Usage: python scripts/fix_japanese_text.py exercises/*/*.yaml
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

CJK = re.compile(r"[\u3000-\u30ff\u3400-\u9fff\uff00-\uffef]")
PUNCT = set("。、」』）！？")
LIST_ITEM = re.compile(r"\s*([-*]|\d+\.)\s")
# The spaces around the emphasis go with it, but never a line's indentation.
ITALIC = re.compile(r"(?:(?<=\S) )?(?<![*\\])\*(?!\*)([^*\n`]+?)(?<!\*)\*(?!\*)(?: (?=\S))?")


def _joiner(a: str, b: str) -> str:
    a, b = a.rstrip(), b.lstrip()
    if a[-1] in PUNCT or (CJK.match(a[-1]) and CJK.match(b[0])):
        return ""
    return " "


def _outside_code(line: str) -> str:
    parts = line.split("`")
    for i in range(0, len(parts), 2):  # even parts lie outside inline code
        parts[i] = ITALIC.sub(lambda m: m.group(1), parts[i])
        parts[i] = re.sub(r"([。、])[ ]+(?=\S)", r"\1", parts[i])
        parts[i] = parts[i].replace("（", "(").replace("）", ")")  # the glossary's half-width parentheses
        parts[i] = re.sub(r"(?<![\d.])(\d+) つ", r"\1つ", parts[i])  # counters: 「2つ」, not 「2 つ」
    return "`".join(parts)


def _block(lines: list[str]) -> list[str]:
    out: list[str] = []
    fenced = prev_fenced = False
    for line in lines:
        text = line.strip()
        if text.startswith("```"):
            fenced = not fenced
            out.append(line)
            prev_fenced = True
            continue
        if fenced or not text or text.startswith("|") or LIST_ITEM.match(line):
            out.append(line if fenced else _outside_code(line))
            prev_fenced = False
            continue
        prev = out[-1] if out else ""
        if prev.strip() and not prev.strip().startswith("|") and not prev_fenced:
            out[-1] = prev.rstrip() + _joiner(prev, text) + _outside_code(text)
        else:
            out.append(_outside_code(line))
        prev_fenced = False
    return out


def fix(text: str) -> str:
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        m = re.match(r"^(\s*)ja: (.*)$", line)
        if not m:
            out.append(line)
            continue
        if m.group(2) != "|":
            head = line[: line.index("ja: ") + 4]
            out.append(head + _outside_code(line[len(head):]))
            continue
        out.append(line)
        indent = len(m.group(1))
        block: list[str] = []
        while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
            block.append(lines[i])
            i += 1
        tail: list[str] = []
        while block and not block[-1].strip():
            tail.insert(0, block.pop())
        out += _block(block) + tail
    return "\n".join(out)


if __name__ == "__main__":
    for name in sys.argv[1:]:
        path = Path(name)
        before = path.read_text("utf-8")
        after = fix(before)
        if after != before:
            path.write_text(after, "utf-8")
            print(f"fixed {name}")

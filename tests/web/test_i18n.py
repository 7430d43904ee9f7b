"""Every interface string exists in English and Japanese, and every key the templates and scripts use exists."""

from __future__ import annotations

import re
from pathlib import Path

from service.web import i18n

WEB = Path(__file__).resolve().parents[2] / "service" / "web"


def test_tables_have_the_same_keys_and_no_empty_strings() -> None:
    assert set(i18n.EN) == set(i18n.JA)
    assert all(v.strip() for v in [*i18n.EN.values(), *i18n.JA.values()])


def test_every_key_used_in_templates_and_scripts_is_defined() -> None:
    used: set[str] = set()
    for template in (WEB / "templates").rglob("*.html"):
        used |= set(re.findall(r"\bt\('([a-z_.]+)'\)", template.read_text()))
    for script in (WEB / "static").glob("*.js"):
        used |= set(re.findall(r'L\["([a-z_.]+)"\]', script.read_text()))
    assert used, "no keys found: the patterns are out of date"
    assert used - set(i18n.EN) == set()


def test_language_choice_order() -> None:
    assert i18n.choose([None, None], [("ja-JP", 1.0), ("en", 0.5)]) == "ja"
    assert i18n.choose([None, "en"], [("ja", 1.0)]) == "en"  # the cookie beats the header
    assert i18n.choose(["ja", "en"], []) == "ja"  # the stored locale beats the cookie
    assert i18n.choose([None], [("fr", 1.0), ("de", 0.8)]) == "en"
    assert i18n.translate("ja", "no.such.key") == "no.such.key"

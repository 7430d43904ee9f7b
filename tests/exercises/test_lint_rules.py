"""The rule-bypass lint: rules that an identity use of the required operation plus another operation can meet."""

from __future__ import annotations

from dataclasses import replace

from service.authoring.lint import lint_exercise
from service.authoring.lint_rules import bypasses
from service.domain import Rules
from service.exercises import load_catalog


def test_no_bundled_exercise_has_bypassable_rules() -> None:
    catalog = load_catalog("exercises")
    assert {ex.id: bypasses(ex) for ex in catalog if bypasses(ex)} == {}


def test_an_unrecognised_identity_is_reported_and_can_be_waived() -> None:
    base = load_catalog("exercises").get("permute-2d")
    assert base is not None
    # `flatten` has an identity form the rule checker does not recognise (flatten(0, 0)).
    weak = replace(base, rules=Rules(forbid=(), require=("flatten",)))
    assert any("flatten(0, 0)" in b for b in bypasses(weak))
    found = lint_exercise(weak, (), {})
    assert [f.candidate for f in found.findings] == ["rules_bypass"]
    assert "weak rules" in str(found.findings[0]) and "allow: {rules_bypass" in str(found.findings[0])
    waived = lint_exercise(replace(weak, allow={"rules_bypass": "flatten is only a reminder here"}), (), {})
    assert waived.findings == [] and [f.candidate for f in waived.waived] == ["rules_bypass"]

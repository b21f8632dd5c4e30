"""Each procedure carries its own gate catalogue and the check list of its retroactive validation; the engine
reads them from the version a change or bypass pinned, and versions stored without them read the preset's."""

import copy

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from emergencies.services import postincident as pi
from qms.models import Procedure
from qms.procedures import CHECK_CATALOGUE, PRESETS, ProcedureRules, validate_definition
from qms.procedures.diff import definition_diff
from qms.roles import Role
from qms.services.procedures import procedure_version_create, procedure_version_current
from tests.emergencies.services.test_bypasses import L2_DETAILS, request_bypass
from tests.factories import file_stub
from tests.qms.procedures.helpers import EBW

pytestmark = pytest.mark.django_db


def _edited(**changes):
    definition = copy.deepcopy(procedure_version_current(code=EBW).definition)
    definition.update(changes)
    return definition


def _publish(definition, actor):
    return procedure_version_create(
        procedure=Procedure.objects.get(code=EBW), definition=definition, actor=actor, change_note="Gates."
    )


def test_every_preset_carries_its_catalogue_and_retroactive_checks():
    for preset in PRESETS:
        rules = ProcedureRules(preset["definition"])
        assert set(rules.gate_catalogue) == set(CHECK_CATALOGUE)
        assert rules.retroactive_checks == list(CHECK_CATALOGUE)
    # A version stored before the keys existed reads the preset's.
    legacy = {k: v for k, v in PRESETS[0]["definition"].items() if k not in ("gates", "retroactive_checks")}
    rules = ProcedureRules(legacy)
    assert rules.gate_catalogue == CHECK_CATALOGUE and rules.retroactive_checks == list(CHECK_CATALOGUE)
    assert rules.checks_allowed("L1") == [
        "code_quality_minor",
        "documentation_coverage",
        "performance_regression_warning",
    ]


def test_a_version_lowering_a_checks_level_lets_that_level_bypass_it(make_user):
    developer, qms = make_user(Role.ONCALL), make_user(Role.QMS)
    with pytest.raises(ValidationError) as exc:
        request_bypass(
            developer,
            impact="high",
            quality_only=False,
            checks=["security_critical"],
            details=L2_DETAILS,
            now=timezone.now(),
        )
    assert "needs L3" in exc.value.message_dict["checks"][0]
    definition = _edited()
    definition["gates"]["security_critical"] = {"label": "Critical CVE scan", "min_level": "L2"}
    _publish(definition, qms)
    bypass = request_bypass(
        developer,
        impact="high",
        quality_only=False,
        checks=["security_critical"],
        details=L2_DETAILS,
        now=timezone.now(),
    )
    assert bypass.checks == ["security_critical"] and bypass.check_labels == ["Critical CVE scan"]


def test_a_check_left_out_of_the_catalogue_cannot_be_bypassed(make_user):
    developer, qms = make_user(Role.ONCALL), make_user(Role.QMS)
    definition = _edited()
    del definition["gates"]["dor_dod"]
    definition["retroactive_checks"] = [c for c in definition["retroactive_checks"] if c != "dor_dod"]
    _publish(definition, qms)
    with pytest.raises(ValidationError) as exc:
        request_bypass(
            developer, impact="high", quality_only=False, checks=["dor_dod"], details=L2_DETAILS, now=timezone.now()
        )
    assert "Unknown check(s)" in exc.value.message_dict["checks"][0]


def test_retroactive_checks_come_from_the_changes_pinned_version(make_user):
    oncall, qms = make_user(Role.ONCALL), make_user(Role.QMS)
    before = file_stub(oncall)
    _publish(_edited(retroactive_checks=["full_regression", "security_critical"]), qms)
    after = file_stub(oncall)
    assert pi.gate_catalogue(before) == list(CHECK_CATALOGUE)
    assert pi.gate_catalogue(after) == ["full_regression", "security_critical"]
    assert [label for _, label, _ in pi.gate_status(after)] == [
        "Full regression test suite",
        "Critical security vulnerability",
    ]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"gates": {}}, "gates:"),
        ({"gates": {"Made-Up": {"label": "X", "min_level": "L1"}}}, "gates.Made-Up: a check code is a lowercase code"),
        ({"gates": {"9lives": {"label": "X", "min_level": "L1"}}}, "gates.9lives: a check code is"),
        ({"gates": {"x" * 65: {"label": "X", "min_level": "L1"}}}, "a check code is"),
        ({"gates": {f"g{i}": {"label": "X", "min_level": "L1"} for i in range(101)}}, "gates: at most 100 checks"),
        ({"gates": {"accessibility_review": {"min_level": "L1"}}}, "gates.accessibility_review.label"),
        (
            {"deferred_on_deploy": [{"kind": "full_regression", "amount": 1, "unit": "hours", "gate": "nope"}]},
            "deferred_on_deploy[0].gate: 'nope' is not in this procedure's gates",
        ),
        ({"gates": {"dor_dod": {"label": " ", "min_level": "L2"}}}, "gates.dor_dod.label"),
        ({"gates": {"dor_dod": {"label": "DoR", "min_level": "L9"}}}, "gates.dor_dod.min_level"),
        (
            {"gates": {"dor_dod": {"label": "DoR", "min_level": "L2"}}, "retroactive_checks": ["full_regression"]},
            "retroactive_checks: 'full_regression' is not in this procedure's gates",
        ),
        ({"retroactive_checks": []}, "retroactive_checks: a non-empty list"),
        ({"retroactive_checks": ["dor_dod", "dor_dod"]}, "retroactive_checks: 'dor_dod' appears twice"),
    ],
)
def test_invalid_catalogues_are_refused_naming_the_field(changes, field):
    definition = {**copy.deepcopy(PRESETS[0]["definition"]), **changes}
    problems = validate_definition(definition)
    assert any(field in p for p in problems), problems


def test_catalogue_changes_are_said_in_words():
    old = PRESETS[0]["definition"]
    new = copy.deepcopy(old)
    new["gates"]["security_critical"]["min_level"] = "L2"
    del new["gates"]["dor_dod"]
    new["retroactive_checks"] = ["full_regression"]
    lines = definition_diff(old, new)
    assert "Gate catalogue “Critical security vulnerability” min level: L3 → L2." in lines
    assert "Gate catalogue “DoR/DoD validation”: removed (was DoR/DoD validation, skippable from L2)." in lines
    assert any(line.startswith("Retroactive validation checks: ") and "removes" in line for line in lines)


def test_a_gate_of_the_versions_own_is_said_by_its_own_label():
    old = PRESETS[0]["definition"]
    new = copy.deepcopy(old)
    new["gates"]["accessibility_review"] = {"label": "Accessibility review", "min_level": "L1"}
    new["gates"]["dor_dod"]["label"] = "Definition of ready/done"
    lines = definition_diff(old, new)
    assert "Gate catalogue “Accessibility review”: added (Accessibility review, skippable from L1)." in lines
    assert "Gate catalogue “DoR/DoD validation” label: DoR/DoD validation → Definition of ready/done." in lines
    assert definition_diff(new, old)[-1] == (
        "Gate catalogue “Accessibility review”: removed (was Accessibility review, skippable from L1)."
    )


def test_a_version_may_define_gates_of_its_own():
    definition = copy.deepcopy(PRESETS[0]["definition"])
    definition["gates"]["accessibility_review"] = {"label": "Accessibility review", "min_level": "L1"}
    definition["retroactive_checks"].append("accessibility_review")
    definition["deferred_on_deploy"][0]["gate"] = "accessibility_review"
    assert validate_definition(definition) == []
    rules = ProcedureRules(definition)
    assert "accessibility_review" in rules.checks_allowed("L1") and rules.check_label("accessibility_review") == (
        "Accessibility review"
    )

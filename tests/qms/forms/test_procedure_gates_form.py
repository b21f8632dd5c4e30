"""The rules form's gate catalogue: a check renamed, its retroactive validation dropped, a check of the
procedure's own added and one removed, each written into the draft as edited, valid for the engine and said in
words in the diff; what the engine could not run is refused at the field that asked for it."""

import pytest

from qms.procedures import ProcedureRules
from qms.procedures.validation import validate_definition
from tests.qms.procedures.helpers import rules_form_refused, rules_form_saved

pytestmark = pytest.mark.django_db
QMS_V1, CM_WF = "qms-emergency-bypass-v1", "cm-wf-emergency"
NEW = {
    "gate_new-code": "accessibility_review",
    "gate_new-label": "Accessibility review",
    "gate_new-min_level": "L2",
    "gate_new-retroactive": "on",
}


def test_a_check_of_the_procedures_own_is_added_and_the_engine_reads_it(client, start):
    draft = start()
    before, changes = rules_form_saved(client, draft, **NEW)
    rules = ProcedureRules(draft.definition)
    assert rules.gate_catalogue["accessibility_review"] == {"label": "Accessibility review", "min_level": "L2"}
    assert {k: v for k, v in rules.gate_catalogue.items() if k != "accessibility_review"} == before["gates"]
    assert rules.retroactive_checks == [*before["retroactive_checks"], "accessibility_review"]
    assert "accessibility_review" in rules.checks_allowed("L2") and "accessibility_review" not in rules.checks_allowed(
        "L1"
    )
    assert validate_definition(draft.definition) == []
    assert changes == [
        "Gate catalogue “Accessibility review”: added (Accessibility review, skippable from L2).",
        "Retroactive validation checks: adds accessibility_review.",
    ]


def test_a_check_is_renamed_and_no_longer_validated_after_the_fact(client, start):
    draft = start(CM_WF)
    before, changes = rules_form_saved(
        client, draft, **{"gate-dor_dod-label": "Definition of ready and done", "gate-dor_dod-retroactive": ""}
    )
    assert draft.definition["gates"]["dor_dod"]["label"] == "Definition of ready and done"
    assert draft.definition["retroactive_checks"] == [c for c in before["retroactive_checks"] if c != "dor_dod"]
    assert validate_definition(draft.definition) == []
    assert changes == [
        "Gate catalogue “DoR/DoD validation” label: DoR/DoD validation → Definition of ready and done.",
        "Retroactive validation checks: removes dor_dod.",
    ]


def test_a_check_is_removed_with_its_retroactive_validation(client, start):
    draft = start()
    before, changes = rules_form_saved(client, draft, **{"gate-code_quality_minor-remove": "on"})
    assert "code_quality_minor" not in draft.definition["gates"]
    assert "code_quality_minor" not in draft.definition["retroactive_checks"]
    assert len(draft.definition["gates"]) == len(before["gates"]) - 1
    assert validate_definition(draft.definition) == []
    assert changes


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({**NEW, "gate_new-code": "dor_dod"}, "gate_new-code", "already has a check dor_dod"),
        ({**NEW, "gate_new-code": "Accessibility Review"}, "gate_new-code", "A gate code is a lowercase code"),
        ({**NEW, "gate_new-code": "9lives"}, "gate_new-code", "A gate code is a lowercase code"),
        ({**NEW, "gate_new-min_level": ""}, "gate_new-min_level", "Needed to add one"),
        ({**NEW, "gate_new-label": ""}, "gate_new-label", "Needed to add one"),
        ({"gate-full_regression-remove": "on"}, "gate-full_regression-remove", "deferred_on_deploy"),
        ({"gate-dor_dod-label": ""}, "gate-dor_dod-label", "This field is required"),
        ({"gate-dor_dod-min_level": "L9"}, "gate-dor_dod-min_level", "Select a valid choice"),
    ],
)
def test_what_the_engine_could_not_run_is_refused_at_its_field(client, start, changes, field, message):
    rules_form_refused(client, start(), field, message, **changes)


def test_at_least_one_check_is_validated_after_the_fact(client, start):
    draft = start()
    codes = list(ProcedureRules(draft.definition).gate_catalogue)
    untick = {f"gate-{c}-retroactive": "" for c in codes}
    rules_form_refused(
        client, draft, f"gate-{codes[0]}-retroactive", "At least one check is validated after the fact", **untick
    )


def test_at_least_one_check_stays(client, start):
    from qms.models import ProcedureDraft

    draft = start()
    draft.definition.pop("deferred_on_deploy")  # nothing waits on a gate, so every check could go
    ProcedureDraft.objects.filter(pk=draft.pk).update(definition=draft.definition)
    codes = list(ProcedureRules(draft.definition).gate_catalogue)
    remove = {f"gate-{c}-remove": "on" for c in codes}
    rules_form_refused(client, draft, f"gate-{codes[0]}-remove", "At least one check must stay", **remove)

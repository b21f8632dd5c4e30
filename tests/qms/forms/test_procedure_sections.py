"""The rules form's sections beyond the clocks: severity and emergency criteria, who authorises, bypass levels,
escalation and the CCB. Each edit round-trips into the draft exactly as made and reads in words in the diff;
a bad value is refused at its field with nothing saved; only the author, a coordinator, saves."""

import copy

import pytest
from django.urls import reverse

from qms.models import ProcedureDraft
from qms.procedures.validation import validate_definition
from qms.roles import Role
from qms.services import procedure_drafts as pd
from tests.qms.procedures.helpers import (
    clock,
    field_block,
    rules_form_data,
    rules_form_refused,
    rules_form_saved,
)

pytestmark = pytest.mark.django_db
QMS_V1, CM_WF = "qms-emergency-bypass-v1", "cm-wf-emergency"


def test_an_untouched_form_changes_nothing(client, start):
    for code in (QMS_V1, CM_WF, "emergency-bypass-workflow", "eng-proc-004"):
        draft = start(code)
        before, changes = rules_form_saved(client, draft)
        assert draft.definition == before and changes == []


def test_ticked_lists_posted_in_the_page_order_keep_the_definition_order(client, start):
    """A browser posts a checkbox list in the order of its choices, not the definition's: still no change."""
    from qms.forms.procedures import ProcedureRulesForm
    from qms.forms.procedures.base import ListField

    for code in (QMS_V1, CM_WF, "emergency-bypass-workflow", "eng-proc-004"):
        draft = start(code)
        form = ProcedureRulesForm(draft.definition)
        as_posted = {
            name: [value for value, _ in field.choices if value in (form.get_initial_for_field(field, name) or [])]
            for name, field in form.fields.items()
            if isinstance(field, ListField)
        }
        before, changes = rules_form_saved(client, draft, **as_posted)
        assert draft.definition == before and changes == [], code


def test_the_page_groups_the_rules_in_explained_sections(client, start):
    draft = start(CM_WF)
    client.force_login(draft.author)
    page = client.get(reverse("qms:procedure-draft", args=[draft.pk])).content.decode()
    for heading in ("Clocks", "Severity and emergency criteria", "Who authorises", "Bypass levels"):
        assert f"<h4>{heading}</h4>" in page
    assert "<h4>Escalation of overdue items</h4>" in page and "<h4>Change control board</h4>" in page
    assert "<h4>Certifications per role</h4>" in page
    assert "A CVSS base score from 0.0 to 10.0" in field_block(page, "emergency-cvss_emergency_min")
    assert "This level may skip: Code quality (minor)" in field_block(page, "bypass-L1-slot-0")
    assert "never sooner than the step before" in field_block(page, "escalation-2-after")


def test_severity_and_emergency_criteria_round_trip(client, start):
    draft = start()
    before, changes = rules_form_saved(
        client,
        draft,
        **{
            "severity-S2-label": "S2 - Major",
            "category_severity-data_breach": "S2",
            "clock-triage-severity-S2-amount": "2",
            "clock-triage-severity-S3-amount": "",
            "clock-triage-severity-S3-unit": "",
            "emergency-cvss_emergency_min": "8.5",
            "emergency-cvss_required_for": ["critical_security", "data_breach"],
        },
    )
    expected = copy.deepcopy(before)
    expected["severity_scale"][1]["label"] = "S2 - Major"
    expected["category_severity"]["data_breach"] = "S2"
    clock(expected, "triage")["by_severity"] = {
        "S2": {"amount": 2, "unit": "hours"},
        "S4": {"amount": 24, "unit": "hours"},
    }
    expected["emergency_criteria"].update(
        cvss_emergency_min="8.5", cvss_required_for=["critical_security", "data_breach"]
    )
    assert draft.definition == expected
    assert set(changes) == {
        "Severity scale S2 label: S2 - High → S2 - Major.",
        "Severity of a category for Data breach: S1 → S2.",
        "Emergency criteria cvss required for: Critical security → Critical security, Data breach (adds Data breach).",
        "Emergency criteria cvss emergency min: 9.0 → 8.5.",
        "Response deadline for S2: 1 h → 2 h.",
        "Response deadline for S3: 4 h → default (15 min).",
    }


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"emergency-cvss_emergency_min": "11"}, "emergency-cvss_emergency_min", "less than or equal to 10"),
        ({"emergency-cvss_expedited_min": "-1"}, "emergency-cvss_expedited_min", "greater than or equal to 0"),
        ({"emergency-cvss_expedited_min": "9.5"}, "emergency-cvss_expedited_min", "At most the emergency minimum"),
        ({"emergency-categories": []}, "emergency-categories", "This field is required"),
        (
            {"emergency-categories": ["p1_incident", "p2_incident"]},
            "stub-p2_incident",
            "At least one role must authorise",
        ),
        ({"severity-S1-label": " "}, "severity-S1-label", "This field is required"),
        ({"category_severity-p1_incident": "S9"}, "category_severity-p1_incident", "Select a valid choice"),
        ({"clock-triage-severity-S2-amount": "0"}, "clock-triage-severity-S2-amount", "A positive number"),
        ({"clock-triage-severity-S1-amount": "5"}, "clock-triage-severity-S1-unit", "Give the unit"),
    ],
)
def test_severity_refusals_show_at_the_field(client, start, changes, field, message):
    rules_form_refused(client, start(), field, message, **changes)


def test_authorisers_and_bypass_levels_round_trip(client, start):
    draft = start()
    before, changes = rules_form_saved(
        client,
        draft,
        **{
            "stub-p1_incident": ["executive", "qms"],
            "bypass-L2-slot-2": ["security", "legal"],
            "bypass-L1-remediation-amount": "3",
            "post_mortem_approvers": ["commander", "qms"],
        },
    )
    expected = copy.deepcopy(before)
    expected["stub_authorisers"]["p1_incident"] = ["executive", "qms"]
    expected["bypass_levels"]["L2"]["authorisers"].append(["security", "legal"])
    expected["bypass_levels"]["L1"]["remediation"]["amount"] = 3
    expected["post_mortem_approvers"] = ["commander", "qms"]
    assert draft.definition == expected
    assert "Stub authorisers for P1 incident: Executive, Incident commander → Executive, QMS coordinator" in " ".join(
        changes
    )
    assert "Bypass level L1 remediation: 5 d (business days) → 3 d (business days)." in changes
    assert "Bypass level L2 authorisers: Core architect; QMS coordinator → Core architect; QMS coordinator; " in (
        " ".join(changes)
    )


def test_a_signature_is_dropped_by_unticking_it_and_an_extra_authoriser_edited(client, start):
    draft = start(CM_WF)
    _, changes = rules_form_saved(
        client, draft, **{"bypass-L3-slot-1": [], "stub_if-safety_related": ["safety", "quality"]}
    )
    assert draft.definition["bypass_levels"]["L3"]["authorisers"] == [["qms"]]
    assert draft.definition["stub_authorisers_if"] == {"safety_related": ["safety", "quality"]}
    assert "Extra stub authorisers for safety_related: Safety manager → Safety manager, Quality manager" in " ".join(
        changes
    )


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"stub-p1_incident": []}, "stub-p1_incident", "At least one role must authorise"),
        ({"stub-data_breach": ["auditor"]}, "stub-data_breach", "Select a valid choice"),
        ({"bypass-L1-slot-0": []}, "bypass-L1-slot-0", "At least one slot of roles"),
        ({"bypass-E-slot-0": ["boss"]}, "bypass-E-slot-0", "Select a valid choice"),
        ({"bypass-L3-remediation-amount": "0"}, "bypass-L3-remediation-amount", "A positive number"),
        ({"bypass-L3-remediation-unit": "weeks"}, "bypass-L3-remediation-unit", "Select a valid choice"),
    ],
)
def test_authoriser_refusals_show_at_the_field(client, start, changes, field, message):
    rules_form_refused(client, start(), field, message, **changes)


def test_a_slots_problem_lands_on_the_field_ticked_when_an_earlier_slot_is_dropped(start):
    """Unticking signature 1 drops it, so the definition's authorisers[0] is the field of signature 2: the
    validation's problem with it is put there, not on the emptied field."""
    from qms.forms.procedures import ProcedureRulesForm, bypass

    definition = start().definition
    slots = definition["bypass_levels"]["L2"]["authorisers"]
    assert len(slots) >= 2
    form = ProcedureRulesForm(definition, rules_form_data(definition, **{"bypass-L2-slot-0": []}))
    assert form.is_valid(), form.errors
    assert form.edited_definition()["bypass_levels"]["L2"]["authorisers"] == slots[1:]
    assert bypass.SECTION.clean(form.cleaned_data, definition) == {}
    # A rule of the validation the checkboxes do not enforce (a read-only role is never offered as one).
    read_only = f"{Role.AUDITOR.label} is read-only and cannot sign."
    data = {**form.cleaned_data, "bypass-L2-slot-1": [*slots[1], "auditor"]}
    assert bypass.SECTION.clean(data, definition) == {"bypass-L2-slot-1": read_only}
    data = {**data, "bypass-L2-slot-0": [], "bypass-L2-slot-2": ["auditor"]}  # the extra slot, two dropped before it
    data["bypass-L2-slot-1"] = []
    assert bypass.SECTION.clean(data, definition) == {"bypass-L2-slot-2": read_only}
    data = {**form.cleaned_data, "bypass-L2-slot-0": slots[0], "bypass-L2-slot-1": [*slots[1], "auditor"]}
    assert bypass.SECTION.clean(data, definition) == {"bypass-L2-slot-1": read_only}


def test_escalation_ladder_round_trip(client, start):
    draft = start()
    before, changes = rules_form_saved(
        client, draft, **{"escalation-2-after": "12h", "escalation-3-roles": ["qms", "quality"]}
    )
    expected = copy.deepcopy(before)
    expected["compliance"]["escalation"][1]["after"] = "12h"
    expected["compliance"]["escalation"][2]["roles"] = ["qms", "quality"]
    assert draft.definition == expected
    assert changes == [
        "Compliance escalation Owner's lead after: 24h → 12h.",
        "Compliance escalation QMS coordinator roles: QMS coordinator → QMS coordinator, Quality manager "
        "(adds Quality manager).",
    ]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"escalation-3-after": "12h"}, "escalation-3-after", "cannot come sooner than the one before"),
        ({"escalation-2-after": "soon"}, "escalation-2-after", "A duration looks like 24h"),
        ({"escalation-4-roles": []}, "escalation-4-roles", "This field is required"),
    ],
)
def test_escalation_refusals_show_at_the_field(client, start, changes, field, message):
    rules_form_refused(client, start(), field, message, **changes)


def test_ccb_waivers_and_decision_window_round_trip(client, start):
    draft = start(CM_WF)
    before, changes = rules_form_saved(
        client,
        draft,
        **{"waiver-extended_verification": "never", "ccb-decision_window-amount": "2"},
    )
    expected = copy.deepcopy(before)
    moved = expected["ccb"]["waivable"].pop(0)
    expected["ccb"]["not_waivable"].insert(0, moved)
    expected["ccb"]["decision_window"]["amount"] = 2
    assert draft.definition["ccb"]["waivable"] == expected["ccb"]["waivable"]
    assert {w["code"] for w in draft.definition["ccb"]["not_waivable"]} == {
        w["code"] for w in expected["ccb"]["not_waivable"]
    }
    assert draft.definition["ccb"]["decision_window"] == {"amount": 2, "unit": "hours"}
    assert set(changes) == {
        "CCB decision window: 1 h → 2 h.",
        "CCB waivable: removes Extended verification testing (reduced to focused testing).",
        "CCB not waivable: adds Extended verification testing (reduced to focused testing).",
    }


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"waiver-code_review": "sometimes"}, "waiver-code_review", "Select a valid choice"),
        ({"ccb-decision_window-amount": "0"}, "ccb-decision_window-amount", "A positive number"),
    ],
)
def test_ccb_refusals_show_at_the_field(client, start, changes, field, message):
    rules_form_refused(client, start(CM_WF), field, message, **changes)


def test_a_procedure_without_a_ccb_has_no_ccb_section(client, start):
    draft = start()
    client.force_login(draft.author)
    page = client.get(reverse("qms:procedure-draft", args=[draft.pk])).content.decode()
    assert "<h4>Change control board</h4>" not in page and 'data-field="waiver-' not in page


def test_certifications_per_role_round_trip(client, start):
    draft = start()
    before, changes = rules_form_saved(
        client,
        draft,
        **{
            "course-tabletop_exercise-validity_months": "3",
            "certifications-release": ["incident_response_protocols"],
            "certifications-legal": [],
            "training-deviation_allowed_in_emergency": "on",
        },
    )
    expected = copy.deepcopy(before)
    training = expected["training"]
    training["courses"]["tabletop_exercise"]["validity_months"] = 3
    training["role_certifications"].pop("legal")
    training["role_certifications"]["release"] = ["incident_response_protocols"]
    training["deviation_allowed_in_emergency"] = True
    assert draft.definition == expected
    assert changes == [
        "Training courses tabletop exercise validity months: 6 → 3.",
        "Training role certifications for Release manager: added (incident_response_protocols).",
        "Training role certifications for Legal: removed (was compliance_awareness_training).",
        "Training deviation allowed in emergency: no → yes.",
    ]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        (
            {"course-tabletop_exercise-validity_months": "0"},
            "course-tabletop_exercise-validity_months",
            "greater than or equal to 1",
        ),
        (
            {"course-tabletop_exercise-validity_months": "61"},
            "course-tabletop_exercise-validity_months",
            "less than or equal to 60",
        ),
        ({"certifications-qms": ["first_aid"]}, "certifications-qms", "Select a valid choice"),
    ],
)
def test_certification_refusals_show_at_the_field(client, start, changes, field, message):
    rules_form_refused(client, start(), field, message, **changes)


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.ONCALL, Role.QMS])
@pytest.mark.parametrize(
    "changes",
    [
        {"emergency-cvss_emergency_min": "8.0"},
        {"stub-p1_incident": ["qms"]},
        {"escalation-2-after": "1h"},
        {"waiver-code_review": "waivable"},
        {"certifications-qms": []},
    ],
    ids=["severity", "authorisers", "escalation", "ccb", "training"],
)
def test_only_the_author_saves_a_section(client, start, make_user, role, changes):
    draft = start(CM_WF)
    before = copy.deepcopy(draft.definition)
    client.force_login(make_user(role))
    response = client.post(
        reverse("qms:procedure-draft-edit", args=[draft.pk]), rules_form_data(draft.definition, **changes)
    )
    assert response.status_code in (403, 404)
    draft.refresh_from_db()
    assert draft.definition == before and draft.status == ProcedureDraft.Status.DRAFT


# --- adding and removing entries: severity levels, clocks, training courses --------------------------------


def test_a_severity_level_is_added_and_one_removed_with_what_was_set_for_it(client, start):
    draft = start()
    before, changes = rules_form_saved(
        client, draft, **{"severity_new-code": "S5", "severity_new-label": "S5 - Info", "severity-S4-remove": "on"}
    )
    expected = copy.deepcopy(before)
    expected["severity_scale"] = [*before["severity_scale"][:3], {"code": "S5", "label": "S5 - Info"}]
    del clock(expected, "triage")["by_severity"]["S4"], expected["severity_classes"]["S4"]
    assert draft.definition == expected
    assert validate_definition(draft.definition) == []
    assert set(changes) == {
        "Severity scale: adds S5 - Info.",
        "Severity scale: removes S4 - Low.",
        "Severity classes S4: removed (was 2 entries).",
        "Response deadline for S4: removed with the level (was 24 h).",
    }


def test_a_level_categories_file_as_is_removed_once_they_file_as_another(client, start):
    draft = start()
    moved = {f"category_severity-{c}": "S2" for c in ("p1_incident", "critical_security", "data_breach")}
    _, changes = rules_form_saved(client, draft, **{"severity-S1-remove": "on", **moved})
    assert [level["code"] for level in draft.definition["severity_scale"]] == ["S2", "S3", "S4"]
    assert set(draft.definition["category_severity"].values()) == {"S2"}
    assert "S1" not in draft.definition["severity_classes"] and validate_definition(draft.definition) == []
    assert "Severity scale: removes S1 - Critical." in changes


def test_removing_a_level_drops_its_on_call_response_time(client, start):
    draft = start(CM_WF)
    definition = copy.deepcopy(draft.definition)
    definition["severity_scale"].append({"code": "LOW", "label": "Low"})
    definition["oncall_response"]["by_severity"]["LOW"] = {"amount": 4, "unit": "hours"}
    draft = pd.procedure_draft_update(draft_id=draft.pk, actor=draft.author, definition=definition, change_note="")
    rules_form_saved(client, draft, **{"severity-LOW-remove": "on"})
    assert "LOW" not in draft.definition["oncall_response"]["by_severity"]
    assert validate_definition(draft.definition) == []


@pytest.mark.parametrize(
    ("code", "changes", "field", "message"),
    [
        (QMS_V1, {"severity-S1-remove": "on"}, "severity-S1-remove", "still file as S1: choose another"),
        (QMS_V1, {"severity_new-code": "S1", "severity_new-label": "Again"}, "severity_new-code", "already has"),
        (QMS_V1, {"severity_new-code": "S 5", "severity_new-label": "Five"}, "severity_new-code", "no spaces"),
        (QMS_V1, {"severity_new-code": "S5"}, "severity_new-label", "Needed to add one"),
        (QMS_V1, {"severity_new-label": "Five"}, "severity_new-code", "Needed to add one"),
        (CM_WF, {"severity-MEDIUM-remove": "on"}, "severity-MEDIUM-remove", "named in ccb.severity_criteria"),
    ],
)
def test_adding_or_removing_a_level_is_refused_at_its_field(client, start, code, changes, field, message):
    rules_form_refused(client, start(code), field, message, **changes)


_HOTFIX = {
    "clock_new-kind": "hotfix",
    "clock_new-label": "Hotfix deployed",
    "clock_new-amount": "8",
    "clock_new-unit": "hours",
    "clock_new-owner": "commander",
    "clock_new-satisfied_on": ["deploy"],
}


def test_a_clock_is_added_and_one_removed(client, start):
    draft = start()
    _, changes = rules_form_saved(client, draft, **_HOTFIX, **{"clock-documentation-remove": "on"})
    assert [c["kind"] for c in draft.definition["clocks"]] == ["triage", "post_mortem", "hotfix"]
    assert clock(draft.definition, "hotfix") == {
        "kind": "hotfix",
        "label": "Hotfix deployed",
        "amount": 8,
        "unit": "hours",
        "owner": "commander",
        "satisfied_on": ["deploy"],
    }
    assert validate_definition(draft.definition) == []
    assert changes == [
        "Hotfix deployed deadline: added (8 h, owner commander, met by deploy).",
        "Post-incident review deadline: removed (was 24 h).",
    ]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({**_HOTFIX, "clock_new-amount": "0"}, "clock_new-amount", "A positive number"),
        ({"clock_new-kind": "hotfix"}, "clock_new-amount", "Needed to add one"),
        ({"clock_new-label": "Coffee"}, "clock_new-kind", "Needed to add one"),
        ({**_HOTFIX, "clock_new-kind": "triage"}, "clock_new-kind", "Select a valid choice"),
        ({**_HOTFIX, "clock_new-kind": "coffee"}, "clock_new-kind", "Select a valid choice"),
    ],
)
def test_adding_a_clock_is_refused_at_its_field(client, start, changes, field, message):
    rules_form_refused(client, start(), field, message, **changes)


def test_a_course_is_added_and_one_removed_from_every_role(client, start):
    draft = start()
    new = {"course_new-code": "first_aid", "course_new-label": "First aid", "course_new-validity_months": "24"}
    before, changes = rules_form_saved(client, draft, **new, **{"course-security_impact_assessment-remove": "on"})
    expected = copy.deepcopy(before)
    del expected["training"]["courses"]["security_impact_assessment"]
    expected["training"]["courses"]["first_aid"] = {"label": "First aid", "validity_months": 24}
    expected["training"]["role_certifications"]["security"] = ["qms_bypass_procedures_basic"]
    assert draft.definition == expected
    assert validate_definition(draft.definition) == []
    assert changes[:2] == [
        "Training courses first aid: added (First aid, valid for 24 months).",
        "Training courses security impact assessment: removed (was Security impact assessment, valid for 12 months).",
    ]
    assert "Training role certifications for Security officer" in changes[2]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        (
            {"course_new-code": "tabletop_exercise", "course_new-label": "Again", "course_new-validity_months": "6"},
            "course_new-code",
            "There is already a course tabletop_exercise",
        ),
        (
            {"course_new-code": "first_aid", "course_new-label": "First aid", "course_new-validity_months": "0"},
            "course_new-validity_months",
            "greater than or equal to 1",
        ),
        ({"course_new-code": "first_aid"}, "course_new-validity_months", "Needed to add one"),
    ],
)
def test_adding_a_course_is_refused_at_its_field(client, start, changes, field, message):
    rules_form_refused(client, start(), field, message, **changes)


def test_the_last_course_cannot_be_removed(client, start):
    draft = start()
    definition = copy.deepcopy(draft.definition)
    definition["training"]["courses"] = {"tabletop_exercise": {"label": "Tabletop exercise", "validity_months": 6}}
    definition["training"]["role_certifications"] = {"qms": ["tabletop_exercise"]}
    draft = pd.procedure_draft_update(draft_id=draft.pk, actor=draft.author, definition=definition, change_note="")
    rules_form_refused(
        client,
        draft,
        "course-tabletop_exercise-remove",
        "At least one course must stay",
        **{"course-tabletop_exercise-remove": "on"},
    )

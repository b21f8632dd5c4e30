"""The rules form's notification and CCB sections: who is told of what (a bypass level's recipients, what each
channel audience receives, the internal status-update list, the update cadence) and the CCB's representation,
members and gates. Each edit is saved as made, read by the engine and described in the draft's diff; a bad
value is refused at its field with nothing saved, and a version without these keys keeps reading the portal's."""

import copy

import pytest
from django.urls import reverse

from qms.forms.procedures import ProcedureRulesForm
from qms.procedures import ProcedureRules, validate_definition
from qms.procedures.diff import definition_diff
from qms.procedures.presets.cm_wf_emergency import CM_WF_EMERGENCY
from qms.roles import Role
from qms.services import procedure_drafts as pd
from qms.services.channels import filter_facts
from tests.qms.procedures.helpers import field_block, rules_form_data, rules_form_refused, rules_form_saved

pytestmark = pytest.mark.django_db
QMS_V1, CM_WF = "qms-emergency-bypass-v1", "cm-wf-emergency"
FACTS = {
    "record": "CHG-EMG-1",
    "title": "Payments down",
    "status": "Stub",
    "category": "P1 incident",
    "severity": "S1",
    "asked": "Awaiting your signature",
    "problem_statement": "Card payments fail.",
    "link": "https://portal/x",
    "_category": "p1_incident",
}


def test_the_page_explains_the_notification_and_ccb_fields_without_read_only_roles(client, start):
    draft = start(CM_WF)
    client.force_login(draft.author)
    page = client.get(reverse("qms:procedure-draft", args=[draft.pk])).content.decode()
    assert "<h4>Who is notified</h4>" in page
    assert "once all its signatures are in" in field_block(page, "notify-L1")
    assert "never sent to a public channel" in field_block(page, "channels-withheld-data_breach")
    assert "phases 1–5" in field_block(page, "cadence-HIGH-amount")
    assert "has voted" in field_block(page, "ccb-representation")
    assert "recorded by one person" in field_block(page, "ccb-gate-declare-roles")
    for name in ("notify-L1", "channels-internal_update_roles", "ccb-representation", "ccb-member_roles"):
        assert 'value="auditor"' not in field_block(page, name), name
    # The decision rule is shown, not edited: the engine counts one rule only.
    assert "more than half of the current votes" in field_block(page, "ccb-decision_window-amount")
    assert 'data-field="ccb-decision_rule' not in page


def test_notification_rules_round_trip_and_the_engine_reads_them(client, start):
    draft = start()
    before, changes = rules_form_saved(
        client,
        draft,
        **{
            "notify-L1": ["qms", "quality"],
            "channels-audience-public": ["record", "status", "link"],
            "channels-withheld-p1_incident": ["title"],
            "channels-internal_update_roles": ["cm", "commander"],
        },
    )
    expected = copy.deepcopy(before)
    expected["bypass_levels"]["L1"]["notify"] = ["qms", "quality"]
    expected["channels"]["audiences"]["public"] = ["record", "status", "link"]
    expected["channels"]["withheld_in_public"]["p1_incident"] = ["title"]
    expected["channels"]["internal_update_roles"] = ["commander", "cm"]
    assert draft.definition == expected
    rules = ProcedureRules(draft.definition)
    assert rules.bypass_notify_roles("L1") == [Role.QMS, Role.QUALITY]
    assert rules.bypass_notify_roles("L2") == [Role.QMS]
    assert list(filter_facts(FACTS, rules=rules, audience="public")) == ["record", "status", "link"]
    assert "title" not in filter_facts(FACTS, rules=rules, audience="external")
    assert "title" in filter_facts(FACTS, rules=rules, audience="responders")
    assert set(changes) == {
        "Bypass level L1 notifies: QMS coordinator → QMS coordinator, Quality manager (adds Quality manager).",
        "Channel fields sent to public: removes Title, Severity, Asked, Update.",
        "Channel fields withheld in public for P1 incident: added (Title).",
        "Channel fields internal update roles: Incident commander, Configuration manager, Program manager, "
        "QMS coordinator → Incident commander, Configuration manager (removes Program manager, QMS coordinator).",
    }


def test_the_status_update_cadence_round_trips_with_its_words(client, start):
    draft = start(CM_WF)
    _, changes = rules_form_saved(client, draft, **{"cadence-HIGH-amount": "2", "cadence-after_phases-unit": "hours"})
    plan = draft.definition["communication"]
    assert plan["update_cadence"]["HIGH"] == {"amount": 2, "unit": "hours", "label": "every 2 hours"}
    assert plan["after_phases"] == {"amount": 1, "unit": "hours", "label": "hourly"}
    interval = ProcedureRules(draft.definition).status_update_interval("HIGH", "stub")
    assert (interval.amount, interval.unit, interval.label) == (2, "hours", "every 2 hours")
    assert ProcedureRules(draft.definition).status_update_interval("HIGH", "monitoring").unit == "hours"
    assert set(changes) == {
        "Communication update cadence for HIGH: 4 h → 2 h.",
        "Communication after phases: 1 d → 1 h.",
    }


def test_ccb_representation_and_members_round_trip_and_the_engine_reads_them(client, start):
    draft = start(CM_WF)
    members = [r for r in draft.definition["ccb"]["member_roles"] if r != "commander"]
    _, changes = rules_form_saved(
        client,
        draft,
        **{
            "ccb-representation": ["cm", "safety", "security", "engmanager", "quality", "release"],
            "ccb-seat-safety-reason": "a safety issue",
            "ccb-seat-security-if": "",
            "ccb-seat-quality-severities": ["CRITICAL"],
            "ccb-member_roles": members,
        },
    )
    assert draft.definition["ccb"]["representation"] == [
        {"role": "cm", "reason": "chair"},
        {"role": "safety", "if": "safety_related", "reason": "a safety issue"},
        {"role": "security", "reason": "security-related"},
        {"role": "engmanager", "reason": "always"},
        {"role": "quality", "reason": "always", "severities": ["CRITICAL"]},
        {"role": "release", "reason": "always"},
    ]
    assert draft.definition["ccb"]["member_roles"] == members
    rules = ProcedureRules(draft.definition)
    assert [s.role for s in rules.ccb_required_seats("HIGH", {})] == [
        Role.CM,
        Role.SECURITY,
        Role.ENGMANAGER,
        Role.RELEASE,
    ]
    seats = rules.ccb_required_seats("CRITICAL", {"safety_related": True})
    assert [s.role for s in seats] == [Role.CM, Role.SAFETY, Role.SECURITY, Role.ENGMANAGER, Role.QUALITY, Role.RELEASE]
    assert seats[1].reason == "a safety issue"
    assert Role.COMMANDER not in rules.ccb_member_roles("HIGH", {})
    assert set(changes) == {
        "CCB representation Safety manager reason: safety-related → a safety issue.",
        "CCB representation Security officer required only when: removed (was security is involved).",
        "CCB representation Quality manager severities: added (CRITICAL).",
        "CCB representation: adds Release manager (reason: always).",
        "CCB representation: removes Program manager.",
        "CCB member roles: removes Incident commander.",
    }


def test_ccb_gates_round_trip_and_the_engine_reads_them(client, start):
    draft = start(CM_WF)
    _, changes = rules_form_saved(
        client,
        draft,
        **{
            "ccb-gate-declare-roles": ["cm", "safety"],
            "ccb-gate-fast_track-question": "Fast-track the patch?",
            "ccb-gate-close-label": "Gate 4: Return to normal",
        },
    )
    rules = ProcedureRules(draft.definition)
    assert rules.ccb_gate("declare").roles == (Role.SAFETY, Role.CM)
    assert rules.ccb_gate("fast_track").question == "Fast-track the patch?"
    assert rules.ccb_gate("close").title == "Return to normal"
    assert set(changes) == {
        "CCB gates Gate 1: Declare emergency roles: Safety manager, Security officer, Configuration manager → "
        "Safety manager, Configuration manager (removes Security officer).",
        "CCB gates Gate 2: Approve fast-track question: Approve the expedited process? → Fast-track the patch?",
        "CCB gates close label: Gate 4: Close emergency → Gate 4: Return to normal.",
    }


@pytest.mark.parametrize(
    ("code", "changes", "field", "message"),
    [
        (QMS_V1, {"notify-L1": []}, "notify-L1", "This field is required"),
        (QMS_V1, {"notify-E": ["auditor"]}, "notify-E", "Select a valid choice"),
        (QMS_V1, {"channels-audience-public": []}, "channels-audience-public", "This field is required"),
        (QMS_V1, {"channels-withheld-data_breach": ["secret"]}, "channels-withheld-data_breach", "Select a valid"),
        (CM_WF, {"cadence-HIGH-amount": "0"}, "cadence-HIGH-amount", "A positive number"),
        (CM_WF, {"ccb-representation": []}, "ccb-representation", "This field is required"),
        (CM_WF, {"ccb-representation": ["cm", "auditor"]}, "ccb-representation", "Select a valid choice"),
        (CM_WF, {"ccb-seat-safety-if": "on_fridays"}, "ccb-seat-safety-if", "Select a valid choice"),
        (CM_WF, {"ccb-gate-declare-roles": []}, "ccb-gate-declare-roles", "This field is required"),
        (CM_WF, {"ccb-gate-fast_track-label": " "}, "ccb-gate-fast_track-label", "This field is required"),
    ],
)
def test_notification_and_ccb_refusals_show_at_the_field(client, start, code, changes, field, message):
    rules_form_refused(client, start(code), field, message, **changes)


def _ccb(d):
    return d["ccb"]


@pytest.mark.parametrize(
    ("edit", "problem", "field"),
    [
        (lambda d: d["bypass_levels"]["L1"].update(notify=[]), "bypass_levels.L1.notify: at least one", "notify-L1"),
        (lambda d: d["bypass_levels"]["L2"].update(notify=["boss"]), "unknown role 'boss'", "notify-L2"),
        (lambda d: d["channels"]["audiences"].update(public=["secret"]), "unknown fact", "channels-audience-public"),
        (lambda d: d["channels"]["audiences"].update(public=[]), "at least one fact", "channels-audience-public"),
        (lambda d: d["channels"]["audiences"].update(everyone=["record"]), "unknown audience", None),
        (lambda d: d["channels"]["withheld_in_public"].update(p3=["title"]), "unknown category", None),
        (
            lambda d: d["channels"].update(internal_update_roles=["boss"]),
            "channels.internal_update_roles: unknown role",
            "channels-internal_update_roles",
        ),
        (lambda d: _ccb(d).update(representation=[]), "ccb.representation: at least one role", "ccb-representation"),
        (
            lambda d: _ccb(d)["representation"].append({"role": "auditor"}),
            "ccb.representation: Auditor is read-only",
            "ccb-representation",
        ),
        (
            lambda d: _ccb(d)["representation"].append({"role": "cm"}),
            "ccb.representation: 'cm' appears twice",
            "ccb-representation",
        ),
        (
            lambda d: _ccb(d)["representation"][1].update({"if": "moon"}),
            "ccb.representation.safety.if: unknown incident flag",
            "ccb-seat-safety-if",
        ),
        (
            lambda d: _ccb(d)["representation"][5].update(severities=["LOW"]),
            "ccb.representation.program.severities",
            "ccb-seat-program-severities",
        ),
        (lambda d: _ccb(d).update(member_roles=["auditor"]), "ccb.member_roles: Auditor", "ccb-member_roles"),
        (
            lambda d: _ccb(d)["gates"][0].update(roles=[]),
            "ccb.gates.declare.roles: at least one",
            "ccb-gate-declare-roles",
        ),
        (lambda d: _ccb(d)["gates"][0].update(roles=["boss"]), "ccb.gates.declare.roles", "ccb-gate-declare-roles"),
        (lambda d: _ccb(d)["gates"][3].update(label=""), "ccb.gates.close.label", "ccb-gate-close-label"),
        (lambda d: _ccb(d)["decision_rule"].update(quorum="two_thirds"), "ccb.decision_rule.quorum", None),
        (
            lambda d: d["communication"]["update_cadence"]["HIGH"].update(amount=0),
            "communication.update_cadence.HIGH.amount",
            "cadence-HIGH-amount",
        ),
        (
            lambda d: d["communication"]["after_phases"].update(unit="weeks"),
            "communication.after_phases.unit",
            "cadence-after_phases-unit",
        ),
    ],
)
def test_the_engine_refuses_what_it_cannot_run_and_the_form_puts_it_at_its_field(edit, problem, field):
    definition = copy.deepcopy(CM_WF_EMERGENCY)
    edit(definition)
    problems = validate_definition(definition)
    assert [p for p in problems if problem in p], problems
    form = ProcedureRulesForm(CM_WF_EMERGENCY, rules_form_data(CM_WF_EMERGENCY))
    assert form.is_valid(), form.errors
    form.add_problems(problems)
    if field is None:
        assert any(problem in e for e in form.non_field_errors())
    else:
        assert list(form.errors) == [field], form.errors


def test_a_version_reading_the_portals_notification_and_ccb_rules_keeps_reading_them(client, start):
    """A definition without ``channels``, ``communication``, ``ccb`` or a level's ``notify`` saved untouched
    stays without them; the one changed gets its own block."""
    draft = start(CM_WF)
    older = copy.deepcopy(draft.definition)
    for key in ("channels", "communication", "ccb"):
        older.pop(key)
    for level in older["bypass_levels"].values():
        level.pop("notify")
    pd.procedure_draft_update(draft_id=draft.pk, actor=draft.author, definition=older, change_note="Older.")
    draft.refresh_from_db()
    before, _ = rules_form_saved(client, draft)
    assert draft.definition == before
    rules_form_saved(client, draft, **{"notify-L3": ["qms", "executive"], "ccb-seat-cm-reason": "the chair"})
    assert draft.definition["bypass_levels"]["L3"]["notify"] == ["qms", "executive"]
    assert "notify" not in draft.definition["bypass_levels"]["L1"]
    assert "channels" not in draft.definition and "communication" not in draft.definition
    assert draft.definition["ccb"]["representation"][0] == {"role": "cm", "reason": "the chair"}
    changes = definition_diff(before, draft.definition)
    assert "Bypass level L3 notifies: added (QMS coordinator, Executive)." in changes
    assert any(line.startswith("CCB: added") for line in changes), changes

"""The rules form's CCB chair and decision: the chair's role, who convenes, who records the decision (by default
and per severity) and the outcome of a split vote, saved as made, read by the engine and said in the diff; a
value the engine could not run is refused at its field, from the form and from the YAML alike."""

import copy

import pytest

from qms.procedures import ProcedureRules, validate_definition
from qms.procedures.presets.cm_wf_emergency import CM_WF_EMERGENCY
from qms.roles import Role
from qms.services import procedure_drafts as pd
from tests.qms.procedures.helpers import rules_form_refused, rules_form_saved

pytestmark = pytest.mark.django_db
CM_WF = "cm-wf-emergency"


@pytest.fixture
def draft(make_user):
    return pd.procedure_draft_start(procedure_code=CM_WF, actor=make_user(Role.QMS))


def test_who_chairs_convenes_and_decides_round_trips_and_the_engine_reads_it(client, draft):
    _, changes = rules_form_saved(
        client,
        draft,
        **{
            "ccb-chair_role": "quality",
            "ccb-convener_roles": ["cm", "qms"],
            "ccb-decider-default": "engmanager",
            "ccb-decider-CRITICAL": "",
            "ccb-decider-HIGH": "program",
            "ccb-decision-otherwise": "standard",
        },
    )
    rules = ProcedureRules(draft.definition)
    assert rules.ccb_chair_role == Role.QUALITY
    assert rules.ccb_convener_roles == [Role.CM, Role.QMS]
    assert rules.ccb_decider_role("CRITICAL") == Role.ENGMANAGER  # no longer its own: the default
    assert rules.ccb_decider_role("HIGH") == Role.PROGRAM
    assert rules.ccb_rule_outcome({"approve": 1, "standard": 1}, ("approve", "standard", "more_info")) == "standard"
    assert validate_definition(draft.definition) == []
    assert len(changes) >= 5, changes
    assert any("standard" in line.lower() for line in changes), changes


def test_the_chair_decides_again_when_chosen(client, draft):
    rules_form_saved(client, draft, **{"ccb-decider-CRITICAL": "chair"})
    assert ProcedureRules(draft.definition).ccb_decider_role("CRITICAL") is None


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"ccb-convener_roles": []}, "ccb-convener_roles", "This field is required"),
        ({"ccb-chair_role": "auditor"}, "ccb-chair_role", "Select a valid choice"),
        ({"ccb-decider-default": "auditor"}, "ccb-decider-default", "Select a valid choice"),
        ({"ccb-decision-otherwise": "reject"}, "ccb-decision-otherwise", "Select a valid choice"),
    ],
)
def test_refusals_show_at_the_field(client, draft, changes, field, message):
    rules_form_refused(client, draft, field, message, **changes)


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda ccb: ccb.update(chair_role="auditor"), "ccb.chair_role: Auditor is read-only"),
        (lambda ccb: ccb.update(convener_roles=[]), "ccb.convener_roles: at least one role"),
        (lambda ccb: ccb["decider"].update(default="nobody"), "ccb.decider.default: unknown role 'nobody'"),
        (lambda ccb: ccb["decider"]["by_severity"].update(S9="program"), "ccb.decider.by_severity.S9: not a severity"),
        (lambda ccb: ccb.update(decider=["chair"]), "ccb.decider: a mapping"),
        (lambda ccb: ccb["decision_rule"].update(otherwise="maybe"), "ccb.decision_rule.otherwise: one of the vote"),
    ],
)
def test_the_engine_refuses_a_chair_convener_or_decider_it_cannot_run(edit, problem):
    definition = copy.deepcopy(CM_WF_EMERGENCY)
    edit(definition["ccb"])
    assert any(p.startswith(problem) for p in validate_definition(definition)), validate_definition(definition)

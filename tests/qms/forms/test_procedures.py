"""The draft page's rules form: each field explained, saved through procedure_draft_update, refusals at the field."""

import pytest
from django.urls import reverse

from qms.models import ProcedureDraft
from qms.roles import Role
from qms.services import procedure_drafts as pd
from tests.qms.procedures.helpers import EBW, clock, rules_form_data
from tests.qms.procedures.helpers import field_block as _field_block

pytestmark = pytest.mark.django_db


@pytest.fixture
def draft(make_user):
    return pd.procedure_draft_start(procedure_code=EBW, actor=make_user(Role.QMS))


def _data(draft, **changes):
    return rules_form_data(draft.definition, **{"change_note": "Post-mortem within 48 hours.", **changes})


def test_the_form_explains_each_field(client, draft):
    client.force_login(draft.author)
    page = client.get(reverse("qms:procedure-draft", args=[draft.pk])).content.decode()
    assert 'data-testid="draft-rules-form"' in page
    assert "How long after the change&#x27;s resolution the post-mortem is due" in page
    assert "Only for a clock in days: calendar days or business days." in page
    assert "Who may approve a post-mortem; never its author, never a read-only role." in page
    assert "The lowest bypass level (L1, L2, L3, E) that may skip this check" in page


def test_the_author_shortens_the_post_mortem_and_changes_a_gate_through_the_form(client, draft):
    client.force_login(draft.author)
    url = reverse("qms:procedure-draft-edit", args=[draft.pk])
    data = _data(
        draft,
        **{
            "clock-post_mortem-amount": "48",
            "gate-security_critical-min_level": "L2",
            "post_mortem_approvers": ["commander", "qms"],
        },
    )
    response = client.post(url, data)
    assert response.status_code == 302
    draft.refresh_from_db()
    assert clock(draft.definition, "post_mortem")["amount"] == 48
    assert draft.definition["gates"]["security_critical"]["min_level"] == "L2"
    assert draft.definition["post_mortem_approvers"] == ["commander", "qms"]
    changes = pd.draft_diff(draft)
    assert "Post-mortem deadline: 72 h → 48 h." in changes
    assert "Gate catalogue “Critical security vulnerability” min level: L3 → L2." in changes


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"clock-post_mortem-amount": "0"}, "clock-post_mortem-amount", "A positive number"),
        ({"clock-triage-unit": "weeks"}, "clock-triage-unit", "Select a valid choice"),
        ({"clock-hotfix-basis": "lunar"}, "clock-hotfix-basis", "Select a valid choice"),
        ({"post_mortem_approvers": ["auditor"]}, "post_mortem_approvers", "Select a valid choice"),
        ({"post_mortem_approvers": []}, "post_mortem_approvers", "This field is required"),
        ({"gate-dor_dod-min_level": "L7"}, "gate-dor_dod-min_level", "Select a valid choice"),
    ],
)
def test_refusals_show_at_the_field_and_nothing_changes(client, draft, changes, field, message):
    before = draft.definition
    client.force_login(draft.author)
    response = client.post(reverse("qms:procedure-draft-edit", args=[draft.pk]), _data(draft, **changes))
    assert response.status_code == 400
    assert message in _field_block(response.content.decode(), field)
    draft.refresh_from_db()
    assert draft.definition == before


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.QMS, Role.ONCALL])
def test_only_the_author_saves_through_the_form(client, draft, make_user, role):
    before = draft.definition
    client.force_login(make_user(role))
    response = client.post(
        reverse("qms:procedure-draft-edit", args=[draft.pk]), _data(draft, **{"clock-post_mortem-amount": "48"})
    )
    assert response.status_code in (403, 404)
    draft.refresh_from_db()
    assert draft.definition == before and draft.status == ProcedureDraft.Status.DRAFT

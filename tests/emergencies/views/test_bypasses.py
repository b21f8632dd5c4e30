from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from emergencies.models import BypassRequest
from qms.models import Signature
from qms.roles import Role
from tests.emergencies.services.test_bypasses import request_bypass
from tests.factories import PASSWORD, file_stub
from tests.problems import problem_fields

pytestmark = pytest.mark.django_db


def tomorrow():
    return (timezone.now() + timedelta(days=1)).date().isoformat()


L2_FORM = {
    "repository": "payments-api",
    "pull_request": "#77",
    "production_impact": "high",
    "checks": ["dor_dod"],
    "impact_assessment": "checkout latency",
    "complexity_score": "4",
    "test_coverage_impact": "12",
    "integration_risk": "gateway",
    "rollback_feasibility": "easy",
    "business_factors": "peak traffic",
    "business_justification": "revenue",
    "remediation_plan": "restore DoD",
    "stakeholder_notification_plan": "email",
}


@pytest.fixture
def developer(make_user):
    return make_user(Role.ONCALL, username="dev")


def test_request_form_shows_level_preview_and_files(client, developer):
    client.force_login(developer)
    preview = client.get(reverse("emergencies:bypass-level"), {"production_impact": "high"})
    assert "Level 2" in preview.content.decode() and "Core architect" in preview.content.decode()
    response = client.post(reverse("emergencies:bypass-create"), L2_FORM)
    assert response.status_code == 302
    bypass = BypassRequest.objects.get()
    assert bypass.level == "L2"
    assert response.url == bypass.get_absolute_url()


def test_request_form_errors_are_field_errors_and_create_nothing(client, developer):
    client.force_login(developer)
    data = {**L2_FORM, "business_justification": "", "checks": ["security_critical"]}
    response = client.post(reverse("emergencies:bypass-create"), data)
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert "business_justification" in errors and "checks" in errors
    assert not BypassRequest.objects.exists()


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.LEGAL, Role.QUALITY])
def test_roles_that_may_not_request(client, make_user, role):
    client.force_login(make_user(role))
    assert client.get(reverse("emergencies:bypass-create")).status_code == 403
    assert client.post(reverse("emergencies:bypass-create"), L2_FORM).status_code == 403


def test_sign_through_the_page_with_password(client, developer, make_user):
    lead = make_user(Role.LEAD)
    bypass = request_bypass(developer)
    client.force_login(lead)
    page = client.get(bypass.get_absolute_url()).content.decode()
    assert "Approve and sign" in page and "Still must sign" in page
    url = reverse("emergencies:bypass-sign", args=[bypass.identifier])
    wrong = client.post(url, {"role": "lead", "password": "nope"})
    assert wrong.status_code == 400
    assert "attempts left" in wrong.content.decode()
    assert client.post(url, {"role": "lead", "password": PASSWORD}).status_code == 302
    bypass.refresh_from_db()
    assert bypass.status == BypassRequest.Status.ACTIVE


def test_requester_sees_no_sign_form_and_posting_is_refused(client, developer):
    bypass = request_bypass(developer)
    client.force_login(developer)
    page = client.get(bypass.get_absolute_url()).content.decode()
    assert "Approve and sign" not in page and "Withdraw request" in page
    assert (
        client.post(
            reverse("emergencies:bypass-sign", args=[bypass.identifier]), {"role": "oncall", "password": PASSWORD}
        ).status_code
        == 403
    )
    assert not Signature.objects.exists()


def test_verbal_approval_through_the_page(client, oncall, commander, qms_coordinator):
    change = file_stub(oncall, commander=commander)
    bypass = BypassRequest.objects.get(change=change)
    client.force_login(qms_coordinator)
    response = client.post(
        reverse("emergencies:bypass-verbal", args=[bypass.identifier]),
        {
            "approver": commander.pk,
            "role": "commander",
            "method": "verbal",
            "approved_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
            "comment": "IC approved on the bridge",
            "password": PASSWORD,
        },
    )
    assert response.status_code == 302
    signature = Signature.objects.get()
    assert signature.recorded_by == qms_coordinator and signature.signer == commander
    client.force_login(commander)
    page = client.get(bypass.get_absolute_url()).content.decode()
    assert "Confirm with my signature" in page
    confirm = reverse("emergencies:bypass-confirm", args=[bypass.identifier, signature.pk])
    assert client.post(confirm, {"password": PASSWORD}).status_code == 302
    assert Signature.objects.filter(confirms=signature).exists()


def test_change_page_shows_who_must_still_authorise(client, oncall, commander):
    change = file_stub(oncall, commander=commander)
    client.force_login(oncall)
    page = client.get(change.get_absolute_url()).content.decode()
    assert "Emergency authorisation" in page and "still must sign" in page


def test_dashboard_lists_what_waits_for_my_signature(client, developer, make_user):
    lead = make_user(Role.LEAD)
    bypass = request_bypass(developer)
    client.force_login(lead)
    assert bypass.identifier in client.get(reverse("qms:dashboard")).content.decode()


@pytest.mark.parametrize("rows", [1, 20])
def test_bypass_pages_query_budget(client, developer, make_user, rows, django_assert_max_num_queries):
    lead = make_user(Role.LEAD)
    for _ in range(rows):
        bypass = request_bypass(developer)
    client.force_login(lead)
    client.get(reverse("qms:dashboard"))
    with django_assert_max_num_queries(12):
        assert client.get(reverse("emergencies:bypass-list")).status_code == 200
    with django_assert_max_num_queries(20):
        assert client.get(bypass.get_absolute_url()).status_code == 200


def test_api_request_sign_and_reject(developer, make_user):
    lead, other_lead = make_user(Role.LEAD), make_user(Role.LEAD)
    api = APIClient()
    api.force_authenticate(developer)
    response = api.post(
        "/api/v1/bypasses/",
        {
            "repository": "web",
            "pull_request": "#9",
            "checks": ["documentation_coverage"],
            "production_impact": "low",
            "code_quality_only": True,
            "reason": "docs bot down",
            "impact_assessment": "none",
            "risk_evaluation": "low",
            "remediation_due": "2099-01-01",
        },
        format="json",
    )
    assert response.status_code == 400 and "remediation_due" in problem_fields(response)
    response = api.post(
        "/api/v1/bypasses/",
        {
            "repository": "web",
            "pull_request": "#9",
            "checks": ["documentation_coverage"],
            "production_impact": "low",
            "code_quality_only": True,
            "reason": "docs bot down",
            "impact_assessment": "none",
            "risk_evaluation": "low",
            "remediation_due": tomorrow(),
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    identifier = response.json()["id"]
    assert identifier.startswith("BYPASS-L1-")
    assert response.json()["slots"] == [{"roles": ["lead"], "signed_by": None}]

    api.force_authenticate(lead)
    sign_url = f"/api/v1/bypasses/{identifier}/sign/"
    assert api.post(sign_url, {"role": "lead", "password": "wrong"}, format="json").status_code == 400
    response = api.post(sign_url, {"role": "lead", "password": PASSWORD}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "active"
    assert response.json()["signatures"][0]["signer"] == lead.username

    api.force_authenticate(other_lead)
    reject = api.post(
        f"/api/v1/bypasses/{identifier}/reject/",
        {"role": "lead", "password": PASSWORD, "reason": "too late"},
        format="json",
    )
    assert reject.status_code == 400  # no longer awaiting signatures


def test_api_separation_of_duties_is_403(developer):
    api = APIClient()
    api.force_authenticate(developer)
    response = api.post(
        "/api/v1/bypasses/",
        {
            "repository": "web",
            "pull_request": "#9",
            "checks": ["documentation_coverage"],
            "production_impact": "low",
            "code_quality_only": True,
            "reason": "r",
            "impact_assessment": "i",
            "risk_evaluation": "low",
            "remediation_due": tomorrow(),
        },
        format="json",
    )
    identifier = response.json()["id"]
    response = api.post(f"/api/v1/bypasses/{identifier}/sign/", {"role": "lead", "password": PASSWORD}, format="json")
    assert response.status_code == 403

"""Recording someone else's verbal or written approval: who may record it, for whom, and when it may have
been given. One predicate (``emergencies.permissions.approval_recording_refusal``) decides who; the
service enforces it and the bounds on the time, and the page and the API answer what the service says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from emergencies import permissions
from emergencies.models import BypassRequest, ChangeRecord
from emergencies.services.bypasses import bypass_verbal_approval_record
from qms.models import Signature
from qms.procedures import VERBAL_RECORDER_ROLES, ProcedureRules
from qms.roles import READ_ONLY_ROLES, Role
from tests.emergencies.services.test_bypasses import request_bypass
from tests.factories import PASSWORD, api_token, file_stub
from tests.problems import problem_fields

pytestmark = pytest.mark.django_db

RECORDERS = {Role(r) for r in VERBAL_RECORDER_ROLES}


@pytest.fixture
def stub(oncall, commander):
    """An emergency stub filed by the on-call engineer (its requester and implementer), waiting for the IC."""
    change = file_stub(oncall, commander=commander)
    return BypassRequest.objects.get(change=change)


def record(bypass, recorder, approver, *, approved_at=None, role=Role.COMMANDER):
    return bypass_verbal_approval_record(
        bypass_id=bypass.pk,
        approver=approver,
        role=role,
        approved_at=approved_at or timezone.now(),
        recorded_by=recorder,
        password=PASSWORD,
        comment="IC approved on the bridge call",
    )


def form_data(approver, *, approved_at=None):
    when = timezone.localtime(approved_at or timezone.now())
    return {
        "approver": approver.pk,
        "role": "commander",
        "method": "verbal",
        "approved_at": when.strftime("%Y-%m-%dT%H:%M"),
        "comment": "IC approved on the bridge",
        "password": PASSWORD,
    }


def api_data(approver, *, approved_at=None):
    return {
        "approver": approver.username,
        "role": "commander",
        "method": "verbal",
        "approved_at": (approved_at or timezone.now()).isoformat(),
        "comment": "IC approved on the bridge",
        "password": PASSWORD,
    }


def api_for(user) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {api_token(user)[1]}")
    return api


def assert_nothing_recorded(bypass):
    bypass.refresh_from_db()
    assert bypass.status == BypassRequest.Status.PENDING
    assert not Signature.objects.exists()
    assert ChangeRecord.objects.get(pk=bypass.change_id).status == ChangeRecord.Status.STUB


# --- who may record ------------------------------------------------------------------------------------------


def test_the_recorder_roles_are_procedure_data_and_never_read_only():
    assert set(READ_ONLY_ROLES).isdisjoint(RECORDERS)
    assert Role.AUDITOR not in RECORDERS
    rules = ProcedureRules({"verbal_recorder_roles": ["qms", "auditor"]})
    assert rules.verbal_recorder_roles == [Role.QMS]  # a read-only role never counts, even if listed


@pytest.mark.parametrize("role", list(Role))
def test_the_predicate_follows_the_procedures_roles(stub, make_user, role):
    user = make_user(role)
    assert permissions.can_record_approval(stub, user) == (role in RECORDERS)


@pytest.mark.parametrize("role", list(Role))
def test_recording_through_the_page_per_role(client, stub, commander, make_user, role):
    client.force_login(make_user(role))
    response = client.post(reverse("emergencies:bypass-verbal", args=[stub.identifier]), form_data(commander))
    if role in RECORDERS:
        assert response.status_code == 302
        assert Signature.objects.get().recorded_by.has_role(role)
    else:
        assert response.status_code == 403
        assert_nothing_recorded(stub)


@pytest.mark.parametrize("role", list(Role))
def test_recording_through_the_api_per_role(stub, commander, make_user, role):
    api = api_for(make_user(role))
    response = api.post(
        reverse("api-bypass-verbal-approvals", args=[stub.identifier]), api_data(commander), format="json"
    )
    if role in RECORDERS:
        assert response.status_code == 201, response.content
        assert response.json()["status"] == "active"
        assert Signature.objects.get().method == "verbal"
    else:
        assert response.status_code == 403
        assert_nothing_recorded(stub)


def test_an_auditor_cannot_record_in_the_service(stub, commander, auditor):
    with pytest.raises(PermissionDenied, match="Recording an approval needs one of these roles"):
        record(stub, auditor, commander)
    assert_nothing_recorded(stub)


def test_an_auditor_sees_no_recording_form(client, stub, auditor):
    client.force_login(auditor)
    assert client.get(stub.get_absolute_url()).context["verbal_form"] is None


# --- three different people ------------------------------------------------------------------------------------


def test_the_requester_cannot_record_an_approval_of_their_own_request(client, stub, oncall, commander):
    with pytest.raises(PermissionDenied, match="requester"):
        record(stub, oncall, commander)
    client.force_login(oncall)
    assert client.get(stub.get_absolute_url()).context["verbal_form"] is None
    assert (
        client.post(reverse("emergencies:bypass-verbal", args=[stub.identifier]), form_data(commander)).status_code
        == 403
    )
    response = api_for(oncall).post(
        reverse("api-bypass-verbal-approvals", args=[stub.identifier]), api_data(commander), format="json"
    )
    assert response.status_code == 403 and "requester" in response.json()["detail"]
    assert_nothing_recorded(stub)


def test_the_implementer_cannot_record_and_cannot_be_recorded_for(client, make_user):
    requester = make_user(Role.ONCALL)
    implementer = make_user(Role.ONCALL, Role.LEAD)
    lead = make_user(Role.LEAD)
    recorder = make_user(Role.QMS)
    bypass = request_bypass(requester, implementer=implementer)
    with pytest.raises(PermissionDenied, match="implementer"):
        record(bypass, implementer, lead, role=Role.LEAD)
    with pytest.raises(PermissionDenied, match="implementer"):
        record(bypass, recorder, implementer, role=Role.LEAD)
    client.force_login(implementer)
    url = reverse("emergencies:bypass-verbal", args=[bypass.identifier])
    assert client.post(url, {**form_data(lead), "role": "lead"}).status_code == 403
    response = api_for(implementer).post(
        reverse("api-bypass-verbal-approvals", args=[bypass.identifier]),
        {**api_data(lead), "role": "lead"},
        format="json",
    )
    assert response.status_code == 403
    client.force_login(recorder)
    page = client.get(bypass.get_absolute_url())
    offered = {str(pk) for pk, _ in page.context["verbal_form"].fields["approver"].choices if pk}
    assert str(implementer.pk) not in offered and str(lead.pk) in offered
    assert not Signature.objects.exists()
    record(bypass, recorder, lead, role=Role.LEAD)  # three different people: accepted
    assert Signature.objects.get().signer == lead


def test_nobody_records_their_own_approval(stub, make_user):
    both = make_user(Role.QMS, Role.COMMANDER)
    with pytest.raises(PermissionDenied, match="Sign your own approval"):
        record(stub, both, both)
    assert_nothing_recorded(stub)


# --- when the approval was given -------------------------------------------------------------------------------


def test_an_approval_from_before_the_request_is_refused_everywhere(client, stub, commander, qms_coordinator):
    long_ago = datetime(2019, 1, 1, tzinfo=UTC)
    with pytest.raises(ValidationError) as refused:
        record(stub, qms_coordinator, commander, approved_at=long_ago)
    assert "before the request existed" in refused.value.message_dict["approved_at"][0]
    client.force_login(qms_coordinator)
    page = client.post(
        reverse("emergencies:bypass-verbal", args=[stub.identifier]), form_data(commander, approved_at=long_ago)
    )
    assert page.status_code == 400
    assert "before the request existed" in page.context["verbal_form"].errors["approved_at"][0]
    response = api_for(qms_coordinator).post(
        reverse("api-bypass-verbal-approvals", args=[stub.identifier]),
        api_data(commander, approved_at=long_ago),
        format="json",
    )
    assert response.status_code == 400 and "before the request existed" in problem_fields(response)["approved_at"][0]
    assert_nothing_recorded(stub)


def test_an_approval_older_than_the_procedures_allowance_is_refused(oncall, commander, qms_coordinator):
    filed = timezone.now() - timedelta(hours=40)
    change = file_stub(oncall, commander=commander, now=filed)
    bypass = BypassRequest.objects.get(change=change)
    assert bypass.rules.verbal_recording_max_age == timedelta(hours=24)  # the confirmation window
    with pytest.raises(ValidationError) as refused:
        record(bypass, qms_coordinator, commander, approved_at=filed + timedelta(hours=1))
    assert "within 24 hours" in refused.value.message_dict["approved_at"][0]
    assert_nothing_recorded(bypass)
    record(bypass, qms_coordinator, commander, approved_at=timezone.now() - timedelta(hours=23))
    assert Signature.objects.count() == 1


def test_an_approval_in_the_future_is_refused(stub, commander, qms_coordinator):
    with pytest.raises(ValidationError) as refused:
        record(stub, qms_coordinator, commander, approved_at=timezone.now() + timedelta(minutes=5))
    assert "future" in refused.value.message_dict["approved_at"][0]
    assert_nothing_recorded(stub)


def test_an_approval_in_the_requests_own_minute_counts_from_the_request(stub, commander, qms_coordinator):
    same_minute = stub.requested_at.replace(second=0, microsecond=0)
    record(stub, qms_coordinator, commander, approved_at=same_minute)
    signature = Signature.objects.get()
    assert signature.approved_at == stub.requested_at

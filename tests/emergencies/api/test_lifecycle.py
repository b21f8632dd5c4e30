"""The UI's writes on a change and a bypass, through the API (issue 15): same services, same permissions,
separation of duties and signatures; answers as the schema says."""

import pytest
from rest_framework.test import APIClient

from emergencies.models import BypassRequest, ChangeRecord, GateResult
from emergencies.models.postincident import RollbackTriggerReading as RollbackReading
from emergencies.services import change_record_transition
from qms.models import Signature
from qms.roles import Role
from tests.api_schema import assert_conforms, served_schema
from tests.emergencies.services.test_bypasses import request_bypass
from tests.factories import PASSWORD, api_token, authorise, file_stub, ready_to_deploy
from tests.problems import problem_fields

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(make_user):
    return {
        "author": make_user(Role.ONCALL, username="author"),
        "reviewer": make_user(Role.ONCALL, username="reviewer"),
        "commander": make_user(Role.COMMANDER, username="ic"),
        "lead": make_user(Role.LEAD, username="lead"),
        "auditor": make_user(Role.AUDITOR, username="aud"),
        "qms": make_user(Role.QMS, username="qmsc"),
    }


def as_(user, *, token=False, scopes=None):
    client = APIClient()
    if token:
        _, secret = api_token(user, scopes=scopes)
        client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    else:
        client.force_login(user)
    return client


def url(change, tail=""):
    return f"/api/v1/emergencies/{change.identifier}/{tail}"


def test_transition_checklist_hotfix_review_and_deployment_checklist(people):
    change = file_stub(people["author"], commander=people["commander"])
    authorise(change, people["commander"])
    author = as_(people["author"], token=True)
    response = author.post(url(change, "transitions/"), {"transition": "start_hotfix"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "hotfix_in_progress" and response["ETag"]
    bad = author.post(url(change, "transitions/"), {"transition": "close"}, format="json")
    assert bad.status_code == 400 and bad["Content-Type"] == "application/problem+json"
    ok = author.post(url(change, "checklist/"), {"item": "monitoring_active", "done": True}, format="json")
    assert ok.status_code == 200 and ChangeRecord.objects.get(pk=change.pk).monitoring_active
    assert "item" in problem_fields(author.post(url(change, "checklist/"), {"item": "x", "done": True}, format="json"))
    # the author never reviews their own hotfix; a second engineer does
    assert author.post(url(change, "hotfix-review/"), {}, format="json").status_code == 403
    assert as_(people["reviewer"]).post(url(change, "hotfix-review/"), {}, format="json").status_code == 200
    assert ChangeRecord.objects.get(pk=change.pk).hotfix_reviewer == people["reviewer"]
    flag = author.post(url(change, "deployment-checklist/"), {"flag": "smoke_test_passed", "done": True}, format="json")
    assert flag.status_code == 200 and ChangeRecord.objects.get(pk=change.pk).smoke_test_passed


def test_an_auditor_writes_nothing(people):
    change = file_stub(people["author"])
    auditor = as_(people["auditor"])
    for tail, body in [
        ("transitions/", {"transition": "start_hotfix"}),
        ("checklist/", {"item": "monitoring_active", "done": True}),
        ("hotfix-review/", {}),
        ("deployment-checklist/", {"flag": "smoke_test_passed", "done": True}),
        ("rollback-readings/", {"error_rate_increase_pct": "1", "response_time_ratio": "1", "new_critical_errors": 0}),
        ("gate-results/", {"gate": "unit_tests", "result": "passed", "evidence": "run"}),
    ]:
        assert auditor.post(url(change, tail), body, format="json").status_code in (400, 403), tail
    assert auditor.patch(url(change, "documentation/"), {"root_cause": "x"}, format="json").status_code == 403
    change.refresh_from_db()
    assert change.status == "stub" and not change.monitoring_active and change.root_cause == ""
    assert not RollbackReading.objects.exists() and not GateResult.objects.exists()


def test_rollback_reading_documentation_and_gate_results(people):
    change = file_stub(people["author"], commander=people["commander"])
    authorise(change, people["commander"])
    author = as_(people["author"])
    reading = {"error_rate_increase_pct": "12.5", "response_time_ratio": "1.2", "new_critical_errors": 0}
    assert author.post(url(change, "rollback-readings/"), reading, format="json").status_code == 400  # not deployed
    doc = author.patch(url(change, "documentation/"), {"root_cause": "Expired cert"}, format="json")
    assert doc.status_code == 200 and ChangeRecord.objects.get(pk=change.pk).root_cause == "Expired cert"
    emptied = author.patch(url(change, "documentation/"), {"problem_statement": ""}, format="json")
    assert "problem_statement" in problem_fields(emptied)
    stale = author.patch(url(change, "documentation/"), {"root_cause": "y"}, format="json", HTTP_IF_MATCH='"old"')
    assert stale.status_code == 412 and ChangeRecord.objects.get(pk=change.pk).root_cause == "Expired cert"
    change_record_transition(change_id=change.pk, transition="start_hotfix", actor=people["author"])
    ready_to_deploy(change, people["reviewer"])
    change_record_transition(change_id=change.pk, transition="deploy", actor=people["author"], reason="go")
    assert author.post(url(change, "rollback-readings/"), reading, format="json").status_code == 201
    assert RollbackReading.objects.get(change=change).recorded_by == people["author"]
    first_check = BypassRequest.objects.get(change=change).checks[0]
    gate = {"gate": first_check, "result": "passed", "evidence": "CI run 812"}
    assert as_(people["author"]).post(url(change, "gate-results/"), gate, format="json").status_code == 403
    assert as_(people["qms"]).post(url(change, "gate-results/"), gate, format="json").status_code == 201
    assert GateResult.objects.get(change=change).validated_by == people["qms"]


def test_a_token_needs_the_integrations_scope_for_lifecycle_writes(people):
    change = file_stub(people["author"])
    read_only = as_(people["author"], token=True, scopes=["read", "file_stubs", "sign"])
    response = read_only.post(url(change, "checklist/"), {"item": "monitoring_active", "done": True}, format="json")
    assert response.status_code == 403 and "integrations" in response.json()["detail"]


def test_verbal_approval_confirmation_withdrawal_and_remediation(people, make_user):
    security = make_user(Role.SECURITY, username="secofficer")
    change = file_stub(people["author"], commander=people["commander"])
    bypass = BypassRequest.objects.get(change=change)
    base = f"/api/v1/bypasses/{bypass.identifier}/"
    verbal = {
        "approver": "ic",
        "role": "commander",
        "method": "verbal",
        # given after the request was filed (never before it existed)
        "approved_at": bypass.requested_at.isoformat(),
        "comment": "By phone on the bridge",
        "password": PASSWORD,
    }
    wrong = as_(security).post(base + "verbal-approvals/", {**verbal, "password": "nope"}, format="json")
    assert wrong.status_code == 400 and not Signature.objects.filter(subject_id=bypass.pk).exists()
    response = as_(security).post(base + "verbal-approvals/", verbal, format="json")
    assert response.status_code == 201, response.content
    signature = Signature.objects.get(subject_id=bypass.pk, method="verbal")
    assert signature.recorded_by == security and response.json()["status"] == "active"
    confirm = base + f"signatures/{signature.pk}/confirmation/"
    assert as_(security).post(confirm, {"password": PASSWORD}, format="json").status_code in (400, 403)
    assert as_(people["commander"]).post(confirm, {"password": PASSWORD}, format="json").status_code == 200
    assert Signature.objects.get(pk=signature.pk).confirmation is not None

    standalone = request_bypass(people["author"])
    other = f"/api/v1/bypasses/{standalone.identifier}/"
    assert as_(people["lead"]).post(other + "withdrawal/", {"reason": "no"}, format="json").status_code in (400, 403)
    out = as_(people["author"]).post(other + "withdrawal/", {"reason": "Fixed the check"}, format="json")
    assert out.status_code == 200 and out.json()["status"] == "withdrawn"
    refused = as_(people["qms"]).post(other + "remediations/", {"gate": "unit_tests", "evidence": "x"}, format="json")
    assert refused.status_code == 400


def test_new_write_answers_match_the_schema(people):
    change = file_stub(people["author"], commander=people["commander"])
    schema = served_schema(APIClient(), people["author"])
    author = as_(people["author"])
    path = "/api/v1/emergencies/{identifier}/"
    response = author.post(url(change, "checklist/"), {"item": "monitoring_active", "done": True}, format="json")
    assert_conforms(schema, "POST", path + "checklist/", response)
    assert_conforms(schema, "POST", path + "hotfix-review/", author.post(url(change, "hotfix-review/"), {}))
    assert_conforms(schema, "PATCH", path + "documentation/", author.patch(url(change, "documentation/"), {}))
    bypass = BypassRequest.objects.get(change=change)
    response = author.post(f"/api/v1/bypasses/{bypass.identifier}/withdrawal/", {}, format="json")
    assert_conforms(schema, "POST", "/api/v1/bypasses/{identifier}/withdrawal/", response)

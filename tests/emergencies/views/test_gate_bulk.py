"""Several gates validated in one form, all or nothing; the deployment checklist ticked in place (htmx)."""

import pytest
from django.urls import reverse

from audits.models import AuditEvent
from emergencies.models import BypassRequest, GateResult
from emergencies.services import change_record_transition
from emergencies.services import postincident as pi
from qms.roles import Role
from tests.factories import authorise, file_stub

pytestmark = pytest.mark.django_db


@pytest.fixture
def hotfix(oncall, commander):
    change = file_stub(oncall, commander=commander)
    authorise(change, commander)
    return change_record_transition(change_id=change.pk, transition="start_hotfix", actor=oncall)


@pytest.fixture
def qms(make_user):
    return make_user(Role.QMS, username="qms")


def test_every_gate_in_one_post_remediates_the_bypass(client, hotfix, qms):
    gates = pi.gate_catalogue(hotfix)
    assert len(gates) >= 5
    client.force_login(qms)
    data = {f"result-{g}": "passed" for g in gates} | {"evidence-all": "CI run #4411: full pipeline green"}
    data[f"evidence-{gates[0]}"] = "Report QA-17"
    response = client.post(reverse("emergencies:gate-results-bulk", args=[hotfix.identifier]), data, follow=True)
    assert f"{len(gates)} gate results recorded." in response.content.decode()
    results = {r.gate: r for r in GateResult.objects.filter(change=hotfix)}
    assert set(results) == set(gates)
    assert results[gates[0]].evidence == "Report QA-17"
    assert results[gates[1]].evidence == "CI run #4411: full pipeline green"
    assert BypassRequest.objects.get(change=hotfix).status == BypassRequest.Status.REMEDIATED
    assert AuditEvent.objects.filter(action="gate.passed", subject_id=str(hotfix.pk)).count() == len(gates)


def test_blank_rows_are_left_alone(client, hotfix, qms):
    gates = pi.gate_catalogue(hotfix)
    client.force_login(qms)
    data = {f"result-{gates[0]}": "passed", f"evidence-{gates[0]}": "ok", f"result-{gates[1]}": ""}
    client.post(reverse("emergencies:gate-results-bulk", args=[hotfix.identifier]), data)
    assert list(GateResult.objects.values_list("gate", flat=True)) == [gates[0]]


def test_one_bad_row_records_nothing_and_says_which(client, hotfix, qms):
    gates = pi.gate_catalogue(hotfix)
    client.force_login(qms)
    data = {f"result-{gates[0]}": "passed", f"evidence-{gates[0]}": "ok", f"result-{gates[1]}": "passed"}
    response = client.post(reverse("emergencies:gate-results-bulk", args=[hotfix.identifier]), data, follow=True)
    page = response.content.decode()
    assert "Attach or describe the evidence." in page
    assert not GateResult.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="gate.").exists()


def test_nothing_chosen_is_a_clear_error(client, hotfix, qms):
    client.force_login(qms)
    response = client.post(reverse("emergencies:gate-results-bulk", args=[hotfix.identifier]), {}, follow=True)
    assert "Choose a result for at least one gate." in response.content.decode()


def test_the_service_refuses_the_author_a_waiver_by_a_non_qms_and_duplicates(hotfix, oncall, make_user):
    from django.core.exceptions import PermissionDenied, ValidationError

    gate = pi.gate_catalogue(hotfix)[0]
    with pytest.raises(PermissionDenied):
        pi.gate_results_record(change_id=hotfix.pk, results=[(gate, "passed", "x")], actor=oncall)
    with pytest.raises(PermissionDenied):
        pi.gate_results_record(change_id=hotfix.pk, results=[(gate, "waived", "x")], actor=make_user(Role.QUALITY))
    with pytest.raises(ValidationError, match="once"):
        pi.gate_results_record(
            change_id=hotfix.pk, results=[(gate, "passed", "x"), (gate, "failed", "y")], actor=make_user(Role.QMS)
        )
    assert not GateResult.objects.exists()


def test_an_auditor_cannot_post_results(client, hotfix, make_user):
    client.force_login(make_user(Role.AUDITOR))
    gate = pi.gate_catalogue(hotfix)[0]
    url = reverse("emergencies:gate-results-bulk", args=[hotfix.identifier])
    assert client.post(url, {f"result-{gate}": "passed", f"evidence-{gate}": "x"}).status_code == 403
    assert not GateResult.objects.exists()


def test_the_deployment_checklist_ticks_in_place(client, hotfix, oncall):
    client.force_login(oncall)
    url = reverse("emergencies:deployment-flag", args=[hotfix.identifier])
    response = client.post(url, {"flag": "smoke_test_passed", "done": "1"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    fragment = response.content.decode()
    assert fragment.lstrip().startswith('<ul class="checklist" id="deployment-checklist">')
    assert 'aria-checked="true"' in fragment and "<html" not in fragment
    hotfix.refresh_from_db()
    assert hotfix.smoke_test_passed
    response = client.post(url, {"flag": "nonsense", "done": "1"}, HTTP_HX_REQUEST="true")
    assert "Unknown checklist item" in response.content.decode()

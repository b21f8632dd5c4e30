"""API writes on a change beyond its lifecycle (issue 15): the commander's signed deviation, re-requesting the
authorisation, gate results in bulk, the incident, the war room, the post-mortem's timeline and preventive
measures, compliance reports, obligations and the signing unlock. Each through the page's service, so with
its rights; a refusal changes nothing; a retried request writes once; a stale write is 412."""

import pytest
from django.utils import timezone

from audits.models import ComplianceReport, Obligation
from emergencies.models import GateResult, Incident, PreventiveMeasure, WarRoomEntry
from emergencies.services import change_record_transition, warroom
from emergencies.services import postincident as pi
from emergencies.services.communication import StatusUpdateInput, status_update_post
from qms.models import ApiToken, Signature, SignerState
from qms.roles import Role
from tests.emergencies.api.test_lifecycle import as_
from tests.factories import PASSWORD, authorise, file_stub
from tests.problems import problem_fields

pytestmark = pytest.mark.django_db


def url(change, tail):
    return f"/api/v1/emergencies/{change.identifier}/{tail}"


def test_the_deviation_is_signed_by_the_commander_only_and_once(oncall, commander, auditor):
    change = file_stub(oncall, commander=commander)
    body = {"reason": "Checkout down, verbal go-ahead", "password": PASSWORD}
    before = Signature.objects.count()
    assert as_(oncall, token=True).post(url(change, "proceed-deviation/"), body, format="json").status_code == 403
    assert as_(auditor, token=True).post(url(change, "proceed-deviation/"), body, format="json").status_code == 403
    no_scope = as_(commander, token=True, scopes=[ApiToken.Scope.INTEGRATIONS])
    assert no_scope.post(url(change, "proceed-deviation/"), body, format="json").status_code == 403
    wrong = as_(commander, token=True).post(url(change, "proceed-deviation/"), {**body, "password": "x"}, format="json")
    assert wrong.status_code in (400, 403)
    assert Signature.objects.count() == before

    api = as_(commander, token=True)
    first = api.post(url(change, "proceed-deviation/"), body, format="json", HTTP_IDEMPOTENCY_KEY="dev-1")
    again = api.post(url(change, "proceed-deviation/"), body, format="json", HTTP_IDEMPOTENCY_KEY="dev-1")
    assert first.status_code == again.status_code == 200, first.content
    assert again["Idempotent-Replayed"] == "true"
    assert Signature.objects.count() == before + 1


def test_nothing_to_re_request_while_the_authorisation_is_pending(oncall, auditor):
    change = file_stub(oncall)
    assert as_(auditor, token=True).post(url(change, "authorisation-requests/"), {}, format="json").status_code == 403
    pending = as_(oncall, token=True).post(url(change, "authorisation-requests/"), {}, format="json")
    assert pending.status_code == 400 and pending["Content-Type"] == "application/problem+json"


@pytest.fixture
def hotfix(oncall, commander):
    change = file_stub(oncall, commander=commander)
    authorise(change, commander)
    return change_record_transition(change_id=change.pk, transition="start_hotfix", actor=oncall)


def test_gate_results_in_bulk_all_or_nothing(hotfix, oncall, qms_coordinator, auditor):
    gates = pi.gate_catalogue(hotfix)
    rows = [{"gate": g, "result": "passed"} for g in gates]
    body = {"results": rows, "evidence_for_all": "CI run 4411: green"}
    assert as_(auditor, token=True).post(url(hotfix, "gate-results/bulk/"), body, format="json").status_code == 403
    assert as_(oncall, token=True).post(url(hotfix, "gate-results/bulk/"), body, format="json").status_code == 403
    twice = {**body, "results": [rows[0], rows[0]]}
    assert (
        as_(qms_coordinator, token=True).post(url(hotfix, "gate-results/bulk/"), twice, format="json").status_code
        == 400
    )
    hostile = {**body, "results": [{"gate": "rm -rf", "result": "passed"}]}
    refused = as_(qms_coordinator, token=True).post(url(hotfix, "gate-results/bulk/"), hostile, format="json")
    assert refused.status_code == 400 and not GateResult.objects.exists()
    api = as_(qms_coordinator, token=True)
    done = api.post(url(hotfix, "gate-results/bulk/"), body, format="json", HTTP_IDEMPOTENCY_KEY="bulk-1")
    api.post(url(hotfix, "gate-results/bulk/"), body, format="json", HTTP_IDEMPOTENCY_KEY="bulk-1")
    assert done.status_code == 201, done.content
    assert GateResult.objects.filter(change=hotfix).count() == len(gates)


def test_the_incident_is_completed_with_a_reason_and_if_match(oncall, auditor):
    change = file_stub(oncall)
    path = url(change, "incident/")
    api = as_(oncall, token=True)
    assert as_(auditor, token=True).patch(path, {"severity": "HIGH", "reason": "x"}, format="json").status_code == 403
    assert problem_fields(api.patch(path, {"severity": "HIGH"}, format="json")).keys() >= {"reason"}
    stale = api.patch(path, {"severity": "HIGH", "reason": "impact"}, format="json", HTTP_IF_MATCH='"old"')
    assert stale.status_code == 412
    hostile = api.patch(path, {"detection_source": "<script>", "reason": "impact"}, format="json")
    assert hostile.status_code == 400
    assert Incident.objects.get(pk=change.incident_id).affected_systems == change.incident.affected_systems
    etag = api.get(url(change, ""))["ETag"]
    done = api.patch(
        path, {"affected_systems": "SN-7\nSN-8", "reason": "fleet list"}, format="json", HTTP_IF_MATCH=etag
    )
    assert done.status_code == 200, done.content
    assert "SN-8" in Incident.objects.get(pk=change.incident_id).affected_systems


def test_war_room_entries_listed_with_a_cursor_and_posted_by_responders(oncall, commander, auditor):
    change = file_stub(oncall, commander=commander)
    path = url(change, "war-room/entries/")
    api = as_(commander, token=True)
    assert as_(auditor, token=True).post(path, {"text": "hello"}, format="json").status_code == 403
    assert api.post(path, {"text": "fix", "corrects": 999999}, format="json").status_code == 400
    assert api.post(path, {"text": "x", "kind": "gossip"}, format="json").status_code == 400
    first = api.post(path, {"kind": "decision", "text": "Roll back"}, format="json", HTTP_IDEMPOTENCY_KEY="e-1")
    api.post(path, {"kind": "decision", "text": "Roll back"}, format="json", HTTP_IDEMPOTENCY_KEY="e-1")
    assert first.status_code == 201, first.content
    assert WarRoomEntry.objects.filter(change=change).count() == 1
    correction = api.post(path, {"text": "Roll back to 4.1", "corrects": first.json()["id"]}, format="json")
    assert correction.status_code == 201 and correction.json()["corrects"] == first.json()["id"]
    for n in range(3):
        warroom.war_room_entry_post(change_id=change.pk, text=f"note {n}", actor=oncall)

    page = as_(auditor, token=True).get(path, {"page_size": 2})
    assert page.status_code == 200 and len(page.json()["results"]) == 2 and page.json()["next"]
    seen = [e["id"] for e in page.json()["results"]]
    while page.json()["next"]:
        page = as_(auditor, token=True).get(page.json()["next"])
        seen += [e["id"] for e in page.json()["results"]]
    assert seen == list(
        WarRoomEntry.objects.filter(change=change).order_by("posted_at", "pk").values_list("pk", flat=True)
    )
    newest = as_(auditor, token=True).get(path, {"ordering": "-posted_at"}).json()["results"]
    assert newest[0]["id"] == seen[-1]
    assert as_(auditor, token=True).get(path, {"ordering": "text"}).status_code == 400
    assert as_(auditor, token=True).get(path, {"page_size": 100000}).status_code == 400


def test_the_war_room_list_costs_the_same_queries_for_more_rows(oncall, commander, django_assert_max_num_queries):
    change = file_stub(oncall, commander=commander)
    api = as_(commander)
    api.get(url(change, "war-room/entries/"))
    for n in range(30):
        warroom.war_room_entry_post(change_id=change.pk, text=f"note {n}", actor=oncall)
    with django_assert_max_num_queries(12):
        assert len(api.get(url(change, "war-room/entries/")).json()["results"]) == 30


def test_post_mortem_timeline_from_the_war_room_and_preventive_measures(oncall, commander, auditor):
    change = file_stub(oncall, commander=commander)
    decision = warroom.war_room_entry_post(change_id=change.pk, text="roll back", kind="decision", actor=commander)
    pi.post_mortem_start(change_id=change.pk, actor=oncall)
    prefill = url(change, "post-mortem/timeline-prefill/")
    api = as_(oncall, token=True)
    assert as_(auditor, token=True).post(prefill, {"rows": [f"entry-{decision.pk}"]}, format="json").status_code == 403
    assert api.post(prefill, {"rows": ["entry-999999"]}, format="json").status_code == 400
    done = api.post(prefill, {"rows": [f"entry-{decision.pk}"]}, format="json")
    assert done.status_code == 200 and any("roll back" in row for row in done.json()["timeline"])

    measures = url(change, "post-mortem/preventive-measures/")
    body = {"measure": "Alert before certificates expire", "category": "monitoring", "priority": "High"}
    assert as_(auditor, token=True).post(measures, body, format="json").status_code in (403, 404)
    assert api.post(measures, {**body, "category": "vibes"}, format="json").status_code == 400
    added = api.post(measures, body, format="json", HTTP_IDEMPOTENCY_KEY="m-1")
    api.post(measures, body, format="json", HTTP_IDEMPOTENCY_KEY="m-1")
    assert added.status_code == 201, added.content
    assert [m["measure"] for m in added.json()["preventive_measures"]] == [body["measure"]]
    assert PreventiveMeasure.objects.count() == 1


def test_reports_generated_by_a_qms_coordinator_read_by_oversight(qms_coordinator, auditor, oncall):
    body = {"kind": "weekly", "date": timezone.now().date().isoformat()}
    assert as_(auditor, token=True).post("/api/v1/reports/", body, format="json").status_code == 403
    assert as_(oncall, token=True).post("/api/v1/reports/", body, format="json").status_code == 403
    bad = as_(qms_coordinator, token=True).post("/api/v1/reports/", {**body, "kind": "hourly"}, format="json")
    assert bad.status_code == 400 and "kind" in problem_fields(bad)
    assert not ComplianceReport.objects.exists()
    made = as_(qms_coordinator, token=True).post("/api/v1/reports/", body, format="json")
    assert made.status_code == 201, made.content
    listed = as_(auditor, token=True).get("/api/v1/reports/")
    assert listed.status_code == 200 and [r["id"] for r in listed.json()["results"]] == [made.json()["id"]]
    assert as_(auditor, token=True).get(f"/api/v1/reports/{made.json()['id']}/").json()["sha256"]
    assert as_(oncall, token=True).get("/api/v1/reports/").status_code == 403


def test_an_obligation_is_met_with_evidence(oncall, make_user, auditor):
    from tests.audits.test_post_deployment_clocks import clock, deployed_cm_wf_change
    from tests.emergencies.services.test_ccb import make_board

    board = make_board(make_user)
    change = deployed_cm_wf_change(oncall, board)
    monitoring = clock(change, "post_deployment_monitoring")
    path = f"/api/v1/obligations/{monitoring.pk}/evidence/"
    body = {"evidence": "30 days: nominal, no rollback"}
    early = as_(board.cm, token=True).post(path, body, format="json")
    assert early.status_code == 400 and Obligation.objects.get(pk=monitoring.pk).is_open
    status_update_post(change_id=change.pk, data=StatusUpdateInput(current_status="Day 30: quiet"), actor=oncall)
    assert as_(auditor, token=True).post(path, body, format="json").status_code == 403
    assert Obligation.objects.get(pk=monitoring.pk).is_open
    met = as_(board.cm, token=True).post(path, body, format="json")
    assert met.status_code == 200, met.content
    assert met.json()["satisfied_by"] == board.cm.username
    missing = as_(board.cm, token=True).post("/api/v1/obligations/999999/preventive-change/", {}, format="json")
    assert missing.status_code == 404


def test_signing_is_unlocked_by_a_security_officer_with_a_reason(make_user, security, auditor):
    locked = make_user(Role.LEAD, username="locked")
    SignerState.objects.create(user=locked, consecutive_failures=5, locked_at=timezone.now())
    path = f"/api/v1/users/{locked.pk}/signing/unlock/"
    assert as_(locked, token=True).post(path, {"reason": "it was me"}, format="json").status_code == 403
    assert as_(auditor, token=True).post(path, {"reason": "checked"}, format="json").status_code == 404
    assert as_(security, token=True).post(path, {"reason": "  "}, format="json").status_code == 400
    assert SignerState.objects.get(user=locked).locked_at is not None
    assert as_(locked, token=True).get(f"/api/v1/users/{locked.pk}/signing/").json()["locked_at"]
    done = as_(security, token=True).post(path, {"reason": "Identity checked on a call"}, format="json")
    assert done.status_code == 200 and done.json()["locked_at"] is None
    assert SignerState.objects.get(user=locked).locked_at is None
    assert as_(security, token=True).post(path, {"reason": "again"}, format="json").status_code == 400

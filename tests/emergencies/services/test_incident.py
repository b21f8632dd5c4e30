"""The incident is completed after filing: commander (told), severity on the S1-S4 scale re-anchoring the
response clock, detection time and source, affected systems feeding the patch distribution; every edit in
the history with its user and reason."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from audits.models import AuditEvent, Obligation
from emergencies.models import Incident
from emergencies.services.incident import incident_update
from emergencies.services.patches import affected_units
from qms.models import Notification
from qms.procedures import PRESETS, ProcedureRules
from qms.roles import Role
from tests.factories import file_stub

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
QMS_V1 = "qms-emergency-bypass-v1"


def triage(change):
    return Obligation.objects.get(kind="triage", subject_id=change.pk, subject_type__model="changerecord")


def test_s1_to_s4_classification_is_procedure_data():
    rules = ProcedureRules(next(p for p in PRESETS if p["code"] == QMS_V1)["definition"])
    response = {s: next(c for c in rules.clocks(s) if c.kind == "triage") for s in ("S1", "S2", "S3", "S4")}
    assert [(c.amount, c.unit) for c in response.values()] == [
        (15, "minutes"),
        (1, "hours"),
        (4, "hours"),
        (24, "hours"),
    ]
    assert [rules.severity_class(s)["bypass_level"] for s in ("S1", "S2", "S3", "S4")] == ["E", "L3", "L2", "L1"]
    assert [a["label"] for a in rules.severity_class("S4")["actions"]] == ["5-day review", "Technical-debt tracking"]


def test_commander_assigned_after_filing_is_told_and_owns_the_commanders_clocks(
    oncall, commander, django_capture_on_commit_callbacks
):
    change = file_stub(oncall, procedure_code=QMS_V1, now=T0)
    assert triage(change).owner == oncall  # nobody named yet: the author holds it
    with django_capture_on_commit_callbacks(execute=True):
        incident_update(incident_id=change.incident_id, actor=oncall, reason="Carlos is on call", commander=commander)
    incident = Incident.objects.get(pk=change.incident_id)
    assert incident.commander == commander
    assert triage(change).owner == commander
    assert Notification.objects.filter(recipient=commander, dedupe_key__startswith="incident-commander:").exists()
    row = incident.history.first()
    assert row.history_user == oncall and row.history_change_reason == "Carlos is on call"
    assert AuditEvent.objects.filter(action="incident.updated", actor=oncall).exists()


def test_severity_and_detection_re_anchor_the_response_clock(oncall, commander):
    change = file_stub(oncall, procedure_code=QMS_V1, commander=commander, now=T0)
    assert triage(change).due_at == T0 + timedelta(minutes=15)
    incident_update(incident_id=change.incident_id, actor=commander, reason="Degraded, not down", severity="S3")
    assert triage(change).due_at == T0 + timedelta(hours=4)
    detected = T0 - timedelta(minutes=50)
    incident_update(
        incident_id=change.incident_id,
        actor=commander,
        reason="Alert fired before the page",
        detected_at=detected,
        detection_source="monitoring",
    )
    assert triage(change).due_at == detected + timedelta(hours=4)
    reasons = list(Incident.objects.get(pk=change.incident_id).history.values_list("history_change_reason", flat=True))
    assert reasons[:2] == ["Alert fired before the page", "Degraded, not down"]


def test_bad_edits_are_refused_and_change_nothing(oncall, commander, auditor, make_user):
    change = file_stub(oncall, procedure_code=QMS_V1, commander=commander, now=T0)
    before = Incident.objects.get(pk=change.incident_id).history.count()
    with pytest.raises(PermissionDenied):
        incident_update(incident_id=change.incident_id, actor=auditor, reason="x", severity="S2")
    with pytest.raises(PermissionDenied):
        incident_update(incident_id=change.incident_id, actor=make_user(Role.LEGAL), reason="x", severity="S2")
    for kwargs, field in (
        ({"severity": "P1"}, "severity"),
        ({"commander": oncall}, "commander"),
        ({"detected_at": T0 + timedelta(minutes=5)}, "detected_at"),
        ({"detected_at": datetime(2026, 11, 23, 2, 0)}, "detected_at"),
        ({"detection_source": "rumour"}, "detection_source"),
    ):
        with pytest.raises(ValidationError) as exc:
            incident_update(incident_id=change.incident_id, actor=commander, reason="x", **kwargs)
        assert field in exc.value.message_dict
    with pytest.raises(ValidationError, match="Say why"):
        incident_update(incident_id=change.incident_id, actor=commander, reason=" ", severity="S2")
    with pytest.raises(ValidationError, match="Nothing changed"):
        incident_update(incident_id=change.incident_id, actor=commander, reason="same", severity="S1")
    assert Incident.objects.get(pk=change.incident_id).history.count() == before


def test_affected_serial_numbers_feed_the_distribution_list(oncall, commander):
    change = file_stub(oncall, procedure_code="cm-wf-emergency", commander=commander)
    incident_update(
        incident_id=change.incident_id,
        actor=oncall,
        reason="Fleet list from ops",
        affected_systems="SN-100 — tail 4\n\n  SN-200: tail 7  ",
    )
    assert [serial for serial, _ in affected_units(Incident.objects.get(pk=change.incident_id))] == ["SN-100", "SN-200"]


def test_the_change_page_form_completes_the_incident(client, oncall, commander, auditor):
    change = file_stub(oncall, procedure_code=QMS_V1, now=T0)
    url = reverse("emergencies:incident-edit", args=[change.identifier])
    client.force_login(auditor)
    assert 'data-testid="incident-form"' not in client.get(change.get_absolute_url()).content.decode()
    assert client.post(url, {"reason": "x", "severity": "S2"}).status_code == 403
    client.force_login(oncall)
    assert 'data-testid="incident-form"' in client.get(change.get_absolute_url()).content.decode()
    response = client.post(
        url,
        {"commander": commander.pk, "severity": "S2", "reason": "Assigned and downgraded", "affected_systems": ""},
        follow=True,
    )
    body = response.content.decode()
    assert "updated" in body and "Assigned and downgraded" in body
    incident = Incident.objects.get(pk=change.incident_id)
    assert incident.commander == commander and incident.severity == "S2"
    assert triage(change).due_at == T0 + timedelta(hours=1)
    refused = client.post(url, {"severity": "S2", "commander": commander.pk}, follow=True)
    assert "Reason" in refused.content.decode()

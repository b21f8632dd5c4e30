"""The post-incident actions of the incident's severity class (S1-S4) are clocks: opened at filing, voided with
the reason and reopened for the new class when the severity changes, met by recording them done with evidence
from the change's Clocks panel."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from audits.clocks import SEVERITY_ACTION_KINDS, kind_of
from audits.models import AuditEvent, Obligation
from emergencies.services.incident import incident_update
from tests.factories import file_stub

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
QMS_V1 = "qms-emergency-bypass-v1"


def actions(change, *, open_only=True):
    qs = Obligation.objects.filter(
        subject_id=change.pk, subject_type__model="changerecord", kind__in=SEVERITY_ACTION_KINDS
    ).order_by("kind")
    return qs.filter(satisfied_at__isnull=True) if open_only else qs


def test_filing_opens_the_s1_actions_owned_by_the_commander(oncall, commander):
    change = file_stub(oncall, procedure_code=QMS_V1, commander=commander, now=T0)
    opened = list(actions(change))
    assert [(o.kind, o.label) for o in opened] == [
        ("board_notification", "S1: Board notification"),
        ("incident_review", "S1: Immediate review"),
    ]
    assert all(o.owner == commander and o.due_at == T0 + timedelta(hours=24) for o in opened)
    assert all(kind_of(o.kind) is not None for o in opened)


def test_a_procedure_without_severity_classes_opens_none(oncall, commander):
    assert not actions(file_stub(oncall, commander=commander)).exists()


def test_changing_the_severity_voids_the_old_actions_with_the_reason_and_opens_the_new(oncall, commander):
    change = file_stub(oncall, procedure_code=QMS_V1, commander=commander, now=T0)
    incident_update(incident_id=change.incident_id, actor=commander, reason="one site only", severity="S3")
    voided = actions(change, open_only=False).filter(label__startswith="S1:")
    assert voided.count() == 2
    assert all(o.satisfaction_note == "Voided: severity changed from S1 to S3: one site only" for o in voided)
    assert [o.label for o in actions(change)] == ["S3: 3-day review", "S3: Team notification"]
    incident_update(incident_id=change.incident_id, actor=commander, reason="it spread", severity="S1")
    assert [o.label for o in actions(change)] == ["S1: Board notification", "S1: Immediate review"]
    assert actions(change, open_only=False).count() == 6


def test_the_commander_records_the_board_notification_done_with_evidence(client, oncall, commander, auditor):
    change = file_stub(oncall, procedure_code=QMS_V1, commander=commander, now=T0)
    board = actions(change).get(kind="board_notification")
    url = reverse("audits:obligation-evidence", args=[board.pk])
    client.force_login(commander)
    page = client.get(change.get_absolute_url()).content.decode()
    assert f'data-testid="evidence-{board.pk}"' in page
    refused = client.post(url, {"evidence": "  "}, follow=True)
    assert "Give the evidence" in refused.content.decode()
    client.force_login(auditor)
    assert f'data-testid="evidence-{board.pk}"' not in client.get(change.get_absolute_url()).content.decode()
    assert client.post(url, {"evidence": "minutes BRD-7"}).status_code == 403
    client.force_login(oncall)  # neither the owner nor a role that records it
    assert client.post(url, {"evidence": "minutes BRD-7"}).status_code == 403
    board.refresh_from_db()
    assert board.satisfied_at is None
    client.force_login(commander)
    response = client.post(url, {"evidence": "Board told 04:10 UTC, minutes BRD-7"})
    assert response.status_code == 302
    board.refresh_from_db()
    assert board.satisfied_by == commander and board.satisfaction_note == "done: Board told 04:10 UTC, minutes BRD-7"
    assert AuditEvent.objects.filter(action="obligation.satisfied", reason__contains="minutes BRD-7").exists()
    again = client.post(url, {"evidence": "again"}, follow=True)
    assert "already met" in again.content.decode()
    assert actions(change).get(kind="incident_review").satisfied_at is None


def test_a_clock_met_by_its_own_record_cannot_be_met_with_evidence(client, oncall, commander):
    change = file_stub(oncall, procedure_code=QMS_V1, commander=commander, now=T0)
    triage = Obligation.objects.get(kind="triage", subject_id=change.pk)
    client.force_login(commander)
    assert client.post(reverse("audits:obligation-evidence", args=[triage.pk]), {"evidence": "x"}).status_code == 404

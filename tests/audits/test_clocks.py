"""Every clock can be met or is voided: each kind the portal opens names what meets it, an unknown kind is
refused, and the repeat-bypass preventive-change clock is met from the pattern's page."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from audits.clocks import OBLIGATION_KINDS, kind_of
from audits.escalation import PREVENTIVE_KIND, repeat_bypass_sweep
from audits.models import AuditEvent, Obligation
from audits.services import obligations_open
from emergencies.models import BypassRequest, ChangeRecord
from emergencies.services import change_record_transition
from qms.procedures import PRESETS, ProcedureRules
from qms.procedures.schema import CLOCK_KINDS
from qms.roles import Role
from tests.audits.helpers import granted_bypass
from tests.factories import file_stub

pytestmark = pytest.mark.django_db


def preset_kinds() -> set[str]:
    kinds = set()
    for preset in PRESETS:
        definition = preset["definition"]
        kinds |= {c["kind"] for c in definition["clocks"]}
        kinds |= {d["kind"] for d in definition.get("deferred_on_deploy", [])}
        rules = ProcedureRules(definition)
        for severity_class in definition.get("severity_classes", {}).values():
            kinds |= {a["kind"] for a in severity_class["actions"]}
        for level in definition["bypass_levels"]:
            kinds |= {f"review:{r['kind']}" for r in rules.bypass_level(level)["reviews"]}
    return kinds


def test_every_kind_of_clock_says_what_meets_it_and_what_voids_it():
    for kind in preset_kinds():
        assert kind_of(kind) is not None, kind
    for kind, entry in OBLIGATION_KINDS.items():
        assert entry.met_by.strip() and entry.voided_by.strip(), kind


def test_every_clock_kind_a_procedure_may_name_can_be_met():
    """The kinds the procedure validation accepts (qms.procedures.schema.CLOCK_KINDS) are all listed here."""
    for kind in CLOCK_KINDS:
        assert kind in OBLIGATION_KINDS, kind


def test_a_clock_kind_nobody_can_meet_is_refused(oncall):
    change = file_stub(oncall)
    with pytest.raises(ValueError, match="without a way to be met"), transaction.atomic():
        obligations_open(
            subject=change,
            specs=[{"kind": "mystery", "label": "?", "due_at": timezone.now()}],
            started_at=timezone.now(),
            actor=oncall,
        )
    assert not Obligation.objects.filter(kind="mystery").exists()


def test_every_clock_a_whole_lifecycle_opens_is_listed(oncall, commander):
    from tests.factories import close_emergency

    close_emergency(file_stub(oncall, commander=commander))
    opened = set(Obligation.objects.values_list("kind", flat=True))
    assert opened and all(kind_of(k) is not None for k in opened), opened


def test_converting_withdraws_the_pending_bypass_and_voids_every_clock(oncall, commander):
    change = file_stub(oncall, commander=commander)
    change_record_transition(change_id=change.pk, transition="convert_to_standard", actor=commander, reason="P2")
    bypass = BypassRequest.objects.get(change=change)
    assert bypass.status == BypassRequest.Status.WITHDRAWN
    open_clocks = Obligation.objects.filter(satisfied_at__isnull=True)
    assert not open_clocks.filter(subject_id=change.pk, subject_type__model="changerecord").exists()
    assert not open_clocks.filter(subject_id=bypass.pk, subject_type__model="bypassrequest").exists()


@pytest.fixture
def pattern(make_user, oncall):
    lead = make_user(Role.LEAD, username="lead")
    now = timezone.now()
    for days in (12, 8, 3):
        granted_bypass(
            oncall, lead, requested_at=now - timedelta(days=days), decided_at=now - timedelta(days=days, hours=-1)
        )
    assert repeat_bypass_sweep(now=now) == 1
    return Obligation.objects.get(kind=PREVENTIVE_KIND), lead


def test_the_preventive_change_is_opened_from_the_patterns_page(client, pattern, auditor):
    obligation, lead = pattern
    url = reverse("audits:obligation-preventive-change", args=[obligation.pk])
    client.force_login(lead)
    page = client.get(obligation.subject_url).content.decode()
    assert f'data-testid="preventive-change-{obligation.pk}"' in page
    client.force_login(auditor)
    assert client.post(url).status_code == 403
    assert Obligation.objects.get(pk=obligation.pk).satisfied_at is None
    client.force_login(lead)
    response = client.post(url)
    assert response.status_code == 302
    obligation.refresh_from_db()
    change = ChangeRecord.objects.get(source=ChangeRecord.Source.PREVENTIVE)
    assert obligation.satisfied_by == lead and change.identifier in obligation.satisfaction_note
    assert change.level == ChangeRecord.Level.STANDARD and change.author == lead
    assert AuditEvent.objects.filter(action="obligation.satisfied", reason__contains=change.identifier).exists()
    again = client.post(url, follow=True)
    assert "already met" in again.content.decode()


def test_the_preventive_change_can_be_an_existing_change(client, pattern, oncall, commander):
    obligation, lead = pattern
    emergency = file_stub(oncall)
    url = reverse("audits:obligation-preventive-change", args=[obligation.pk])
    client.force_login(lead)
    refused = client.post(url, {"change": emergency.identifier}, follow=True)
    assert "is an emergency change" in refused.content.decode()
    assert Obligation.objects.get(pk=obligation.pk).satisfied_at is None
    standard = file_stub(oncall)
    change_record_transition(change_id=standard.pk, transition="convert_to_standard", actor=commander, reason="std")
    client.post(url, {"change": standard.identifier.lower()})
    obligation.refresh_from_db()
    assert obligation.satisfied_at is not None and standard.identifier in obligation.satisfaction_note

"""A level 1-3 bypass's skipped checks shown to pass again: each meets its remediation clock, the last one
remediates the bypass. Validated by someone other than the requester; an emergency's gates are not done here."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from audits.models import AuditEvent, Obligation
from audits.services import audit_chain_verify
from emergencies.models import BypassRemediation, BypassRequest
from emergencies.services.bypasses import bypass_remediation_record
from qms.roles import Role
from tests.audits.helpers import granted_bypass
from tests.factories import file_stub

pytestmark = pytest.mark.django_db

CHECKS = ("code_quality_minor", "documentation_coverage")


@pytest.fixture
def people(make_user, oncall):
    return {"dev": oncall, "lead": make_user(Role.LEAD, username="lead"), "qms": make_user(Role.QMS, username="qms")}


@pytest.fixture
def bypass(people):
    now = timezone.now()
    return granted_bypass(
        people["dev"],
        people["lead"],
        requested_at=now - timedelta(hours=2),
        decided_at=now - timedelta(hours=1),
        checks=CHECKS,
    )


def clocks(bypass):
    return Obligation.objects.filter(subject_type__model="bypassrequest", subject_id=bypass.pk, kind="remediation")


def test_each_check_meets_its_clock_and_the_last_remediates_the_bypass(bypass, people):
    assert clocks(bypass).filter(satisfied_at__isnull=True).count() == 2
    record = bypass_remediation_record(
        bypass_id=bypass.pk, gate="code_quality_minor", evidence="CI run #4512 green", actor=people["lead"]
    )
    assert (record.validated_by, record.evidence) == (people["lead"], "CI run #4512 green")
    met = clocks(bypass).get(key="code_quality_minor")
    assert met.satisfied_by == people["lead"] and met.satisfaction_note == "Code quality (minor) shown to pass again"
    assert clocks(bypass).get(key="documentation_coverage").satisfied_at is None
    bypass.refresh_from_db()
    assert bypass.status == BypassRequest.Status.ACTIVE

    bypass_remediation_record(
        bypass_id=bypass.pk, gate="documentation_coverage", evidence="docs build 88 %", actor=people["qms"]
    )
    bypass.refresh_from_db()
    assert bypass.status == BypassRequest.Status.REMEDIATED
    assert not clocks(bypass).filter(satisfied_at__isnull=True).exists()
    assert bypass.history.first().history_change_reason == "remediated: every skipped check passes again"
    assert bypass.history.first().history_user == people["qms"]
    events = AuditEvent.objects.filter(subject_type="emergencies.bypassrequest", subject_id=str(bypass.pk))
    assert list(events.filter(action="bypass.check_remediated").values_list("after__gate", flat=True)) == list(CHECKS)
    assert events.filter(action="bypass.mark_remediated").count() == 1
    assert audit_chain_verify().ok


@pytest.mark.parametrize(
    ("who", "gate", "evidence", "error"),
    [
        ("dev", "code_quality_minor", "green", PermissionDenied),  # the requester
        ("engineer", "code_quality_minor", "green", PermissionDenied),  # not a validator
        ("lead", "security_critical", "green", ValidationError),  # not skipped by this bypass
        ("lead", "code_quality_minor", "   ", ValidationError),  # no evidence
    ],
)
def test_refusals_change_nothing(bypass, people, make_user, who, gate, evidence, error):
    people["engineer"] = make_user(Role.ONCALL, username="engineer")
    before = AuditEvent.objects.count()
    with pytest.raises(error):
        bypass_remediation_record(bypass_id=bypass.pk, gate=gate, evidence=evidence, actor=people[who])
    assert not BypassRemediation.objects.exists()
    assert not clocks(bypass).filter(satisfied_at__isnull=False).exists()
    assert AuditEvent.objects.count() == before


def test_a_check_is_shown_to_pass_once(bypass, people):
    bypass_remediation_record(bypass_id=bypass.pk, gate="code_quality_minor", evidence="green", actor=people["lead"])
    with pytest.raises(ValidationError, match="already shown to pass by"):
        bypass_remediation_record(bypass_id=bypass.pk, gate="code_quality_minor", evidence="again", actor=people["qms"])
    with pytest.raises(IntegrityError), transaction.atomic():  # and the database agrees
        BypassRemediation.objects.create(
            bypass=bypass,
            gate="code_quality_minor",
            evidence="x",
            validated_by=people["qms"],
            validated_at=timezone.now(),
        )


def test_only_an_active_level_1_to_3_bypass_is_remediated_here(people, commander):
    change = file_stub(people["dev"], commander=commander)
    emergency = BypassRequest.objects.get(change=change)
    with pytest.raises(ValidationError, match="validated retroactively on its change"):
        bypass_remediation_record(bypass_id=emergency.pk, gate=emergency.checks[0], evidence="x", actor=people["lead"])
    emergency.level = BypassRequest.Level.L1  # as a pending level 1 request would be
    emergency.save()
    with pytest.raises(ValidationError, match="nothing to remediate"):
        bypass_remediation_record(bypass_id=emergency.pk, gate=emergency.checks[0], evidence="x", actor=people["lead"])


def test_the_page_shows_the_checks_and_lets_a_validator_record_one(client, bypass, people):
    url = reverse("emergencies:bypass-detail", args=[bypass.identifier])
    client.force_login(people["dev"])
    page = client.get(url).content.decode()
    assert "Remediation of the skipped checks" in page and "Still open" in page
    assert "Record a remediation" not in page  # the requester does not validate their own bypass

    client.force_login(people["lead"])
    assert "Record a remediation" in client.get(url).content.decode()
    post = reverse("emergencies:bypass-remediation", args=[bypass.identifier])
    bad = client.post(post, {"gate": "code_quality_minor", "evidence": ""})
    assert bad.status_code == 400 and "This field is required" in bad.content.decode()
    assert not BypassRemediation.objects.exists()
    done = client.post(post, {"gate": "code_quality_minor", "evidence": "https://ci.example/run/4512"}, follow=True)
    assert done.status_code == 200
    page = done.content.decode()
    assert "Remediation recorded." in page and 'href="https://ci.example/run/4512"' in page
    # Only the open check is offered now.
    assert 'value="documentation_coverage"' in page and 'value="code_quality_minor"' not in page

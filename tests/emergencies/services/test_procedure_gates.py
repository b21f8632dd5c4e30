"""A procedure's own gates (issue 19): a version whose catalogue adds a gate code lets the bypasses and changes
pinned to it skip that gate and validate it afterwards; a record pinned to another version is refused with the
field named, and the presets' codes keep working."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from audits.models import AuditEvent, Obligation
from emergencies.models import BypassRemediation, BypassRequest, GateResult
from emergencies.services import activation
from emergencies.services.bypasses import bypass_remediation_record
from emergencies.services.postincident import gate_catalogue, gate_result_record, gate_status
from qms.procedures import DEFAULT_PROCEDURE_CODE
from qms.services import procedure_gate_codes, procedure_version_current
from tests.audits.helpers import granted_bypass
from tests.emergencies.services.test_bypasses import request_bypass
from tests.factories import file_stub
from tests.qms.procedures.helpers import ACCESSIBILITY, publish_gate

pytestmark = pytest.mark.django_db


def publish(gate_people):
    return publish_gate(author=gate_people["author"], quality=gate_people["quality"], qms=gate_people["qms"])


def grant(gate_people, checks):
    now = timezone.now()
    return granted_bypass(
        gate_people["dev"], gate_people["lead"], requested_at=now - timedelta(hours=2), decided_at=now, checks=checks
    )


def test_a_bypass_skips_and_remediates_a_gate_its_version_defines(gate_people):
    old = procedure_version_current(code=DEFAULT_PROCEDURE_CODE)
    with pytest.raises(ValidationError) as refused:
        request_bypass(gate_people["dev"], checks=[ACCESSIBILITY])
    assert f"Unknown check(s) under {old}: {ACCESSIBILITY}" in refused.value.message_dict["checks"][0]
    before = grant(gate_people, ["code_quality_minor"])  # pinned to the old version

    version = publish(gate_people)
    assert version.rules.gate_catalogue[ACCESSIBILITY] == {"label": "Accessibility review", "min_level": "L1"}
    bypass = grant(gate_people, [ACCESSIBILITY, "documentation_coverage"])
    assert bypass.procedure_version == version and bypass.level == "L1"
    assert bypass.check_labels == ["Accessibility review", "Documentation coverage"]
    clock = Obligation.objects.get(subject_id=bypass.pk, kind="remediation", key=ACCESSIBILITY)
    assert clock.label == "Remediate: Accessibility review" and clock.satisfied_at is None

    record = bypass_remediation_record(
        bypass_id=bypass.pk, gate=ACCESSIBILITY, evidence="axe-core run: 0 violations", actor=gate_people["lead"]
    )
    assert record.gate_label == "Accessibility review"
    clock.refresh_from_db()
    assert clock.satisfied_at is not None
    event = AuditEvent.objects.filter(action="bypass.check_remediated", subject_id=str(bypass.pk)).get()
    assert event.reason.startswith("Accessibility review passes again")
    with pytest.raises(ValidationError) as again:
        bypass_remediation_record(bypass_id=bypass.pk, gate=ACCESSIBILITY, evidence="x", actor=gate_people["lead"])
    assert "Accessibility review was already shown to pass" in again.value.message_dict["gate"][0]
    # The old codes still work under either version.
    bypass_remediation_record(
        bypass_id=bypass.pk, gate="documentation_coverage", evidence="ok", actor=gate_people["qms"]
    )
    bypass.refresh_from_db()
    assert bypass.status == BypassRequest.Status.REMEDIATED

    # A bypass pinned to the version without the gate is refused at the field, and nothing is written.
    with pytest.raises(ValidationError) as other:
        bypass_remediation_record(bypass_id=before.pk, gate=ACCESSIBILITY, evidence="x", actor=gate_people["lead"])
    assert f"Unknown check(s) under {old}: {ACCESSIBILITY}" in other.value.message_dict["gate"][0]
    assert not BypassRemediation.objects.filter(bypass=before).exists()


def test_retroactive_validation_of_a_gate_only_under_the_version_that_has_it(gate_people, qms_coordinator):
    before = file_stub(gate_people["dev"])
    publish(gate_people)
    after = file_stub(gate_people["dev"])
    assert ACCESSIBILITY in gate_catalogue(after) and ACCESSIBILITY not in gate_catalogue(before)
    assert (ACCESSIBILITY, "Accessibility review", None) in gate_status(after)
    assert Obligation.objects.filter(kind="remediation", key=ACCESSIBILITY).count() == 0  # not active yet

    result = gate_result_record(
        change_id=after.pk, gate=ACCESSIBILITY, result="passed", evidence="audit report", actor=qms_coordinator
    )
    assert result.gate_label == "Accessibility review"
    assert {g: r for g, _, r in gate_status(after)}[ACCESSIBILITY] == result

    with pytest.raises(ValidationError) as refused:
        gate_result_record(
            change_id=before.pk, gate=ACCESSIBILITY, result="passed", evidence="x", actor=qms_coordinator
        )
    message = refused.value.message_dict["gate"][0]
    assert f"Unknown check(s) under {before.procedure_version}: {ACCESSIBILITY}" in message
    assert not GateResult.objects.filter(change=before).exists()
    # The presets' codes still work on the old version's change.
    old = gate_result_record(
        change_id=before.pk, gate="full_regression", result="passed", evidence="ok", actor=qms_coordinator
    )
    assert old.gate_label == "Full regression test suite"
    with pytest.raises(ValidationError) as badly_written:
        gate_result_record(change_id=after.pk, gate="Not A Code", result="passed", evidence="x", actor=qms_coordinator)
    assert "gate" in badly_written.value.message_dict


def test_a_gate_code_is_a_lowercase_slug_on_the_record_too(gate_people, qms_coordinator):
    change = file_stub(gate_people["dev"])
    row = GateResult(
        change=change,
        gate="Bad-Code",
        result="passed",
        evidence="x",
        validated_by=qms_coordinator,
        validated_at=timezone.now(),
    )
    with pytest.raises(ValidationError) as refused:
        row.full_clean()
    assert "a lowercase code" in refused.value.message_dict["gate"][0]


def test_a_repository_maps_checks_to_gates_of_any_version_of_its_procedure(gate_people):
    mapping = {"a11y": ACCESSIBILITY, "lint": "code_quality_minor"}
    with pytest.raises(ValidationError) as refused:
        activation.github_repository_link(full_name="acme/web", required_checks=mapping, actor=gate_people["admin"])
    assert (
        f"Not a check of the procedure {DEFAULT_PROCEDURE_CODE}: {ACCESSIBILITY}"
        in (refused.value.message_dict["required_checks"][0])
    )
    publish(gate_people)
    assert ACCESSIBILITY in procedure_gate_codes(code=DEFAULT_PROCEDURE_CODE)
    assert "code_quality_minor" in procedure_gate_codes(code=DEFAULT_PROCEDURE_CODE)  # the old version's too
    repository = activation.github_repository_link(
        full_name="acme/web", required_checks=mapping, actor=gate_people["admin"]
    )
    assert repository.required_checks == mapping
    with pytest.raises(ValidationError, match="Not a check of the procedure"):
        activation.github_repository_link(full_name="acme/x", required_checks={"x": "nope"}, actor=gate_people["admin"])

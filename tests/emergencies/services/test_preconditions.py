"""The lifecycle enforces the procedure: each transition's preconditions come from the procedure version,
an unmet one refuses the step (nothing written, every missing item named) and the change page lists the
same items before anyone tries; the "proceed before authorisation" deviation; CM-WF gates in order."""

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from audits.models import AuditEvent
from emergencies.models import BypassRequest, ChangeRecord
from emergencies.services import change_record_transition
from emergencies.services.authorisation import change_authorisation_rerequest, change_proceed_before_authorisation
from emergencies.services.bypasses import bypass_reject
from emergencies.services.postincident import rollback_reading_record
from emergencies.services.preconditions import transition_missing
from emergencies.validation import findings
from qms.models import Notification, Signature
from qms.roles import Role
from tests.emergencies.services.test_ccb import convene, make_board
from tests.factories import PASSWORD, authorise, file_stub, pass_gates, ready_to_deploy

pytestmark = pytest.mark.django_db
S = ChangeRecord.Status


def move(change, name, actor, reason="step"):
    return change_record_transition(change_id=change.pk, transition=name, actor=actor, reason=reason)


def refused(change, name, actor, *expected):
    """The step is refused, names each expected item, and writes nothing."""
    before_history = change.history.count()
    before_events = AuditEvent.objects.count()
    status = ChangeRecord.objects.get(pk=change.pk).status
    with pytest.raises(ValidationError) as exc:
        move(change, name, actor)
    text = " ".join(exc.value.messages)
    for item in expected:
        assert item in text, text
    assert ChangeRecord.objects.get(pk=change.pk).status == status
    assert change.history.count() == before_history
    assert AuditEvent.objects.count() == before_events
    return text


# --- Emergency Bypass Workflow: verbal + stub ------------------------------------------------------------------


def test_emergency_bypass_workflow_every_transition_unmet_then_met(oncall, commander, qms_coordinator, make_user):
    change = file_stub(oncall, commander=commander)
    refused(change, "start_hotfix", oncall, "Not yet:", "still needs the signature of: Incident commander")
    authorise(change, commander)
    change = move(change, "start_hotfix", oncall)
    refused(change, "deploy", oncall, "Code change reviewed by second engineer", "Smoke test passed")
    ready_to_deploy(change, make_user(Role.ONCALL))
    change = move(change, "deploy", oncall)
    change = move(change, "start_monitoring", oncall)
    rollback_reading_record(
        change_id=change.pk,
        actor=oncall,
        error_rate_increase_pct=Decimal("12"),
        response_time_ratio=Decimal("1"),
        new_critical_errors=0,
    )
    refused(change, "resolve", commander, "calls for a rollback", "Error rate +12")
    rollback_reading_record(
        change_id=change.pk,
        actor=oncall,
        error_rate_increase_pct=Decimal("1"),
        response_time_ratio=Decimal("1"),
        new_critical_errors=0,
    )
    change = move(change, "resolve", commander)
    refused(change, "close", qms_coordinator, "Post-mortem conducted", "Full CHG document complete")


def test_proceed_before_authorisation_is_signed_audited_notifies_and_keeps_emg_e001(
    oncall, commander, qms_coordinator, make_user, django_capture_on_commit_callbacks
):
    other_commander = make_user(Role.COMMANDER)
    change = file_stub(oncall, commander=commander)
    with pytest.raises(PermissionDenied):  # only the named incident commander
        change_proceed_before_authorisation(change_id=change.pk, actor=other_commander, password=PASSWORD, reason="x")
    with pytest.raises(PermissionDenied):
        change_proceed_before_authorisation(change_id=change.pk, actor=oncall, password=PASSWORD, reason="x")
    with pytest.raises(ValidationError, match="Say why"):
        change_proceed_before_authorisation(change_id=change.pk, actor=commander, password=PASSWORD, reason=" ")
    with pytest.raises(ValidationError, match="Wrong password"):
        change_proceed_before_authorisation(change_id=change.pk, actor=commander, password="nope", reason="down")
    assert ChangeRecord.objects.get(pk=change.pk).proceed_deviation_at is None

    with django_capture_on_commit_callbacks(execute=True):
        change = change_proceed_before_authorisation(
            change_id=change.pk, actor=commander, password=PASSWORD, reason="Checkout down, verbal go-ahead"
        )
    assert change.proceed_deviation_by == commander
    signature = Signature.objects.get(subject_id=change.pk, signer=commander)
    assert "Proceed before authorisation" in signature.comment
    event = AuditEvent.objects.get(action="change.proceed_before_authorisation")
    assert event.actor == commander and event.reason == "Checkout down, verbal go-ahead"
    told = set(
        Notification.objects.filter(dedupe_key__startswith=f"proceed-deviation:{change.pk}:").values_list(
            "recipient__username", flat=True
        )
    )
    assert "qms" in told and "commander" not in told
    with pytest.raises(ValidationError, match="already signed"):
        change_proceed_before_authorisation(change_id=change.pk, actor=commander, password=PASSWORD, reason="again")

    change = move(change, "start_hotfix", oncall)
    assert change.status == S.HOTFIX
    assert "EMG-E001" in [f.code for f in findings(change)]
    authorise(change, commander)
    assert "EMG-E001" not in [f.code for f in findings(change)]


@pytest.mark.parametrize(
    ("code", "signer_roles", "waiting"),
    [
        ("qms-emergency-bypass-v1", [Role.EXECUTIVE, Role.COMMANDER], "Executive"),
        ("eng-proc-004", [Role.LEAD, Role.SECURITY], "Development lead"),
    ],
)
def test_procedures_without_the_deviation_wait_for_the_authorisation(oncall, make_user, code, signer_roles, waiting):
    commander = make_user(Role.COMMANDER)
    change = file_stub(oncall, procedure_code=code, commander=commander)
    refused(change, "start_hotfix", oncall, "still needs the signature of:", waiting)
    with pytest.raises(ValidationError, match="does not allow proceeding"):
        change_proceed_before_authorisation(change_id=change.pk, actor=commander, password=PASSWORD, reason="now")
    signers = [commander if r == Role.COMMANDER else make_user(r) for r in signer_roles]
    authorise(change, *signers)
    assert move(change, "start_hotfix", oncall).status == S.HOTFIX
    refused(change, "deploy", oncall, "Smoke test passed")


def test_a_rejected_authorisation_ends_the_emergency_path_with_a_way_out(oncall, commander, make_user, client):
    change = file_stub(oncall, commander=commander)
    bypass = BypassRequest.objects.get(change=change)
    bypass_reject(bypass_id=bypass.pk, signer=commander, password=PASSWORD, role=Role.COMMANDER, reason="Not a P1")
    refused(change, "start_hotfix", oncall, "was rejected", "re-request the authorisation", "standard process")
    with pytest.raises(ValidationError):  # the deviation is for a pending authorisation only
        change_proceed_before_authorisation(change_id=change.pk, actor=commander, password=PASSWORD, reason="go")
    client.force_login(oncall)
    page = client.get(change.get_absolute_url()).content.decode()
    assert "Re-request the authorisation" in page and "Not a P1" in page
    with pytest.raises(PermissionDenied):
        change_authorisation_rerequest(change_id=change.pk, actor=make_user(Role.AUDITOR), reason="x")
    second = change_authorisation_rerequest(change_id=change.pk, actor=oncall, reason="Confirmed: all checkouts fail")
    assert second.status == BypassRequest.Status.PENDING and second.pk != bypass.pk
    with pytest.raises(ValidationError, match="nothing to re-request"):
        change_authorisation_rerequest(change_id=change.pk, actor=oncall, reason="again")
    authorise(change, commander)
    assert ChangeRecord.objects.get(pk=change.pk).status == S.BYPASS_AUTHORISED


def test_converting_withdraws_the_pending_authorisation(oncall, commander, client):
    change = file_stub(oncall, commander=commander)
    change = move(change, "convert_to_standard", commander, "P2 after all")
    bypass = BypassRequest.objects.get(change=change)
    assert bypass.status == BypassRequest.Status.WITHDRAWN
    assert AuditEvent.objects.filter(action="bypass.withdraw", subject_id=str(bypass.pk)).exists()
    client.force_login(commander)
    assert bypass.identifier not in client.get(reverse("qms:dashboard")).content.decode()


# --- the change page lists what blocks each step ------------------------------------------------------------


def test_the_page_offers_only_allowed_steps_and_says_what_blocks_the_others(client, oncall, commander, make_user):
    change = file_stub(oncall, commander=commander)
    client.force_login(oncall)
    page = client.get(change.get_absolute_url()).content.decode()
    assert 'data-testid="blocked-start_hotfix"' in page and 'data-testid="action-start_hotfix"' not in page
    assert "still needs the signature of: Incident commander" in page
    client.force_login(commander)
    page = client.get(change.get_absolute_url()).content.decode()
    assert 'data-testid="proceed-deviation"' in page  # the commander may sign the deviation instead
    authorise(change, commander)
    move(change, "start_hotfix", oncall)
    ready_to_deploy(change, make_user(Role.ONCALL))
    move(change, "deploy", oncall)
    rollback_reading_record(
        change_id=change.pk,
        actor=oncall,
        error_rate_increase_pct=Decimal("12"),
        response_time_ratio=Decimal("1"),
        new_critical_errors=0,
    )
    client.force_login(oncall)
    page = client.get(change.get_absolute_url()).content.decode()
    assert 'data-testid="rollback-firing"' in page and "Error rate +12" in page
    assert 'class="btn btn-danger" type="submit">Roll back' in page


# --- CM-WF-EMERGENCY: gates in order ------------------------------------------------------------------------


def test_cm_wf_gates_hold_up_the_work_in_order(oncall, make_user):
    from emergencies.services import patches

    board = make_board(make_user)
    change = file_stub(oncall, procedure_code="cm-wf-emergency", affected_systems="SN-1")
    refused(change, "start_hotfix", oncall, "still needs the signature", "Gate 1", "Gate 2")
    authorise(change, board.cm, board.program)
    refused(change, "start_hotfix", oncall, "Gate 1: Declare emergency not yet passed")
    with pytest.raises(ValidationError, match="Gate 1: Declare emergency must pass first"):
        convene(change, board, gate="fast_track", in_order=False)
    pass_gates(change, "declare", actor=board.cm)
    refused(change, "start_hotfix", oncall, "Gate 2: Approve fast-track not yet passed")
    with pytest.raises(ValidationError, match="Gate 2: Approve fast-track must pass first"):
        convene(change, board, gate="deployment", in_order=False)
    pass_gates(change, "fast_track", actor=board.cm)
    change = move(change, "start_hotfix", oncall)
    ready_to_deploy(change, make_user(Role.ONCALL))
    refused(change, "deploy", oncall, "No approved patch package", "Gate 3: Approve deployment not yet passed")

    package = patches.patch_package_create(
        change_id=change.pk,
        actor=oncall,
        texts={
            "summary": "s",
            "installation_procedure": "i",
            "verification_procedure": "v",
            "rollback_procedure": "r",
            "release_notice": "n",
        },
    )
    from django.core.files.uploadedfile import SimpleUploadedFile

    patches.patch_artifact_upload(package_id=package.pk, actor=oncall, file=SimpleUploadedFile("fw.bin", b"fw"))
    patches.patch_package_approve(package_id=package.pk, signer=board.cm, password=PASSWORD, role=Role.CM)
    unit = patches.unit_distribution_add(package_id=package.pk, actor=oncall, serial_number="SN-1")
    with pytest.raises(ValidationError, match="Gate 3"):  # no unit before Gate 3
        patches.unit_sent_record(distribution_id=unit.pk, actor=oncall, channel="secure_delivery")
    refused(change, "deploy", oncall, "Gate 3: Approve deployment not yet passed")
    assert transition_missing(change, "deploy") == ["Gate 3: Approve deployment not yet passed."]
    pass_gates(change, "deployment", actor=board.cm)
    patches.unit_sent_record(
        distribution_id=unit.pk, actor=oncall, channel="secure_delivery", occurred_at=timezone.now()
    )
    change = move(change, "deploy", oncall)
    assert change.status == S.DEPLOYED
    change = move(change, "start_monitoring", oncall)
    change = move(change, "resolve", oncall)
    refused(change, "close", board.cm, "Gate 4: Close emergency: not yet approved")


def test_cm_wf_change_page_shows_each_gate_passed_pending_or_blocked(client, oncall, make_user):
    board = make_board(make_user)
    change = file_stub(oncall, procedure_code="cm-wf-emergency")
    authorise(change, board.cm, board.program)
    client.force_login(oncall)
    page = client.get(change.get_absolute_url()).content.decode()
    assert 'data-gate-state="declare:pending"' in page and 'data-gate-state="fast_track:blocked"' in page
    assert "Gate 1: Declare emergency must pass first" in page
    pass_gates(change, "declare", actor=board.cm)
    page = client.get(change.get_absolute_url()).content.decode()
    assert 'data-gate-state="declare:passed"' in page and 'data-gate-state="fast_track:pending"' in page
    assert 'data-gate-state="deployment:blocked"' in page

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from audits.models import AuditEvent, Obligation
from emergencies.models import BypassRequest, ChangeRecord
from emergencies.services import change_record_transition
from qms.roles import Role
from tests.factories import authorise, file_stub, ready_to_deploy

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 23, 3, 41, tzinfo=UTC)
S = ChangeRecord.Status


@pytest.fixture
def change(oncall, commander):
    return file_stub(oncall, now=T0, commander=commander)


def move(change, name, actor, reason="", minutes=0):
    return change_record_transition(
        change_id=change.pk, transition=name, actor=actor, reason=reason, now=T0 + timedelta(minutes=minutes)
    )


def test_full_lifecycle_with_history_events_and_clocks(change, oncall, commander, qms_coordinator, make_user):
    authorise(change, commander)
    assert change.status == S.BYPASS_AUTHORISED
    assert change.bypass_authorised_by == commander
    change = move(change, "start_hotfix", oncall, minutes=12)
    ready_to_deploy(change, make_user(Role.ONCALL))
    change = move(change, "deploy", oncall, "fix deployed", 90)
    assert change.deployed_at == T0 + timedelta(minutes=90)
    change = move(change, "start_monitoring", oncall, minutes=95)
    change = move(change, "resolve", commander, "error rate at baseline", 200)
    assert change.status == S.POST_INCIDENT
    with pytest.raises(ValidationError, match="Post-mortem conducted"):  # closure has its checklist
        move(change, "close", qms_coordinator, "too early", 3000)

    transitions = [
        (status, user)
        for status, user in change.history.order_by("history_id").values_list("status", "history_user__username")
    ]
    statuses = [s for i, s in enumerate(transitions) if i == 0 or s[0] != transitions[i - 1][0]]
    assert statuses == [
        ("stub", "oncall"),
        ("bypass_authorised", "commander"),
        ("hotfix_in_progress", "oncall"),
        ("deployed", "oncall"),
        ("monitoring", "oncall"),
        ("post_incident", "commander"),
    ]
    actions = [
        a
        for a in AuditEvent.objects.filter(action__startswith="change.").values_list("action", flat=True)
        if a not in ("change.checklist", "change.hotfix_reviewed")
    ]
    assert actions == [
        "change.filed",
        "change.authorize_bypass",
        "change.start_hotfix",
        "change.deploy",
        "change.start_monitoring",
        "change.resolve",
    ]
    clocks = {o.kind: o for o in Obligation.objects.filter(subject_type__model="changerecord", subject_id=change.pk)}
    assert clocks["triage"].satisfied_by == commander
    assert clocks["hotfix"].satisfied_at == T0 + timedelta(minutes=90)
    assert clocks["documentation"].satisfied_at is None  # documentation is not done by moving the state


def test_authorisation_is_never_a_button(change, commander):
    with pytest.raises(ValidationError):
        move(change, "authorize_bypass", commander, "P1")
    change.refresh_from_db()
    assert change.status == S.STUB


def test_transition_not_available_from_state_is_a_clear_error(change, oncall):
    with pytest.raises(ValidationError) as exc:
        move(change, "deploy", oncall)
    assert "not possible while the change is in progress" in exc.value.messages[0]


def test_unknown_transition_is_refused(change, oncall):
    with pytest.raises(ValidationError):
        move(change, "delete", oncall)


@pytest.mark.parametrize("name", ["convert_to_standard"])
def test_reason_is_required_where_the_procedure_wants_one(change, commander, name):
    with pytest.raises(ValidationError) as exc:
        move(change, name, commander, "  ")
    assert "reason" in exc.value.message_dict
    change.refresh_from_db()
    assert change.status == S.STUB


def test_conversion_leaves_the_emergency_path_and_voids_its_clocks(change, commander):
    change = move(change, "convert_to_standard", commander, "not an outage")
    assert change.status == S.CONVERTED
    assert change.level == ChangeRecord.Level.STANDARD
    assert not Obligation.objects.filter(subject_id=change.pk, satisfied_at__isnull=True).exists()
    assert Obligation.objects.filter(satisfaction_note__startswith="Voided").count() == 4


def test_converting_an_authorised_emergency_voids_its_bypass_remediation_clocks(change, commander):
    authorise(change, commander)
    bypass = BypassRequest.objects.get(change=change)
    remediation = Obligation.objects.filter(subject_type__model="bypassrequest", subject_id=bypass.pk)
    assert remediation.filter(satisfied_at__isnull=True).count() == len(bypass.checks) > 0
    change = move(change, "convert_to_standard", commander, "not an outage after all")
    assert not remediation.filter(satisfied_at__isnull=True).exists()
    assert set(remediation.values_list("satisfaction_note", flat=True)) == {
        "Voided: the change left the emergency path; the standard process runs the skipped gates."
    }
    assert AuditEvent.objects.filter(
        action="obligation.satisfied", subject_type="emergencies.bypassrequest", subject_id=str(bypass.pk)
    ).count() == len(bypass.checks)
    assert remediation.first().history.first().history_user == commander


def test_rollback_then_retry(change, oncall, commander, make_user):
    authorise(change, commander)
    change = move(change, "start_hotfix", oncall)
    ready_to_deploy(change, make_user(Role.ONCALL))
    change = move(change, "deploy", oncall)
    change = move(change, "roll_back", oncall, "error rate +7%")
    assert change.status == S.ROLLED_BACK
    assert change.status_reason == "error rate +7%"
    assert move(change, "start_hotfix", oncall).status == S.HOTFIX


def test_auditor_cannot_move_anything(change, auditor):
    for name in ("start_hotfix", "convert_to_standard"):
        with pytest.raises(PermissionDenied):
            move(change, name, auditor, "x")


def test_pages_show_only_the_buttons_the_user_may_press(client, change, commander, auditor, oncall):
    client.force_login(commander)
    page = client.get(change.get_absolute_url()).content.decode()
    assert "Convert to standard process" in page and "Start hotfix" in page
    assert ">Bypass authorised</button>" not in page  # signatures authorise, not a button
    client.force_login(oncall)
    page = client.get(change.get_absolute_url()).content.decode()
    assert "Convert to standard process" not in page and "Start hotfix" in page
    client.force_login(auditor)
    page = client.get(change.get_absolute_url()).content.decode()
    assert "No action is open to you" in page


def test_transition_view_posts_and_refuses(client, change, commander, oncall, auditor):
    authorise(change, commander)
    url = reverse("emergencies:change-transition", args=[change.identifier, "start_hotfix"])
    client.force_login(auditor)
    assert client.post(url).status_code == 403
    client.force_login(oncall)
    response = client.post(url, {"reason": "fixing"})
    assert response.status_code == 302
    change.refresh_from_db()
    assert change.status == S.HOTFIX
    response = client.post(url, follow=True)  # again: no longer possible, said clearly
    assert "not possible" in response.content.decode()
    assert AuditEvent.objects.filter(action="permission.refused", actor=auditor).exists()


def test_hotfix_without_authorisation_shows_emg_e001_until_authorised(client, change, oncall, commander):
    from emergencies.services.authorisation import change_proceed_before_authorisation
    from tests.factories import PASSWORD

    with pytest.raises(ValidationError, match="still needs the signature of: Incident commander"):
        move(change, "start_hotfix", oncall)
    change_proceed_before_authorisation(
        change_id=change.pk, actor=commander, password=PASSWORD, reason="Verbal go-ahead; checkout is down."
    )
    move(change, "start_hotfix", oncall)
    client.force_login(oncall)
    assert "EMG-E001" in client.get(change.get_absolute_url()).content.decode()
    authorise(change, commander)
    assert "EMG-E001" not in client.get(change.get_absolute_url()).content.decode()


def test_state_field_cannot_be_assigned_directly(change):
    with pytest.raises(AttributeError):
        change.status = S.CLOSED

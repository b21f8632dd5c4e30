from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from audits.models import AuditEvent, Obligation
from emergencies.models import ChangeRecord, Incident
from qms.models import Notification, OutboxMessage
from qms.roles import Role
from tests.factories import file_stub

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 23, 3, 41, 17, tzinfo=UTC)


def test_stub_gets_emergency_id_title_status_author_and_procedure(oncall, commander):
    change = file_stub(oncall, now=T0, commander=commander)

    assert change.identifier == "CHG-EMG-20261123-0341"
    assert change.title == "EMERGENCY: Checkout API returns 500"
    assert change.status == ChangeRecord.Status.STUB
    assert change.get_status_display() == "In Progress"
    assert change.author == oncall
    assert change.procedure_version.procedure.code == "emergency-bypass-workflow"
    assert change.incident.ticket.startswith("INC-20261123-0341")
    assert change.incident.severity == "P1"
    assert change.incident.commander == commander


def test_id_is_taken_from_utc_even_when_filed_from_another_zone(oncall):
    paris = datetime(2026, 11, 23, 4, 41, tzinfo=UTC).astimezone(ZoneInfo("Europe/Paris"))
    change = file_stub(oncall, now=paris)
    assert change.identifier == "CHG-EMG-20261123-0441"


def test_two_stubs_in_the_same_minute_get_distinct_ids_that_sort_by_time(oncall):
    first = file_stub(oncall, now=T0)
    second = file_stub(oncall, now=T0 + timedelta(seconds=20))
    third = file_stub(oncall, now=T0 + timedelta(seconds=40))
    next_minute = file_stub(oncall, now=T0 + timedelta(seconds=60))

    ids = [first.identifier, second.identifier, third.identifier, next_minute.identifier]
    assert ids == [
        "CHG-EMG-20261123-0341",
        "CHG-EMG-20261123-0341-02",
        "CHG-EMG-20261123-0341-03",
        "CHG-EMG-20261123-0342",
    ]
    assert sorted(ids) == ids
    assert len({c.incident.ticket for c in (first, second, third)}) == 3


def test_filing_starts_the_procedure_clocks(oncall, commander):
    change = file_stub(oncall, now=T0, commander=commander)
    clocks = {o.kind: o for o in Obligation.objects.filter(subject_id=change.pk)}

    assert set(clocks) == {"triage", "hotfix", "documentation", "post_mortem"}
    assert clocks["triage"].due_at == T0 + timedelta(minutes=30)
    assert clocks["hotfix"].due_at == T0 + timedelta(hours=4)
    assert clocks["documentation"].due_at == T0 + timedelta(hours=24)
    assert clocks["post_mortem"].due_at == T0 + timedelta(hours=72)
    assert clocks["triage"].owner == commander
    assert clocks["hotfix"].owner == oncall
    assert all(o.satisfied_at is None for o in clocks.values())


def test_business_day_procedure_counts_business_days(oncall):
    friday = datetime(2026, 11, 20, 16, 0, tzinfo=UTC)
    change = file_stub(oncall, now=friday, procedure_code="eng-proc-004")
    post_mortem = Obligation.objects.get(subject_id=change.pk, kind="post_mortem")
    assert post_mortem.due_at == datetime(2026, 11, 25, 16, 0, tzinfo=UTC)  # Mon, Tue, Wed


def test_filing_writes_history_and_audit_event(oncall):
    change = file_stub(oncall, now=T0)
    record = change.history.get()
    assert record.history_user == oncall
    assert record.history_change_reason == "emergency stub filed"
    event = AuditEvent.objects.get(action="change.filed")
    assert event.actor == oncall
    assert event.subject_label == change.identifier
    assert event.after["incident"] == change.incident.ticket


@pytest.mark.parametrize(
    ("category", "cvss", "ok"),
    [
        ("p1_incident", None, True),
        ("data_breach", None, True),
        ("critical_security", Decimal("9.0"), True),
        ("critical_security", Decimal("10.0"), True),
        ("critical_security", Decimal("8.9"), False),
        ("critical_security", Decimal("7.0"), False),
        ("critical_security", Decimal("6.9"), False),
        ("critical_security", Decimal("0.0"), False),
        ("critical_security", None, False),
        ("p2_incident", None, False),
        ("urgent_feature", None, False),
    ],
)
def test_decision_matrix(oncall, category, cvss, ok):
    if ok:
        assert file_stub(oncall, category=category, cvss_score=cvss).pk
        return
    with pytest.raises(ValidationError):
        file_stub(oncall, category=category, cvss_score=cvss)
    assert not ChangeRecord.objects.exists()
    assert not Incident.objects.exists()
    assert not Obligation.objects.exists()
    assert not Notification.objects.exists()


def test_high_cvss_is_pointed_to_the_expedited_gate_05_path(oncall):
    with pytest.raises(ValidationError) as exc:
        file_stub(oncall, category="critical_security", cvss_score=Decimal("8.9"))
    message = exc.value.message_dict["cvss_score"][0]
    assert "EMG-E002" in message
    assert "GATE-05" in message


@pytest.mark.parametrize("category", ["p2_incident", "urgent_feature"])
def test_non_emergencies_are_refused_with_emg_e002(oncall, category):
    with pytest.raises(ValidationError) as exc:
        file_stub(oncall, category=category)
    assert exc.value.message_dict["category"][0].startswith("EMG-E002")
    assert "standard gate process" in exc.value.message_dict["category"][0]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"title": "  "}, "title"),
        ({"problem_statement": ""}, "problem_statement"),
        ({"category": "meteor_strike"}, "category"),
        ({"category": "critical_security", "cvss_score": Decimal("10.1")}, "cvss_score"),
        ({"category": "critical_security", "cvss_score": Decimal("-0.1")}, "cvss_score"),
    ],
)
def test_bad_input_is_a_field_error_and_creates_nothing(oncall, overrides, field):
    with pytest.raises(ValidationError) as exc:
        file_stub(oncall, **overrides)
    assert field in exc.value.message_dict
    assert not ChangeRecord.objects.exists()


def test_named_commander_must_be_an_incident_commander(oncall, make_user):
    not_a_commander = make_user(Role.LEAD)
    with pytest.raises(ValidationError) as exc:
        file_stub(oncall, commander=not_a_commander)
    assert "commander" in exc.value.message_dict


def test_existing_incident_ticket_is_linked_not_duplicated(oncall):
    first = file_stub(oncall, incident_ticket="INC-4711", now=T0)
    second = file_stub(oncall, incident_ticket="inc-4711", now=T0 + timedelta(minutes=5))
    assert first.incident_id == second.incident_id
    assert Incident.objects.count() == 1


def test_only_filing_roles_may_file(auditor, legal):
    for user in (auditor, legal):
        with pytest.raises(PermissionDenied):
            file_stub(user)
    assert not ChangeRecord.objects.exists()


@pytest.mark.parametrize(
    ("category", "expected"),
    [
        ("p1_incident", {"commander"}),
        ("critical_security", {"commander", "security"}),
        ("data_breach", {"commander", "security", "legal"}),
    ],
)
def test_authorisers_are_notified_on_commit(
    oncall, commander, security, legal, make_user, django_capture_on_commit_callbacks, category, expected
):
    make_user(Role.COMMANDER, username="other-commander")  # not named: not notified
    cvss = Decimal("9.5") if category == "critical_security" else None
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        change = file_stub(oncall, category=category, cvss_score=cvss, commander=commander)
    # Nothing leaves in the request: one outbox task, published by the relay once committed, carries them all.
    assert mail.outbox == []
    assert callbacks == []
    (task,) = OutboxMessage.objects.all()
    assert sorted(task.args[0]) == sorted(Notification.objects.values_list("pk", flat=True))
    recipients = {n.recipient.username for n in Notification.objects.select_related("recipient")}
    assert recipients == expected
    assert all(n.sent_at is None for n in Notification.objects.all())
    assert all(change.identifier in n.subject for n in Notification.objects.all())
    assert all(
        reverse("emergencies:change-detail", args=[change.identifier]) in n.link for n in Notification.objects.all()
    )


def test_without_a_named_commander_every_commander_is_notified(oncall, commander, make_user):
    other = make_user(Role.COMMANDER)
    file_stub(oncall)
    assert set(Notification.objects.values_list("recipient", flat=True)) == {commander.pk, other.pk}


def test_notification_is_delivered_once_by_the_task(oncall, commander):
    from qms.tasks import notification_send_task

    file_stub(oncall, commander=commander)
    ids = list(Notification.objects.values_list("pk", flat=True))
    assert notification_send_task(ids) == 1
    assert notification_send_task(ids) == 0  # running twice sends nothing more
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [commander.email]
    assert "CHG-EMG-" in mail.outbox[0].subject
    assert mail.outbox[0].alternatives[0][1] == "text/html"

"""The war room: entries append-only with corrections, the live timeline, status updates whose clocks are
met only by a sent message, the post-mortem prefill, and the auditor export."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.urls import reverse

from audits.models import AuditEvent, Obligation
from emergencies.models import StatusUpdate, TimelineEntry, WarRoomEntry
from emergencies.services import communication, postincident, warroom
from qms.models import Notification, NotificationChannel
from qms.roles import Role
from qms.services import notification_deliver
from tests.chat_servers import SlackServer
from tests.conftest import requires_postgres
from tests.factories import file_stub

CMWF = "cm-wf-emergency"


@pytest.fixture
def change(oncall, commander):
    return file_stub(oncall, commander=commander)


def post(change, actor, text, **kw):
    return warroom.war_room_entry_post(change_id=change.pk, text=text, actor=actor, **kw)


def test_entries_have_who_and_when_and_an_audit_event(change, commander):
    entry = post(change, commander, "decision: roll back to 4.1", kind="decision")
    assert entry.posted_by == commander and entry.posted_at is not None
    event = AuditEvent.objects.get(action="warroom.decision")
    assert event.subject_id == str(change.pk) and "roll back" in event.reason


def test_a_correction_is_a_new_entry_that_references_the_old_one(change, commander, oncall):
    first = post(change, commander, "call with vendor at 02:00", kind="call")
    fix = post(change, oncall, "call with vendor at 03:00", kind="call", corrects_id=first.pk)
    first.refresh_from_db()
    assert first.text == "call with vendor at 02:00" and fix.corrects == first
    rows = {r.key: r for r in __import__("emergencies.selectors", fromlist=["x"]).war_room_timeline(change=change)}
    assert rows[f"entry-{first.pk}"].corrected_by == [f"entry-{fix.pk}"]
    assert rows[f"entry-{fix.pk}"].corrects == f"entry-{first.pk}"
    assert AuditEvent.objects.filter(action="warroom.correction").count() == 1


def test_entries_refusals(change, commander, auditor, make_user, oncall):
    with pytest.raises(PermissionDenied):
        post(change, auditor, "I was here")
    with pytest.raises(ValidationError):
        post(change, commander, "   ")
    with pytest.raises(ValidationError):
        post(change, commander, "x" * 4001)
    with pytest.raises(ValidationError):
        post(change, commander, "x", kind="gossip")
    other = file_stub(oncall, title="Another outage")
    foreign = post(other, commander, "elsewhere")
    with pytest.raises(ValidationError) as refused:
        post(change, commander, "fix", corrects_id=foreign.pk)
    assert "corrects" in refused.value.message_dict
    assert WarRoomEntry.objects.count() == 1


@requires_postgres
def test_entries_cannot_be_edited_or_deleted_in_the_database(change, commander):
    from django.db import DatabaseError

    entry = post(change, commander, "decision: roll back")
    with pytest.raises(DatabaseError), transaction.atomic():
        WarRoomEntry.objects.filter(pk=entry.pk).update(text="nothing happened")
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM emergencies_warroomentry WHERE id = %s", [entry.pk])


def test_timeline_shows_detection_transitions_signatures_and_entries(client, change, commander):
    post(change, commander, "decision: roll back to 4.1", kind="decision")
    client.force_login(commander)
    page = client.get(reverse("emergencies:war-room", args=[change.identifier]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Incident opened" in html and "decision: roll back to 4.1" in html and "filed" in html
    partial = client.get(
        reverse("emergencies:war-room-timeline", args=[change.identifier]), headers={"HX-Request": "true"}
    )
    assert partial.status_code == 200 and 'hx-trigger="every 3s"' in partial.content.decode()


def test_timeline_query_budget_does_not_grow(client, change, commander, django_assert_max_num_queries):
    client.force_login(commander)
    url = reverse("emergencies:war-room-timeline", args=[change.identifier])
    client.get(url)
    for n in range(15):
        post(change, commander, f"note {n}")
    with django_assert_max_num_queries(20):
        client.get(url)


def test_posting_from_the_page_and_the_auditor_cannot(client, change, commander, auditor):
    client.force_login(commander)
    url = reverse("emergencies:war-room-entry", args=[change.identifier])
    assert client.post(url, {"kind": "decision", "text": "decision: roll back"}).status_code == 302
    assert client.post(url, {"kind": "decision", "text": ""}).status_code == 400
    client.force_login(auditor)
    assert client.get(reverse("emergencies:war-room", args=[change.identifier])).status_code == 200
    assert client.post(url, {"kind": "note", "text": "hi"}).status_code == 403
    assert WarRoomEntry.objects.count() == 1


# --- status updates: audiences, cadence, the external deadline ----------------------------------------------


@pytest.fixture
def cmwf(make_user, commander):
    cm = make_user(Role.CM, username="cm")
    make_user(Role.PROGRAM, username="program")
    return file_stub(cm, procedure_code=CMWF, commander=commander)


def status_clocks(change, kind="status_update"):
    return Obligation.objects.filter(subject_type__model="changerecord", subject_id=change.pk, kind=kind).order_by("pk")


def update(change, actor, audience="internal", text="Patch in test on SN-4"):
    return communication.status_update_post(
        change_id=change.pk, data=communication.StatusUpdateInput(current_status=text, audience=audience), actor=actor
    )


def test_internal_update_goes_to_the_internal_list_and_meets_the_cadence_only_when_sent(cmwf, commander):
    first = status_clocks(cmwf).get()
    posted = update(cmwf, commander)
    rows = Notification.objects.filter(dedupe_key__startswith=f"status-update:{posted.pk}:int:")
    assert {n.recipient.username for n in rows} >= {"commander", "cm", "program"}
    first.refresh_from_db()
    assert first.satisfied_at is None, "posted is not sent"
    row = rows.order_by("pk").first()
    assert notification_deliver(notification_id=row.pk)
    first.refresh_from_db()
    row.refresh_from_db()
    assert first.satisfied_at == row.sent_at
    second = status_clocks(cmwf).last()
    assert second.key == "2" and second.due_at == row.sent_at + timedelta(hours=1)
    for other in rows.exclude(pk=row.pk):  # the other recipients' copies do not meet clock #2
        notification_deliver(notification_id=other.pk)
    assert status_clocks(cmwf).count() == 2 and status_clocks(cmwf).last().satisfied_at is None


def test_an_update_nobody_received_meets_nothing(cmwf, commander, settings):
    settings.EMAIL_BACKEND = "tests.emergencies.services.test_warroom.FailingBackend"
    posted = update(cmwf, commander)
    for n in Notification.objects.filter(dedupe_key__startswith=f"status-update:{posted.pk}:"):
        assert not notification_deliver(notification_id=n.pk)
    assert status_clocks(cmwf).get().satisfied_at is None


class FailingBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError("SMTP server down")


def test_external_deadline_is_met_only_by_a_sent_external_message(cmwf, commander):
    external = status_clocks(cmwf, "external_notification").get()
    assert external.due_at == cmwf.declared_at + timedelta(hours=4)  # critical: 4 h
    posted = update(cmwf, commander, audience="external", text="Operators: do not use mode 3")
    assert not Notification.objects.filter(dedupe_key__startswith=f"status-update:{posted.pk}:").exists()
    external.refresh_from_db()
    assert external.satisfied_at is None, "no external contact configured: nobody was told"
    contacts = NotificationChannel(
        name="Operators",
        kind="email",
        destination="ops@customer.example",
        audience="external",
        events=["status_update"],
    )
    contacts.full_clean()
    contacts.save()
    posted = update(cmwf, commander, audience="external", text="Operators: do not use mode 3 (2)")
    row = Notification.objects.get(dedupe_key__startswith=f"status-update:{posted.pk}:ext:")
    assert row.destination == "ops@customer.example" and "mode 3 (2)" in row.body
    external.refresh_from_db()
    assert external.satisfied_at is None
    assert notification_deliver(notification_id=row.pk)
    external.refresh_from_db()
    assert external.satisfied_at is not None and external.satisfied_at == Notification.objects.get(pk=row.pk).sent_at


def test_a_slack_channel_subscribed_to_updates_gets_them(cmwf, commander, settings):
    slack = SlackServer().start()
    settings.SLACK_API_URL, settings.SLACK_BOT_TOKEN = slack.url, slack.token
    try:
        c = NotificationChannel(name="Incidents", kind="slack", destination="C0INC", events=["status_update"])
        c.full_clean()
        c.save()
        posted = update(cmwf, commander, text="Rollback complete on 40 of 120 units")
        row = Notification.objects.get(dedupe_key__startswith=f"status-update:{posted.pk}:int:ch")
        assert notification_deliver(notification_id=row.pk)
        assert "Rollback complete on 40 of 120 units" in str(slack.received[0]["blocks"])
        assert status_clocks(cmwf).first().satisfied_at is not None
    finally:
        slack.stop()


def test_war_room_shows_whether_an_update_was_sent(client, cmwf, commander):
    client.force_login(commander)
    response = client.post(
        reverse("emergencies:war-room-update", args=[cmwf.identifier]),
        {"update-audience": "internal", "update-current_status": "Fleet grounded"},
    )
    assert response.status_code == 302
    html = client.get(reverse("emergencies:war-room", args=[cmwf.identifier])).content.decode()
    assert "Fleet grounded" in html and "sent 0 of" in html
    posted = StatusUpdate.objects.get()
    for n in Notification.objects.filter(dedupe_key__startswith=f"status-update:{posted.pk}:"):
        notification_deliver(notification_id=n.pk)
    html = client.get(reverse("emergencies:war-room", args=[cmwf.identifier])).content.decode()
    assert "failing" not in html and "sent 0 of" not in html


# --- the post-mortem prefill and the export -------------------------------------------------------------


def test_post_mortem_timeline_prefilled_with_the_rows_the_author_picks(client, change, commander, oncall):
    decision = post(change, commander, "decision: roll back to 4.1", kind="decision")
    post(change, commander, "coffee")
    post_mortem = postincident.post_mortem_start(change_id=change.pk, actor=oncall)
    before = post_mortem.timeline.count()
    client.force_login(oncall)
    response = client.post(
        reverse("emergencies:war-room-prefill", args=[change.identifier]), {"rows": [f"entry-{decision.pk}"]}
    )
    assert response.status_code == 302
    events = list(TimelineEntry.objects.filter(post_mortem=post_mortem).values_list("event", flat=True))
    assert len(events) == before + 1 and "Decision: decision: roll back to 4.1" in events
    assert not any("coffee" in e for e in events)
    warroom.post_mortem_timeline_prefill(post_mortem_id=post_mortem.pk, keys=[f"entry-{decision.pk}"], actor=oncall)
    assert TimelineEntry.objects.filter(post_mortem=post_mortem).count() == before + 1, "each row once"
    with pytest.raises(ValidationError):
        warroom.post_mortem_timeline_prefill(post_mortem_id=post_mortem.pk, keys=["entry-999999"], actor=oncall)


def test_prefill_refused_to_a_reader(change, commander, auditor, oncall):
    decision = post(change, commander, "decision")
    post_mortem = postincident.post_mortem_start(change_id=change.pk, actor=oncall)
    with pytest.raises(PermissionDenied):
        warroom.post_mortem_timeline_prefill(
            post_mortem_id=post_mortem.pk, keys=[f"entry-{decision.pk}"], actor=auditor
        )


def test_entries_are_in_the_auditor_export(change, commander, qms_coordinator, tmp_path):
    import io
    import json
    import zipfile

    from audits.exports import audit_export_write

    post(change, commander, "decision: roll back to 4.1", kind="decision")
    buffer = io.BytesIO()
    day = change.declared_at.date()
    audit_export_write(out=buffer, date_from=day, date_to=day, actor=qms_coordinator)
    with zipfile.ZipFile(buffer) as archive:
        record = json.loads(archive.read(f"changes/{change.identifier}.json"))
    assert record["war_room_entries"][0]["text"] == "decision: roll back to 4.1"

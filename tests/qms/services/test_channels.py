"""Slack, Teams and outgoing webhooks through the outbox: sent once, retried with backoff, failure visible,
and each channel given only the fields its audience may see."""

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from qms.models import Notification, NotificationChannel, Procedure
from qms.roles import Role
from qms.services import notification_deliver, notification_pending_ids, user_preferences_update
from tests.chat_servers import SlackServer, TeamsReceiver, WebhookReceiver
from tests.factories import file_stub

BREACH = "Customer records of 3,200 accounts readable through the export endpoint."


@pytest.fixture
def slack(settings):
    server = SlackServer().start()
    settings.SLACK_API_URL = server.url
    settings.SLACK_BOT_TOKEN = server.token
    yield server
    server.stop()


@pytest.fixture
def teams():
    server = TeamsReceiver().start()
    yield server
    server.stop()


def channel(kind, destination, *, audience="public", events=("filed",), secret="", procedure=None):
    c = NotificationChannel(
        name=f"{kind} {audience}",
        kind=kind,
        destination=destination,
        audience=audience,
        events=list(events),
        secret=secret,
        procedure=procedure,
    )
    c.full_clean()
    c.save()
    return c


def deliver_all():
    return [
        notification_deliver(notification_id=pk)
        for pk in Notification.objects.filter(sent_at__isnull=True).order_by("pk").values_list("pk", flat=True)
    ]


def test_slack_channel_gets_the_filing_once_with_block_kit(slack, oncall, commander):
    c = channel("slack", "C0INCIDENTS")
    change = file_stub(oncall, commander=commander)
    row = Notification.objects.get(target=c)
    assert row.channel == "slack" and row.recipient is None
    assert notification_deliver(notification_id=row.pk) is True
    assert notification_deliver(notification_id=row.pk) is False  # already sent: never twice
    assert len(slack.received) == 1 and not slack.rejected
    message = slack.received[0]
    assert message["channel"] == "C0INCIDENTS" and change.identifier in message["text"]
    assert message["blocks"][0]["type"] == "header"
    button = message["blocks"][-1]["elements"][0]
    assert button["url"].endswith(change.get_absolute_url())
    row.refresh_from_db()
    assert row.sent_at is not None and row.attempts == 1


def test_slack_failure_is_retried_with_backoff_and_visible(slack, oncall, commander, admin_client):
    channel("slack", "C0INCIDENTS")
    file_stub(oncall, commander=commander)
    row = Notification.objects.get(channel="slack")
    slack.fail_next = 1
    assert notification_deliver(notification_id=row.pk) is False
    row.refresh_from_db()
    assert row.sent_at is None and row.attempts == 1 and "upstream error" in row.last_error and row.failing
    assert row.next_attempt_at > timezone.now()
    page = admin_client.get(reverse("admin:qms_notification_changelist") + "?delivery=failing")
    assert row.subject[:40] in page.content.decode()
    with time_machine.travel(timezone.now() + timedelta(seconds=10)):
        assert row.pk not in notification_pending_ids(older_than_seconds=0)  # backing off
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        assert row.pk in notification_pending_ids(older_than_seconds=0)
        assert notification_deliver(notification_id=row.pk) is True
    assert len(slack.received) == 1


def test_slack_rejection_by_the_api_is_a_failure(slack, oncall, settings):
    channel("slack", "C0INCIDENTS")
    settings.SLACK_BOT_TOKEN = "xoxb-wrong"
    file_stub(oncall)
    row = Notification.objects.get(channel="slack")
    assert notification_deliver(notification_id=row.pk) is False
    row.refresh_from_db()
    assert "invalid_auth" in row.last_error and not slack.received


def test_teams_card_is_sent_once_and_retried(teams, oncall):
    c = channel("teams", teams.url)
    change = file_stub(oncall)
    row = Notification.objects.get(target=c)
    teams.fail_next = 1
    assert notification_deliver(notification_id=row.pk) is False
    assert "503" in Notification.objects.get(pk=row.pk).last_error
    assert notification_deliver(notification_id=row.pk) is True
    assert notification_deliver(notification_id=row.pk) is False
    assert len(teams.received) == 1 and not teams.rejected
    card = teams.received[0]["attachments"][0]["content"]
    assert card["type"] == "AdaptiveCard"
    assert card["actions"][0]["url"].endswith(change.get_absolute_url())


def test_outgoing_webhook_is_signed_and_a_wrong_key_fails_visibly(oncall):
    good = WebhookReceiver(secret="s" * 32).start()
    bad = WebhookReceiver(secret="t" * 32).start()
    try:
        ok = channel("webhook", good.url, secret="s" * 32)
        wrong = channel("webhook", bad.url, secret="x" * 32)
        change = file_stub(oncall)
        assert notification_deliver(notification_id=Notification.objects.get(target=ok).pk)
        assert not notification_deliver(notification_id=Notification.objects.get(target=wrong).pk)
        assert good.received[0]["fields"]["record"] == change.identifier
        assert good.received[0]["event"] == "filed"
        assert "401" in Notification.objects.get(target=wrong).last_error and bad.rejected == ["bad signature"]
    finally:
        good.stop()
        bad.stop()


def test_webhook_receiver_down_is_retried_not_lost(oncall):
    receiver = WebhookReceiver(secret="s" * 32)
    c = channel("webhook", receiver.url, secret="s" * 32)  # not started: nothing listens on the port
    file_stub(oncall)
    row = Notification.objects.get(target=c)
    assert not notification_deliver(notification_id=row.pk)
    assert "refused" in Notification.objects.get(pk=row.pk).last_error.lower()
    receiver.start()
    try:
        assert notification_deliver(notification_id=row.pk)
        assert len(receiver.received) == 1
    finally:
        receiver.stop()


def test_a_public_channel_never_gets_a_data_breach_problem_statement(slack, oncall, security, legal, commander):
    public = channel("slack", "C0PUBLIC")
    restricted = channel("slack", "C0RESPONDERS", audience="responders")
    commander.notify_by_slack, commander.slack_user_id = True, "U0COMMANDER"
    commander.save()
    change = file_stub(
        oncall, category="data_breach", problem_statement=BREACH, title="Export leaks records", commander=commander
    )
    deliver_all()
    by_channel = {m["channel"]: json_text(m) for m in slack.received}
    assert BREACH not in by_channel["C0PUBLIC"] and "Export leaks records" not in by_channel["C0PUBLIC"]
    assert change.identifier in by_channel["C0PUBLIC"]
    assert BREACH in by_channel["C0RESPONDERS"]
    assert BREACH in by_channel["U0COMMANDER"], "a person's DM carries what their email does"
    assert "Awaiting your signature" in by_channel["U0COMMANDER"]
    assert {public.pk, restricted.pk} == set(
        Notification.objects.filter(target__isnull=False).values_list("target", flat=True)
    )


def test_a_p1_public_message_carries_the_title_but_not_the_problem_statement(slack, oncall):
    channel("slack", "C0PUBLIC")
    file_stub(oncall, problem_statement="Stack trace mentions db-7 password rotation")
    deliver_all()
    text = json_text(slack.received[0])
    assert "Checkout API returns 500" in text and "password rotation" not in text


def test_channels_follow_procedure_and_event_kind(slack, oncall):
    channel("slack", "C0OTHER", procedure=Procedure.objects.get(code="cm-wf-emergency"))
    channel("slack", "C0AUTH", events=("authorised",))
    file_stub(oncall)  # emergency-bypass-workflow, event "filed"
    assert not Notification.objects.filter(channel="slack").exists()


def test_people_choose_email_and_or_slack(slack, oncall, commander):
    user_preferences_update(
        user=commander, time_zone="UTC", notify_by_email=False, notify_by_slack=True, slack_user_id="U0CARLOS"
    )
    file_stub(oncall, commander=commander)
    assert not Notification.objects.filter(recipient=commander, channel="email").exists()
    dm = Notification.objects.get(recipient=commander, channel="slack")
    assert notification_deliver(notification_id=dm.pk)
    assert slack.received[0]["channel"] == "U0CARLOS"
    assert not [m for m in mail.outbox if commander.email in m.to]


def test_preferences_refuse_nonsense(commander, client):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        user_preferences_update(user=commander, time_zone="UTC", notify_by_email=False, notify_by_slack=False)
    with pytest.raises(ValidationError):
        user_preferences_update(user=commander, time_zone="UTC", notify_by_slack=True, slack_user_id="")
    client.force_login(commander)
    response = client.post(
        reverse("qms:preferences"), {"time_zone": "UTC", "notify_by_slack": "on", "slack_user_id": "nope"}
    )
    assert response.status_code == 400
    commander.refresh_from_db()
    assert not commander.notify_by_slack


@pytest.mark.parametrize(
    ("kind", "destination", "secret", "audience", "field"),
    [
        ("slack", "not a channel", "", "public", "destination"),
        ("teams", "ftp://x", "", "public", "destination"),
        ("webhook", "https://hooks.example.com/x", "short", "public", "secret"),
        ("slack", "C0ABC", "", "external", "audience"),
    ],
)
def test_channel_configuration_is_checked(db, kind, destination, secret, audience, field):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refused:
        channel(kind, destination, secret=secret, audience=audience)
    assert field in refused.value.message_dict


def json_text(message) -> str:
    import json

    return json.dumps(message)


def test_the_admin_configures_channels(admin_client, db):
    response = admin_client.post(
        reverse("admin:qms_notificationchannel_add"),
        {
            "name": "Incidents",
            "kind": "slack",
            "destination": "C0INCIDENTS",
            "audience": "public",
            "events": '["filed"]',
            "active": "on",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    assert NotificationChannel.objects.get().history.count() == 1
    assert Role  # roles module loads

"""Notifications to a role go to its on-call primary, then to the backup after the response time; the page is
acknowledged in one click from the message; roles without a roster keep reaching their whole group."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from audits.models import AuditEvent
from qms.models import Notification
from qms.roles import Role
from qms.roster.models import OnCallPage
from qms.roster.paging import ack_token, notification_queue_roles, page_escalate_due
from qms.roster.services import rotation_create
from qms.tasks import oncall_escalate_task
from tests.factories import file_stub

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(make_user):
    qms = make_user(Role.QMS, username="qmsc")
    primary = make_user(Role.COMMANDER, username="pia")
    backup = make_user(Role.COMMANDER, username="bo")
    other = make_user(Role.COMMANDER, username="otto")
    start = timezone.now() - timedelta(days=1)
    for slot, person in (("primary", primary), ("backup", backup)):
        rotation_create(role="commander", slot=slot, name="Weekly", members=[person], starts_at=start, actor=qms)
    return {"qms": qms, "primary": primary, "backup": backup, "other": other}


def _page_role(severity="CRITICAL", prefix="event:1", now=None):
    return notification_queue_roles(
        roles=[Role.COMMANDER],
        dedupe_prefix=prefix,
        template="status_update",
        context={"update": None},
        link="/emergencies/",
        severity=severity,
        now=now,
    )


def _emailed(user) -> list[Notification]:
    return list(Notification.objects.filter(recipient=user, channel=Notification.Channel.EMAIL))


def test_a_role_with_a_roster_reaches_its_primary_only_with_an_ack_link(team):
    _page_role()
    page = OnCallPage.objects.get()
    assert page.primary == team["primary"] and page.backup == team["backup"]
    assert page.respond_by - page.paged_at == timedelta(hours=1)  # critical
    (message,) = _emailed(team["primary"])
    assert "Acknowledge in one click: http" in message.body and "/oncall/ack/" in message.body
    assert "/oncall/ack/" in message.html_body
    assert not _emailed(team["backup"]) and not _emailed(team["other"])
    _page_role()  # the same event again: one page, one message
    assert OnCallPage.objects.count() == 1 and len(_emailed(team["primary"])) == 1


def test_a_high_page_waits_two_hours_and_the_backup_is_paged_after(team):
    now = timezone.now()
    _page_role(severity="HIGH", now=now)
    page = OnCallPage.objects.get()
    assert page.respond_by == now + timedelta(hours=2)
    assert page_escalate_due(now=now + timedelta(hours=1, minutes=59)) == 0
    assert not _emailed(team["backup"])
    assert page_escalate_due(now=now + timedelta(hours=2)) == 1
    (message,) = _emailed(team["backup"])
    assert "has not acknowledged" in message.body and "Acknowledge in one click" in message.body
    assert page_escalate_due(now=now + timedelta(hours=3)) == 0  # twice: escalated once
    assert len(_emailed(team["backup"])) == 1 and not _emailed(team["other"])
    page.refresh_from_db()
    assert page.escalated_at == now + timedelta(hours=2)
    assert AuditEvent.objects.filter(action="oncall.escalated", after__to=["bo"]).exists()


def test_the_beat_task_escalates(team, settings):
    _page_role(now=timezone.now() - timedelta(hours=2))
    assert oncall_escalate_task() == 1
    assert settings.CELERY_BEAT_SCHEDULE["oncall-escalate"]["task"] == "qms.tasks.oncall_escalate_task"


def test_an_acknowledged_page_is_not_escalated(team, client):
    now = timezone.now()
    _page_role(now=now)
    page = OnCallPage.objects.get()
    url = reverse("qms:oncall-ack", args=[ack_token(page, team["primary"])])
    response = client.get(url)  # anonymous: the signed link is the credential; a GET writes nothing
    assert response.status_code == 200 and b'data-testid="ack-button"' in response.content
    page.refresh_from_db()
    assert page.acknowledged_at is None
    response = client.post(url)
    assert response.status_code == 200
    page.refresh_from_db()
    assert page.acknowledged_by == team["primary"] and page.acknowledged_via == "link"
    assert page_escalate_due(now=now + timedelta(hours=5)) == 0 and not _emailed(team["backup"])
    assert AuditEvent.objects.filter(action="oncall.acknowledged", actor=team["primary"]).exists()
    again = client.post(url)  # single use
    assert again.status_code == 409 and b"Already acknowledged" in again.content


def test_the_ack_link_refuses_forgery_another_signed_in_user_and_the_backup_before_escalation(team, client):
    _page_role()
    page = OnCallPage.objects.get()
    token = ack_token(page, team["primary"])
    assert client.post(reverse("qms:oncall-ack", args=[token[:-2] + "xx"])).status_code == 404
    client.force_login(team["other"])
    assert client.post(reverse("qms:oncall-ack", args=[token])).status_code == 403
    client.logout()
    backup_url = reverse("qms:oncall-ack", args=[ack_token(page, team["backup"])])
    assert client.post(backup_url).status_code == 403  # not paged yet
    page.refresh_from_db()
    assert page.acknowledged_at is None
    page_escalate_due(now=page.respond_by)
    assert client.post(backup_url).status_code == 200
    page.refresh_from_db()
    assert page.acknowledged_by == team["backup"]


def test_the_link_in_the_delivered_email_acknowledges(team, client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _page_role()
    from qms.services import notification_deliver

    for row in Notification.objects.filter(sent_at__isnull=True):
        notification_deliver(notification_id=row.pk)
    (email,) = [m for m in mail.outbox if m.to == [team["primary"].email]]
    path = re.search(r"https?://[^/\s]+(/oncall/ack/[^\s]+)", email.body).group(1)
    client.force_login(team["primary"])
    assert client.post(path).status_code == 200
    assert OnCallPage.objects.get().acknowledged_via == "session"


def test_a_role_without_a_roster_reaches_its_whole_group(make_user):
    safety = [make_user(Role.SAFETY) for _ in range(2)]
    notification_queue_roles(
        roles=[Role.SAFETY, Role.LEGAL], dedupe_prefix="e:2", template="status_update", context={"update": None}
    )
    assert all(_emailed(person) for person in safety)
    assert not OnCallPage.objects.exists()


def test_a_gap_in_the_roster_falls_back_to_the_group(team, make_user):
    OnCallPage.objects.all().delete()
    later = timezone.now() - timedelta(days=30)  # before the rotations start
    _page_role(now=later, prefix="e:3")
    assert not OnCallPage.objects.exists()
    assert all(_emailed(team[k]) for k in ("primary", "backup", "other"))


def test_a_filed_emergency_pages_the_on_call_authorisers(make_user):
    oncall = make_user(Role.ONCALL)
    qms = make_user(Role.QMS)
    cms = [make_user(Role.CM) for _ in range(3)]
    programs = [make_user(Role.PROGRAM) for _ in range(2)]
    start = timezone.now() - timedelta(hours=1)
    rotation_create(role="cm", slot="primary", name="CM", members=[cms[1]], starts_at=start, actor=qms)
    change = file_stub(oncall, procedure_code="cm-wf-emergency")  # p1_incident: CM and program manager
    pages = OnCallPage.objects.filter(dedupe_prefix=f"change-filed:{change.pk}")
    assert [p.primary for p in pages] == [cms[1]]
    assert pages[0].respond_by - pages[0].paged_at == timedelta(hours=1)  # CM-WF: critical
    assert _emailed(cms[1]) and not _emailed(cms[0]) and not _emailed(cms[2])
    assert all(_emailed(p) for p in programs)  # no roster: the whole group


def test_a_page_with_a_long_subject_is_acknowledged_and_audited(team):
    _page_role()
    page = OnCallPage.objects.get()
    page.subject = "S" * 250
    page.save()
    from qms.roster.services import page_acknowledge

    page_acknowledge(page_id=page.pk, actor=team["primary"])
    event = AuditEvent.objects.get(action="oncall.acknowledged")
    assert len(event.subject_label) == 100 and event.reason.startswith("SSS")

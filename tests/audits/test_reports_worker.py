"""The beat's jobs run by a real Celery worker consuming from Redis (nothing eager): the escalation sweep and a
compliance report, each delivered by mail through the outbox exactly once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.core import mail
from django.utils import timezone

from audits.models import ComplianceReport, Obligation
from audits.reports.periods import last_complete_period
from audits.tasks import compliance_report_task, obligation_sweep_task
from qms.celery import app
from qms.models import Notification, OutboxMessage
from qms.roles import Role
from tests.audits.helpers import open_clocks
from tests.conftest import requires_redis
from tests.factories import file_stub
from tests.test_celery import wait_for

pytestmark = [requires_redis, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_worker_runs_the_sweep_and_mails_each_step_once(make_user):
    oncall = make_user(Role.ONCALL, username="oncall")
    commander = make_user(Role.COMMANDER, username="commander")
    lead = make_user(Role.LEAD, username="lead")
    change = file_stub(oncall, commander=commander)
    (item,) = open_clocks(change, owner=oncall, due_at=timezone.now() - timedelta(hours=30), count=1)
    app.control.purge()
    OutboxMessage.objects.all().delete()  # the filing's own notifications: this test counts the sweep's mails
    mail.outbox.clear()
    with start_worker(app, perform_ping_check=False, shutdown_timeout=30):
        obligation_sweep_task.delay()
        assert wait_for(lambda: len(mail.outbox) == 2)
    assert obligation_sweep_task() == 0  # the next beat tick: nothing new
    item.refresh_from_db()
    assert item.escalation_level == 2
    assert sorted(m.to[0] for m in mail.outbox) == sorted([oncall.email, lead.email])
    assert Notification.objects.filter(dedupe_key__startswith=f"obligation-overdue:{item.pk}:").count() == 2
    assert len(mail.outbox) == 2
    assert Obligation.objects.get(pk=item.pk).last_escalated_at is not None


def test_worker_generates_the_daily_report_once_and_mails_it(make_user):
    qms = make_user(Role.QMS, username="qms")
    app.control.purge()
    mail.outbox.clear()
    with start_worker(app, perform_ping_check=False, shutdown_timeout=30):
        compliance_report_task.delay("daily")
        compliance_report_task.delay("daily")  # two beat processes, or a retry
        assert wait_for(lambda: len(mail.outbox) == 1)
        assert wait_for(lambda: Notification.objects.filter(sent_at__isnull=True).count() == 0)
    start, _ = last_complete_period("daily", timezone.now())
    report = ComplianceReport.objects.get()
    assert report.kind == "daily" and report.period_start == start and report.generated_by is None
    message = mail.outbox[0]
    assert message.to == [qms.email]
    assert "Daily compliance report" in message.subject
    html = {mimetype: body for body, mimetype in message.alternatives}["text/html"]
    assert "Active bypass status" in html and "Active bypass status" in message.body
    assert message.attachments[0][0].endswith(".csv")

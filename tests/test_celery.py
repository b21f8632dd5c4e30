"""Celery against a real broker: a worker thread consumes from Redis, nothing runs eagerly."""

import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.core import mail
from django.urls import reverse

from qms.celery import app
from qms.models import Notification
from qms.tasks import notification_dispatch_pending_task
from tests.conftest import requires_redis
from tests.factories import file_stub


def wait_for(predicate, timeout=20.0):
    """Wait for the worker to do its job (polling; fails the test after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def test_every_beat_entry_names_a_registered_task():
    app.loader.import_default_modules()
    schedule = app.conf.beat_schedule
    assert schedule, "the beat schedule is empty"
    for name, entry in schedule.items():
        assert entry["task"] in app.tasks, f"beat entry {name} names unknown task {entry['task']}"


@requires_redis
@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_worker_delivers_the_filing_notification_once(oncall, commander):
    app.control.purge()
    with start_worker(app, perform_ping_check=False, shutdown_timeout=30):
        change = file_stub(oncall, commander=commander)
        assert wait_for(lambda: len(mail.outbox) == 1)
    assert mail.outbox[0].to == [commander.email]
    assert change.identifier in mail.outbox[0].subject
    assert Notification.objects.get().sent_at is not None


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_filing_works_with_the_broker_down_and_nothing_is_lost(client, oncall, commander, private_redis, celery_on):
    private_redis.start()
    celery_on(private_redis.url)
    private_redis.stop()  # the broker goes down mid-incident

    client.force_login(oncall)
    response = client.post(
        reverse("emergencies:stub-create"),
        {"title": "Checkout down", "category": "p1_incident", "problem_statement": "All orders fail."},
    )
    assert response.status_code == 302
    notification = Notification.objects.get()
    assert notification.sent_at is None
    assert mail.outbox == []

    private_redis.start()  # back on the same port
    celery_on(private_redis.url)
    with start_worker(app, perform_ping_check=False, shutdown_timeout=30):
        notification_dispatch_pending_task.delay(older_than_seconds=0)
        assert wait_for(lambda: len(mail.outbox) == 1)
    # The beat job runs again: nothing is pending any more, so nothing is sent twice.
    assert notification_dispatch_pending_task(older_than_seconds=0) == 0
    assert len(mail.outbox) == 1
    notification.refresh_from_db()
    assert notification.sent_at is not None
    assert notification.attempts == 1

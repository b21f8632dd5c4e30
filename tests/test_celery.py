"""Celery against a real broker: a worker thread consumes from Redis, nothing runs eagerly."""

import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.core import mail

from qms.celery import app
from qms.models import Notification
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


# The broker going down (filing still works, nothing is lost) is in tests/test_resilience.py.

"""The task outbox: a request writes what it owes the broker into its own transaction and never touches the
broker; the relay publishes committed rows (woken by PostgreSQL NOTIFY), and the worker delivers them."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from django.core import mail
from django.db import connections, transaction
from django.urls import reverse

from qms.celery import app
from qms.models import Notification, OutboxMessage
from qms.outbox import OutboxRelay, outbox_enqueue, outbox_publish_pending
from tests.conftest import _free_port, requires_postgres, requires_redis
from tests.factories import file_stub

STUB_FORM = {"title": "Checkout API returns 500", "category": "p1_incident", "problem_statement": "All orders fail."}
SEND = "qms.tasks.notification_send_task"


def wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := predicate():
            return result
        time.sleep(0.02)
    return predicate()


class HangingBroker:
    """A broker that accepts connections and never answers (a hung Redis, packets dropped after the SYN)."""

    def __init__(self):
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(64)
        self.port = self.socket.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.accepted = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                peer, _ = self.socket.accept()
            except OSError:
                return
            self.accepted.append(peer)  # kept open, never answered

    def close(self):
        self.socket.shutdown(socket.SHUT_RDWR)
        self.socket.close()
        self.thread.join(5)
        for peer in self.accepted:
            peer.close()


@pytest.mark.django_db
@pytest.mark.parametrize("broker", ["hanging", "closed port"])
def test_filing_never_touches_the_broker_and_the_outbox_holds_the_task(
    broker, client, oncall, commander, celery_on, monkeypatch, django_capture_on_commit_callbacks
):
    hanging = HangingBroker() if broker == "hanging" else None
    port = hanging.port if hanging else _free_port()
    celery_on(f"redis://127.0.0.1:{port}/0")
    client.force_login(oncall)
    client.get(reverse("qms:dashboard"))
    connects = []
    real_connect = socket.socket.connect

    def guarded_connect(sock, address):
        connects.append(address)
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    try:
        started = time.monotonic()
        # The on-commit callbacks run, as they do in production once the request's transaction commits.
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(reverse("emergencies:stub-create"), {**STUB_FORM, "commander": commander.pk})
        elapsed = time.monotonic() - started
    finally:
        monkeypatch.undo()
        if hanging:
            hanging.close()
    assert response.status_code == 302, response.content[:2000]
    assert connects == [], f"the request connected to {connects}"
    assert hanging is None or hanging.accepted == []
    assert elapsed < 2.0  # a hanging broker held a request for its socket timeout (5 s) before the outbox
    ids = sorted(Notification.objects.values_list("pk", flat=True))
    assert ids
    (message,) = OutboxMessage.objects.all()
    assert (message.task, sorted(message.args[0])) == (SEND, ids)


@pytest.mark.django_db
def test_a_rolled_back_transaction_owes_the_broker_nothing(oncall, commander):
    with pytest.raises(RuntimeError), transaction.atomic():
        file_stub(oncall, commander=commander)
        assert OutboxMessage.objects.count() == 1
        raise RuntimeError("the filing fails after queuing its notifications")
    assert not OutboxMessage.objects.exists() and not Notification.objects.exists()


@requires_redis
@pytest.mark.django_db
def test_a_broker_that_is_down_keeps_the_rows_and_they_are_published_once_it_is_back(celery_on, monkeypatch):
    real = app.conf.broker_url
    outbox_enqueue(SEND, [1])
    outbox_enqueue(SEND, [2])
    celery_on(f"redis://127.0.0.1:{_free_port()}/0")
    with pytest.raises(Exception):  # noqa: B017 - kombu's OperationalError or redis' ConnectionError
        outbox_publish_pending()
    first, second = OutboxMessage.objects.order_by("pk")
    assert (first.attempts, second.attempts) == (1, 0) and "Error" in first.last_error

    celery_on(real)
    app.control.purge()
    assert outbox_publish_pending() == 2
    assert not OutboxMessage.objects.exists()
    queued = redis.Redis.from_url(real).llen("celery")
    app.control.purge()
    assert queued == 2


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_rows_locked_by_one_relay_are_skipped_by_another():
    first = outbox_enqueue(SEND, [1])
    other = connections.create_connection("default")
    try:
        other.ensure_connection()
        other.connection.autocommit = False
        other.connection.execute("SELECT id FROM qms_outboxmessage WHERE id = %s FOR UPDATE", [first.pk])
        second = outbox_enqueue(SEND, [2])
        app.control.purge()
        assert outbox_publish_pending() == 1  # the second; the first is another relay's
        assert list(OutboxMessage.objects.values_list("pk", flat=True)) == [first.pk]
        assert second.pk != first.pk
    finally:
        other.connection.rollback()
        other.close()
        app.control.purge()


@requires_postgres
@requires_redis
@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_relay_is_woken_by_the_commit_and_the_worker_delivers(client, oncall, commander, settings):
    # Polling every 60 s: only PostgreSQL's NOTIFY at commit can wake the relay within the second.
    app.control.purge()
    relay = OutboxRelay(poll=60).start()
    try:
        assert wait_for(lambda: relay._listener is not None, timeout=10)
        time.sleep(0.2)  # the relay has drained the (empty) outbox and waits on the notification
        client.force_login(oncall)
        response = client.post(reverse("emergencies:stub-create"), {**STUB_FORM, "commander": commander.pk})
        committed = time.monotonic()
        assert response.status_code == 302
        assert wait_for(lambda: relay.published == 1, timeout=5)
        latency = time.monotonic() - committed
    finally:
        relay.stop()
    assert latency < 1.0, f"published {latency:.2f} s after the commit"
    assert not OutboxMessage.objects.exists()
    assert redis.Redis.from_url(app.conf.broker_url).llen("celery") == 1

    settings.OUTBOX_RELAY_IN_WORKER = False  # the task is already on the broker
    with start_worker(app, perform_ping_check=False, shutdown_timeout=30):
        assert wait_for(lambda: len(mail.outbox) == 1)
    assert mail.outbox[0].to == [commander.email]
    assert Notification.objects.get().sent_at is not None


@requires_redis
@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_worker_runs_a_relay_of_its_own(oncall, commander):
    app.control.purge()
    with start_worker(app, perform_ping_check=False, shutdown_timeout=30):
        change = file_stub(oncall, commander=commander)
        assert wait_for(lambda: len(mail.outbox) == 1)
    assert change.identifier in mail.outbox[0].subject
    assert not OutboxMessage.objects.exists()

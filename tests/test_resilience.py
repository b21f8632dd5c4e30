"""Resilience: the portal under faults, with the real broker, worker processes, database and web server.

- Redis stopped: stubs still file without trying the broker (the task outbox); their notifications are delivered once
  Redis is back, none lost; a running worker keeps reconnecting and consumes again.
- A worker killed mid-task: the task is redelivered and its effect happens once (acks_late + idempotency).
- The database lost: a clear 503 page, and nothing half-written.
- 50 stubs filed concurrently in one minute: 50 distinct ids.

No sleeping for time: every wait polls for a definite event, with a deadline.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.core import mail
from django.db import connection, connections, transaction
from django.test import Client
from django.urls import reverse

from audits.models import AuditChainHead, AuditEvent, Obligation
from audits.services import audit_chain_verify
from emergencies.models import ChangeRecord, Incident
from qms.celery import app
from qms.models import Notification, OutboxMessage
from qms.tasks import notification_dispatch_pending_task
from tests.conftest import _free_port, requires_postgres
from tests.factories import file_stub

BASE_DIR = Path(settings.BASE_DIR)
STUB_FORM = {"title": "Checkout down", "category": "p1_incident", "problem_statement": "All orders fail."}


def wait_for(predicate, timeout=30.0):
    """Poll until ``predicate()`` holds or the deadline passes; returns its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := predicate():
            return result
        time.sleep(0.1)
    return predicate()


# --- Redis stopped ------------------------------------------------------------------------------------


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_stubs_file_with_the_broker_down_and_every_notification_arrives_once_it_is_back(
    client, oncall, commander, private_redis, celery_on
):
    private_redis.start()
    celery_on(private_redis.url)
    private_redis.stop()  # the broker goes down mid-incident

    # Three ways of filing, all while the broker is down: the form, the API and the service.
    client.force_login(oncall)
    response = client.post(reverse("emergencies:stub-create"), {**STUB_FORM, "commander": commander.pk})
    assert response.status_code == 302, response.content[:2000]
    api = Client()
    api.force_login(oncall)
    response = api.post(
        "/api/v1/emergencies/", {**STUB_FORM, "commander": commander.username}, content_type="application/json"
    )
    assert response.status_code == 201, response.content[:2000]
    file_stub(oncall, commander=commander)

    assert ChangeRecord.objects.count() == 3
    pending = set(Notification.objects.filter(sent_at__isnull=True).values_list("pk", flat=True))
    assert len(pending) >= 3 and Notification.objects.filter(sent_at__isnull=False).count() == 0
    assert mail.outbox == []

    _bring_the_broker_back_and_deliver(private_redis, celery_on, pending)
    assert sorted(m.to[0] for m in mail.outbox).count(commander.email) >= 3


def _bring_the_broker_back_and_deliver(private_redis, celery_on, pending: set[int]) -> None:
    """Restart Redis on its port, let the beat job re-send what is pending, and check each row went out once."""
    private_redis.start()  # back on the same port
    celery_on(private_redis.url)
    with start_worker(app, perform_ping_check=False, shutdown_timeout=30):
        notification_dispatch_pending_task.delay(older_than_seconds=0)
        assert wait_for(lambda: len(mail.outbox) == len(pending)), f"{len(mail.outbox)} of {len(pending)} sent"
        # The beat job runs again: nothing is pending any more, so nothing is sent twice.
        notification_dispatch_pending_task.delay(older_than_seconds=0)
        assert wait_for(lambda: not Notification.objects.filter(sent_at__isnull=True).exists())
    assert notification_dispatch_pending_task(older_than_seconds=0) == 0
    assert len(mail.outbox) == len(pending)
    assert set(Notification.objects.values_list("attempts", flat=True)) == {1}


class HangUpListener:
    """Takes the stopped broker's port and hangs up on every connection, counting them."""

    def __init__(self, port: int):
        self.socket = socket.socket()
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", port))
        self.socket.listen(64)
        self.accepted = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                peer, _ = self.socket.accept()
            except OSError:  # shut down
                return
            self.accepted += 1  # before the hang-up, so the client's error comes after the count
            peer.close()

    def close(self):
        self.socket.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self.socket.close()
        self.thread.join(10)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("broker", ["stopped", "hanging-up"])
def test_filing_with_the_broker_down_never_tries_it_and_the_notifications_arrive_once_it_is_back(
    broker, oncall, commander, private_redis, celery_on, monkeypatch
):
    private_redis.start()
    celery_on(private_redis.url)
    private_redis.stop()

    # Count the connections to the broker's port during the filing: the kernel refuses them (stopped), or a
    # listener takes them and hangs up (hanging-up). The filing owes the task to the outbox and connects to
    # nothing: kombu's reconnect loop once held a request about 6 s, a single bounded attempt 2 s.
    if broker == "stopped":
        connects = []
        real_connect = socket.socket.connect

        def counting_connect(sock, address):
            if isinstance(address, tuple) and address[1] == private_redis.port:
                connects.append(threading.current_thread().name)  # who tried, should one ever do
            return real_connect(sock, address)

        with monkeypatch.context() as patch:
            patch.setattr(socket.socket, "connect", counting_connect)
            change = file_stub(oncall, commander=commander)
        tries = len(connects)
        assert not connects, f"connections to the stopped broker from the threads {connects}"
    else:
        listener = HangUpListener(private_redis.port)
        try:
            change = file_stub(oncall, commander=commander)
        finally:
            listener.close()
        tries = listener.accepted
    assert tries == 0
    assert OutboxMessage.objects.filter(task="qms.tasks.notification_send_task").count() == 1

    assert ChangeRecord.objects.filter(pk=change.pk).exists()
    pending = set(Notification.objects.filter(sent_at__isnull=True).values_list("pk", flat=True))
    assert pending and set(Notification.objects.values_list("pk", flat=True)) == pending
    assert mail.outbox == []

    _bring_the_broker_back_and_deliver(private_redis, celery_on, pending)
    to_commander = [m for m in mail.outbox if m.to == [commander.email]]
    assert len(to_commander) == 1 and change.identifier in to_commander[0].body


# --- A worker killed mid-task -------------------------------------------------------------------------


def _database_url() -> str:
    db = connection.settings_dict  # the test database (pytest-django's test_ + name)
    user = quote(db["USER"] or "", safe="")
    password = f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    return f"postgres://{user}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class WorkerProcess:
    """A real ``celery worker --pool=solo`` on the test database and the test's private Redis."""

    def __init__(self, *, name: str, broker_url: str, pause_at: str, mail_dir: Path, log_dir: Path):
        self.name, self.log_path = name, log_dir / f"{name}.log"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "qms.settings",
            "DATABASE_URL": _database_url(),
            "DB_CONN_MAX_AGE": "0",
            "CELERY_BROKER_URL": broker_url,
            "EMAIL_BACKEND": "tests.resilience_worker.PausingFileEmailBackend",
            "RESILIENCE_REDIS_URL": broker_url,
            "RESILIENCE_PAUSE_AT": pause_at,
            "RESILIENCE_MAIL_DIR": str(mail_dir),
            "RESILIENCE_VISIBILITY_TIMEOUT": "2",
        }
        self.process: subprocess.Popen | None = None

    def start(self) -> WorkerProcess:
        self.log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "celery", "-A", "tests.resilience_worker", "worker"),
                *("--pool=solo", "--concurrency=1", "--without-heartbeat", "--without-mingle", "--without-gossip"),
                *("--loglevel=INFO", f"--hostname={self.name}@%h"),
            ],
            cwd=BASE_DIR,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        return self

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL: no warm shutdown, so no chance to acknowledge or requeue what it holds."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.log.close()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


def _sent_messages(mail_dir: Path) -> list[str]:
    """What Django's file backend wrote: each message is followed by a line of 79 dashes."""
    messages = []
    for path in sorted(mail_dir.glob("*.log")):
        messages += [m for m in path.read_text().split("-" * 79 + "\n") if m.strip()]
    return messages


def _next_record(control: redis.Redis, key: str, *, timeout: float, where=lambda record: True) -> dict | None:
    deadline = time.monotonic() + timeout
    while deadline > time.monotonic():
        item = control.blpop([key], timeout=1)  # short blocking reads: under any client socket timeout
        if item is not None and where(record := json.loads(item[1])):
            return record
    return None


@requires_postgres
@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "pause_at",
    [
        pytest.param("delivery", id="killed-while-sending"),
        pytest.param("before_ack", id="killed-after-commit-before-ack"),
    ],
)
def test_a_worker_killed_mid_task_has_the_task_redelivered_and_its_effect_happens_once(
    pause_at, oncall, commander, private_redis, celery_on, tmp_path
):
    private_redis.start()
    celery_on(private_redis.url)
    control = redis.Redis.from_url(private_redis.url)
    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()
    workers = {"broker_url": private_redis.url, "mail_dir": mail_dir, "log_dir": tmp_path}

    change = file_stub(oncall, commander=commander)  # publishes notification_send_task on commit
    notification = Notification.objects.get(recipient=commander)

    first = WorkerProcess(name="first", pause_at=pause_at, **workers).start()
    try:
        reached = _next_record(control, "resilience:reached", timeout=60)
        assert reached is not None, f"the first worker never reached {pause_at}:\n{first.output()}"
        first.kill()
    finally:
        first.stop()

    notification.refresh_from_db()
    if pause_at == "delivery":
        # It died holding the row lock, mid-transaction: PostgreSQL rolled the attempt back, nothing was sent.
        assert (notification.sent_at, notification.attempts) == (None, 0)
        assert _sent_messages(mail_dir) == []
    else:
        # It died after the delivery committed, before telling the broker: the effect is already there.
        assert notification.sent_at is not None and notification.attempts == 1
        assert len(_sent_messages(mail_dir)) == 1

    second = WorkerProcess(name="second", pause_at="", **workers).start()
    try:
        rerun = _next_record(control, "resilience:ran", timeout=60, where=lambda r: r["pid"] == second.pid)
        assert rerun is not None, f"the task was never redelivered:\n{second.output()}"
    finally:
        second.stop()

    assert rerun["task"] == "qms.tasks.notification_send_task"
    assert rerun["task_id"] == reached["task_id"], "the same message, handed out again"
    assert rerun["redelivered"] is True
    # The second run delivers what the first could not, or sees it was delivered and does nothing.
    assert rerun["retval"] == (1 if pause_at == "delivery" else 0)
    notification.refresh_from_db()
    assert notification.sent_at is not None and notification.attempts == 1
    sent = _sent_messages(mail_dir)
    assert len(sent) == 1, "exactly one email, whatever died when"
    assert commander.email in sent[0] and change.identifier in sent[0]


@requires_postgres
@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_keeps_reconnecting_while_the_broker_is_down_and_consumes_once_it_is_back(
    oncall, commander, private_redis, celery_on, tmp_path
):
    # Publishes give up after one connect (max_retries in qms/settings.py); the worker's consumer must not.
    private_redis.start()
    celery_on(private_redis.url)
    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()
    worker = WorkerProcess(
        name="patient", pause_at="", broker_url=private_redis.url, mail_dir=mail_dir, log_dir=tmp_path
    ).start()
    try:
        file_stub(oncall, commander=commander, title="Checkout down")
        ran = _next_record(redis.Redis.from_url(private_redis.url), "resilience:ran", timeout=60)
        assert ran is not None, f"the worker never consumed:\n{worker.output()}"

        private_redis.stop()
        # Celery's consumer says so each time it schedules another try.
        assert wait_for(lambda: worker.output().count("Trying again in") >= 2), worker.output()
        assert worker.process.poll() is None, worker.output()

        private_redis.start()  # back on the same port, empty
        celery_on(private_redis.url)
        change = file_stub(oncall, commander=commander, title="Payments down")
        ran = _next_record(redis.Redis.from_url(private_redis.url), "resilience:ran", timeout=90)
        assert ran is not None, f"the worker never came back:\n{worker.output()}"
    finally:
        worker.stop()
    assert ran["pid"] == worker.pid, "the same worker process, reconnected"
    assert not Notification.objects.filter(sent_at__isnull=True).exists()
    sent = _sent_messages(mail_dir)
    assert len(sent) == Notification.objects.count() and any(change.identifier in m for m in sent)


# --- The database lost --------------------------------------------------------------------------------


def _row_counts() -> dict[str, int]:
    models = [ChangeRecord, Incident, Obligation, AuditEvent, Notification]
    counts = {m.__name__: m.objects.count() for m in models}
    counts.update({f"{m.__name__} history": m.history.count() for m in (ChangeRecord, Incident, Obligation)})
    return counts


@requires_postgres
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_losing_the_database_mid_write_answers_503_and_leaves_nothing_half_written(oncall):
    browser = Client()
    browser.force_login(oncall)
    before = _row_counts()
    outcome = {}

    def file_from_the_browser():
        try:
            outcome["response"] = browser.post(reverse("emergencies:stub-create"), STUB_FORM)
        finally:
            connections.close_all()

    with transaction.atomic():
        # Hold the audit chain's head: the filing writes its incident and change, then waits here.
        AuditChainHead.objects.select_for_update().get(pk=1)
        request = threading.Thread(target=file_from_the_browser)
        request.start()

        def blocked_backend():
            with connection.cursor() as cursor:
                # Activity statistics are snapshotted once per transaction; take a fresh look each time.
                cursor.execute("SELECT pg_stat_clear_snapshot()")
                cursor.execute(
                    "SELECT pid, backend_xid IS NOT NULL FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
                )
                return cursor.fetchone()

        waiting = wait_for(blocked_backend)
        assert waiting is not None, "the filing never reached the audit chain"
        pid, has_written = waiting
        assert has_written, "the request had written rows in its transaction when it was cut off"
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])  # as a failover or restart would
    request.join(30)

    response = outcome["response"]
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    page = response.content.decode()
    assert "The portal cannot reach its database" in page
    assert "Nothing from this request was saved" in page
    assert "Traceback" not in page
    assert _row_counts() == before, "no half-written record"
    assert audit_chain_verify().ok

    # The database is back: the next request reconnects and files.
    response = browser.post(reverse("emergencies:stub-create"), STUB_FORM)
    assert response.status_code == 302
    assert ChangeRecord.objects.count() == before["ChangeRecord"] + 1


class SilentListener:
    """A port that accepts TCP connections and never answers, like a hung or black-holed database."""

    def __init__(self):
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(64)
        self.port = self.socket.getsockname()[1]

    def close(self):
        self.socket.close()


def _get(url: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


@pytest.mark.parametrize("failure", ["refused", "silent"])
def test_a_server_whose_database_is_unreachable_answers_503_pages_and_api_errors(failure, tmp_path):
    listener = SilentListener() if failure == "silent" else None
    db_port = listener.port if listener else _free_port()  # "refused": nothing listens there
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "qms.settings",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{db_port}/qms",
        "DB_CONNECT_TIMEOUT": "1",
        "DEBUG": "0",
        "SECRET_KEY": "resilience-test-key-" + "x" * 40,
        "SECURE_SSL_REDIRECT": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        "CELERY_BROKER_URL": "memory://",
    }
    log = (tmp_path / "gunicorn.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "qms.wsgi:application", "-b", f"127.0.0.1:{port}", "-w", "1"],
        cwd=BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def up():
            try:
                return _get(f"{base}/healthz")[0] == 200  # answers without the database
            except OSError:
                return False

        assert wait_for(up, timeout=30), (tmp_path / "gunicorn.log").read_text()[-3000:]

        # A signed-in browser: the session is looked up in a middleware, before any view.
        status, headers, body = _get(f"{base}/", {"Cookie": "sessionid=" + "s" * 32})
        assert status == 503, body[:500]
        assert headers["Retry-After"] == "30"
        assert headers["Content-Type"].startswith("text/html")
        assert b"The portal cannot reach its database" in body
        assert b"Traceback" not in body

        # An API client with a well-formed token: it is looked up in the view (a malformed one is refused without
        # the database).
        token = "Token qms_abcd1234_" + "s" * 43
        status, headers, body = _get(f"{base}/api/v1/emergencies/", {"Authorization": token})
        assert status == 503
        assert headers["Content-Type"] == "application/problem+json"
        assert "cannot reach its database" in json.loads(body)["detail"]
    finally:
        server.terminate()
        server.wait(30)
        log.close()
        if listener:
            listener.close()


# --- 50 stubs in one minute ---------------------------------------------------------------------------


@requires_postgres
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_fifty_stubs_filed_concurrently_in_one_minute_get_fifty_distinct_ids(oncall):
    now = datetime(2026, 11, 23, 3, 41, 7, tzinfo=UTC)
    start = threading.Barrier(50, timeout=60)

    def file_one(n: int) -> str:
        try:
            start.wait()  # all fifty at once
            return file_stub(oncall, title=f"Checkout down #{n}", now=now).identifier
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=50) as pool:
        identifiers = list(pool.map(file_one, range(50)))

    base = "CHG-EMG-20261123-0341"
    assert len(set(identifiers)) == 50
    assert set(identifiers) == {base, *(f"{base}-{n:02d}" for n in range(2, 51))}
    assert ChangeRecord.objects.count() == 50
    assert Incident.objects.count() == 50
    assert len(set(Incident.objects.values_list("ticket", flat=True))) == 50
    # Each filing is whole: its change, its clocks and its audit events; the chain stayed one chain.
    assert Obligation.objects.values("subject_id").distinct().count() >= 50
    assert AuditEvent.objects.filter(action="change.filed").count() == 50
    assert audit_chain_verify().ok

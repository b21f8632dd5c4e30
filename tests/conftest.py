import shutil
import socket
import subprocess
import time

import pytest
from django.conf import settings

from qms.bootstrap import ensure_reference_data
from qms.roles import Role
from tests.factories import UserFactory


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Reference data even when the test database is built without migrations (--nomigrations)."""
    with django_db_blocker.unblock():
        ensure_reference_data()


def _is_transactional(request) -> bool:
    marker = request.node.get_closest_marker("django_db")
    if marker is not None and marker.kwargs.get("transaction"):
        return True
    return bool({"transactional_db", "live_server"} & set(request.fixturenames))


@pytest.fixture(autouse=True)
def reference_data(request):
    """Groups and procedure presets come from a migration, but a transactional test flushes the database
    when it ends; the ones that follow get them back here."""
    if _is_transactional(request):
        request.getfixturevalue("transactional_db")
        ensure_reference_data()


@pytest.fixture(autouse=True)
def no_other_relay():
    """An outbox relay left running by an earlier test's worker would drain the rows a test counts, or connect
    to the broker a test watches: stop every one before each test."""
    from qms.outbox import RUNNING

    for relay in list(RUNNING):
        relay.stop()


@pytest.fixture
def make_user(db):
    def make(*roles: Role, **kwargs):
        return UserFactory(roles=[r.value for r in roles], **kwargs)

    return make


@pytest.fixture
def oncall(make_user):
    return make_user(Role.ONCALL, username="oncall", first_name="Olivia", last_name="Oncall")


@pytest.fixture
def commander(make_user):
    return make_user(Role.COMMANDER, username="commander", first_name="Carlos", last_name="Commander")


@pytest.fixture
def security(make_user):
    return make_user(Role.SECURITY, username="security", first_name="Sofia", last_name="Security")


@pytest.fixture
def legal(make_user):
    return make_user(Role.LEGAL, username="legal", first_name="Leo", last_name="Legal")


@pytest.fixture
def auditor(make_user):
    return make_user(Role.AUDITOR, username="auditor", first_name="Aude", last_name="Auditor")


@pytest.fixture
def qms_coordinator(make_user):
    return make_user(Role.QMS, username="qms", first_name="Quinn", last_name="Coordinator")


def is_postgres() -> bool:
    return settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


def broker_is_redis() -> bool:
    return settings.CELERY_BROKER_URL.startswith("redis://")


requires_postgres = pytest.mark.skipif(not is_postgres(), reason="needs PostgreSQL (set DATABASE_URL)")
requires_redis = pytest.mark.skipif(not broker_is_redis(), reason="needs Redis (set CELERY_BROKER_URL)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A real, private redis-server the test can stop and start again."""

    def __init__(self):
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server"),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self):
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def private_redis():
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    server = RedisServer()
    yield server
    server.stop()


@pytest.fixture
def celery_on(monkeypatch):
    """Point the project's Celery app at a broker URL for the test, then put it back.

    Celery reads ``CELERY_BROKER_URL`` from the environment before its own configuration, so with the
    variable set (as ``make test`` sets it) changing ``app.conf`` alone changes nothing: set both.
    """
    from qms.celery import app

    original = app.conf.broker_url

    def use(url: str):
        monkeypatch.setenv("CELERY_BROKER_URL", url)
        app.conf.broker_url = url
        app._after_fork()  # drop pooled connections to the previous broker
        return app

    yield use
    use(original)

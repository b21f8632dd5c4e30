"""The task outbox: a request writes the tasks it owes into its own transaction; a relay publishes them.

``outbox_enqueue`` is what services call instead of ``transaction.on_commit(task.apply_async)``: one INSERT,
no network. A rolled-back transaction owes nothing; a committed one owes its tasks even if the broker is down,
hanging or dropping packets, because nothing in the request waits for the broker.

``outbox_relay`` runs in the Celery worker (:class:`OutboxRelayStep`, a bootstep ``qms.celery`` adds) or alone
(``manage.py outbox_relay``). It listens on the PostgreSQL channel ``qms_outbox`` (an insert trigger notifies
it; PostgreSQL delivers the notification at commit, so a task is published within milliseconds of its commit)
and polls every second as well, which is all it does on SQLite. Rows are taken with ``FOR UPDATE SKIP LOCKED``,
so any number of relays can run side by side, and deleted once the broker has accepted them. A broker that
refuses a publish stops the batch: what was published is deleted, the rest waits for the next attempt (backing
off up to 30 s). A task can reach the broker twice (a relay killed between publish and delete): every outbox
task is idempotent.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import weakref

from celery import bootsteps
from django.db import DatabaseError, connection, connections, transaction

from qms.models.outbox import OutboxMessage

logger = logging.getLogger(__name__)

CHANNEL = "qms_outbox"
POLL_SECONDS = 1.0
BATCH = 200
MAX_BACKOFF = 30.0


def outbox_enqueue(task: str, *args) -> OutboxMessage:
    """Owe the broker ``task(*args)`` once the caller's transaction commits (JSON arguments only)."""
    return OutboxMessage.objects.create(task=task, args=list(args))


def outbox_publish_pending(*, limit: int = BATCH) -> int:
    """Publish up to ``limit`` committed outbox rows, oldest first; returns how many the broker accepted.

    Raises the broker's error after deleting the rows it accepted before failing.
    """
    from qms.celery import app

    published: list[int] = []
    error: Exception | None = None
    with transaction.atomic():
        rows = list(OutboxMessage.objects.select_for_update(skip_locked=True).order_by("pk")[:limit])
        for row in rows:
            try:
                app.send_task(row.task, args=row.args, retry=False)
            except Exception as exc:  # the broker is down: keep this row and the rest for the next attempt
                error = exc
                OutboxMessage.objects.filter(pk=row.pk).update(
                    attempts=row.attempts + 1, last_error=f"{type(exc).__name__}: {exc}"[:2000]
                )
                break
            published.append(row.pk)
        if published:
            OutboxMessage.objects.filter(pk__in=published).delete()
    if error is not None:
        raise error
    return len(published)


RUNNING: weakref.WeakSet = weakref.WeakSet()  # the relays of this process (a test stops them all)


class OutboxRelay:
    """Drain the outbox until ``stop()``: woken by NOTIFY on PostgreSQL, every ``poll`` seconds in any case."""

    def __init__(self, *, poll: float = POLL_SECONDS):
        self.poll = poll
        self.stopping = threading.Event()
        self.published = 0
        self._listener = None
        self._thread: threading.Thread | None = None

    # --- running -----------------------------------------------------------------------------------------

    def start(self) -> OutboxRelay:
        """Run in a daemon thread (the worker's bootstep, tests)."""
        self._thread = threading.Thread(target=self.run, name="outbox-relay", daemon=True)
        RUNNING.add(self)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
        RUNNING.discard(self)

    def run(self) -> None:
        backoff = 0.0
        try:
            while not self.stopping.is_set():
                try:
                    self._listen()
                    self._drain()
                    backoff = 0.0
                except Exception as exc:  # broker or database away: log once per failure, back off
                    backoff = min(max(backoff * 2, 1.0), MAX_BACKOFF)
                    logger.warning("Outbox relay: %s: %s (next attempt in %.0f s)", type(exc).__name__, exc, backoff)
                    self._close_listener()
                    with contextlib.suppress(Exception):  # a broken connection is reopened by the next drain
                        connection.close()
                    if self.stopping.wait(backoff):
                        break
                    continue
                self._wait()
        finally:
            self._close_listener()
            with contextlib.suppress(Exception):
                connection.close()

    def _drain(self) -> None:
        while not self.stopping.is_set():
            count = outbox_publish_pending()
            self.published += count
            if count < BATCH:
                return

    def _wait(self) -> None:
        if self._listener is None:
            self.stopping.wait(self.poll)
            return
        deadline = time.monotonic() + self.poll
        # Short slices, so stop() is seen within a quarter of a second.
        while not self.stopping.is_set() and (left := deadline - time.monotonic()) > 0:
            if any(True for _ in self._listener.connection.notifies(timeout=min(left, 0.25), stop_after=1)):
                return

    # --- the LISTEN connection (PostgreSQL) -------------------------------------------------------------

    def _listen(self) -> None:
        if self._listener is not None or connection.vendor != "postgresql":
            return
        listener = connections.create_connection("default")
        listener.ensure_connection()
        listener.connection.autocommit = True
        listener.connection.execute(f"LISTEN {CHANNEL}")
        self._listener = listener

    def _close_listener(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(DatabaseError):  # already gone with the database
                self._listener.close()
            self._listener = None


class OutboxRelayStep(bootsteps.StartStopStep):
    """The worker drains the task outbox (qms.outbox) in a thread of its own, beside its pool; several
    workers (or ``manage.py outbox_relay`` beside them) share the work through SKIP LOCKED."""

    def __init__(self, worker, **kwargs):
        self.relay = None
        super().__init__(worker, **kwargs)

    def start(self, worker):
        from django.conf import settings

        if getattr(settings, "OUTBOX_RELAY_IN_WORKER", True):
            self.relay = OutboxRelay().start()

    def stop(self, worker):
        if self.relay is not None:
            self.relay.stop()
            self.relay = None

from __future__ import annotations

from django.db import models
from django.utils import timezone


class OutboxMessage(models.Model):
    """A task owed to the broker, written in the transaction that owes it (``qms.outbox``).

    The request never talks to the broker: the relay (``qms.outbox.outbox_relay``) publishes committed rows
    and deletes them once the broker has them. On PostgreSQL an insert trigger sends ``NOTIFY qms_outbox``,
    which PostgreSQL delivers at commit, so the relay wakes at once; elsewhere it polls every second.
    """

    task = models.CharField(max_length=200)
    args = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.task}{tuple(self.args)}"

"""The war room of an emergency: what responders write down while it happens. Append-only: a correction
is a new entry that points at the one it corrects."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from qms.limits import COMMENT_MAX


class WarRoomEntry(models.Model):
    class Kind(models.TextChoices):
        NOTE = "note", "Note"
        DECISION = "decision", "Decision"
        CALL = "call", "Call"
        ACTION = "action", "Action"

    change = models.ForeignKey("emergencies.ChangeRecord", on_delete=models.PROTECT, related_name="war_room_entries")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.NOTE)
    text = models.TextField(max_length=COMMENT_MAX)
    posted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    posted_at = models.DateTimeField()
    corrects = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="corrections")

    class Meta:
        ordering = ["posted_at", "pk"]
        indexes = [models.Index(fields=["change", "posted_at"], name="war_room_entry_change")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.change_id} at {self.posted_at:%Y-%m-%d %H:%M}"

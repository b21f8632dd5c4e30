"""A procedure version under document control before it is in force: drafted, reviewed, approved, published."""

from __future__ import annotations

from functools import cached_property

from django.db import models
from simple_history.models import HistoricalRecords

from qms.limits import COMMENT_MAX


class ProcedureDraft(models.Model):
    """A proposed version of a procedure. Publishing it writes a new, immutable ProcedureVersion."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        IN_REVIEW = "in_review", "In review"
        APPROVED = "approved", "Approved"
        SCHEDULED = "scheduled", "Scheduled"
        PUBLISHED = "published", "Published"
        WITHDRAWN = "withdrawn", "Withdrawn"

    procedure = models.ForeignKey("qms.Procedure", on_delete=models.PROTECT, related_name="drafts")
    base_version = models.ForeignKey(
        "qms.ProcedureVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    definition = models.JSONField()
    change_note = models.TextField(blank=True, max_length=COMMENT_MAX)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    author = models.ForeignKey("qms.User", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    effective_from = models.DateTimeField(null=True, blank=True)
    published_version = models.OneToOneField(
        "qms.ProcedureVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="draft"
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.procedure.code} draft {self.pk}"

    def get_absolute_url(self) -> str:
        return f"/procedures/drafts/{self.pk}/"

    @property
    def is_open(self) -> bool:
        return self.status in (self.Status.DRAFT, self.Status.IN_REVIEW, self.Status.APPROVED)

    @cached_property
    def rules(self):
        from qms.procedures import ProcedureRules

        return ProcedureRules(self.definition)

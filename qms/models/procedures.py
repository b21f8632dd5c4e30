"""Procedures and their versions: each version holds the rules (a definition) in force for a period."""

from __future__ import annotations

from functools import cached_property

from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from qms.limits import COMMENT_MAX
from qms.models.users import User


class Procedure(models.Model):
    """A procedure document the portal implements; its rules live in versioned definitions."""

    code = models.SlugField(max_length=64, unique=True)
    title = models.CharField(max_length=200)
    source_document = models.CharField(max_length=200, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.title


class ProcedureVersion(models.Model):
    """One immutable version of a procedure's rules. Editing a procedure creates a new version."""

    procedure = models.ForeignKey(Procedure, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField()
    effective_from = models.DateTimeField()
    effective_until = models.DateTimeField(null=True, blank=True)
    # Set when a scheduled version is cancelled before its date: it is kept but never in force.
    cancelled_at = models.DateTimeField(null=True, blank=True)
    definition = models.JSONField()
    change_note = models.TextField(blank=True, max_length=COMMENT_MAX)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    history = HistoricalRecords()

    class Meta:
        ordering = ["procedure__code", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["procedure", "version"], name="procedure_version_unique"),
            models.CheckConstraint(
                condition=Q(effective_until__isnull=True) | Q(effective_until__gt=models.F("effective_from")),
                name="procedure_version_effective_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.procedure.code} v{self.version}"

    @cached_property
    def rules(self):
        from qms.procedures import ProcedureRules

        return ProcedureRules(self.definition)

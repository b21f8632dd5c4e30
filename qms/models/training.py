"""Training records that qualify signers, and time-boxed delegations of a signing role (models).

Imported by ``qms.models``; the rules (which courses a role needs) are procedure data, see
``qms.procedures.training``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from qms.limits import COMMENT_MAX, LINE_MAX


class TrainingRecord(models.Model):
    """One completed course of one person. Append-only (a PostgreSQL trigger refuses UPDATE and DELETE):
    a correction or a recertification is a new record, and the newest record of a course counts."""

    class Source(models.TextChoices):
        RECORDED = "recorded", "Recorded by a QMS coordinator"
        IMPORTED = "imported", "Imported from CSV"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="training_records")
    course = models.CharField(max_length=64)
    completed_on = models.DateField()
    expires_on = models.DateField()
    evidence_reference = models.CharField(max_length=LINE_MAX, blank=True)
    evidence_file = models.FileField(upload_to="training/%Y/%m/", blank=True, max_length=300)
    evidence_sha256 = models.CharField(max_length=64, blank=True)
    note = models.TextField(blank=True, max_length=COMMENT_MAX)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.RECORDED)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["user", "course", "-completed_on", "-pk"]
        indexes = [models.Index(fields=["user", "course", "-expires_on"], name="training_user_course")]
        constraints = [
            models.CheckConstraint(condition=Q(expires_on__gt=F("completed_on")), name="training_expires_after"),
            models.CheckConstraint(
                condition=~Q(evidence_reference="") | ~Q(evidence_file=""), name="training_has_evidence"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.course} of {self.user_id} until {self.expires_on}"

    def is_valid_on(self, day) -> bool:
        return self.completed_on <= day < self.expires_on


class Delegation(models.Model):
    """A person lends one of their signing roles to a qualified colleague for a period, with a reason.
    The delegate signs as themselves on behalf of the delegator; a delegate never delegates further."""

    delegator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="delegations_given")
    delegate = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="delegations_received"
    )
    role = models.CharField(max_length=32)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.TextField(max_length=COMMENT_MAX)
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    revoke_reason = models.TextField(blank=True, max_length=COMMENT_MAX)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-starts_at", "-pk"]
        indexes = [models.Index(fields=["delegate", "role", "ends_at"], name="delegation_delegate")]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="delegation_period"),
            models.CheckConstraint(condition=~Q(delegator=F("delegate")), name="delegation_not_to_self"),
        ]

    def __str__(self) -> str:
        return f"{self.role} of {self.delegator_id} to {self.delegate_id}"

    def is_active_at(self, moment) -> bool:
        return self.revoked_at is None and self.starts_at <= moment < self.ends_at

    @property
    def role_label(self) -> str:
        from qms.roles import Role

        try:
            return Role(self.role).label
        except ValueError:
            return self.role

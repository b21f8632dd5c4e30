from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django_fsm import FSMField, FSMModelMixin, transition
from simple_history.models import HistoricalRecords

from qms.limits import COMMENT_MAX, TEXT_MAX
from qms.links import record_url
from qms.models import ProcedureVersion
from qms.procedures import GATE_CODE_MAX, GATE_CODE_VALIDATOR


def _never(instance, user) -> bool:
    # Approval and rejection happen through signatures (emergencies.services.bypasses), never as a button.
    return False


class BypassRequest(FSMModelMixin, models.Model):
    """A request to skip quality gates, at one of the four levels, authorised by signatures."""

    class Level(models.TextChoices):
        L1 = "L1", "Level 1"
        L2 = "L2", "Level 2"
        L3 = "L3", "Level 3"
        EMERGENCY = "E", "Emergency"

    class Status(models.TextChoices):
        PENDING = "pending", "Awaiting signatures"
        ACTIVE = "active", "Active"
        REJECTED = "rejected", "Rejected"
        WITHDRAWN = "withdrawn", "Withdrawn"
        REMEDIATED = "remediated", "Remediated"

    class Impact(models.TextChoices):
        CRITICAL = "critical", "Critical"
        HIGH = "high", "High"
        MEDIUM = "medium", "Medium"
        LOW = "low", "Low"

    class Feasibility(models.TextChoices):
        EASY = "easy", "Easy — revert in minutes"
        MODERATE = "moderate", "Moderate — revert needs coordination"
        HARD = "hard", "Hard — data or schema changes"

    identifier = models.CharField(max_length=40, unique=True)
    level = models.CharField(max_length=2, choices=Level.choices)
    status = FSMField(max_length=16, choices=Status.choices, default=Status.PENDING, protected=True, db_index=True)
    procedure_version = models.ForeignKey(ProcedureVersion, on_delete=models.PROTECT, related_name="bypasses")
    change = models.ForeignKey(
        "emergencies.ChangeRecord", null=True, blank=True, on_delete=models.PROTECT, related_name="bypasses"
    )
    incident = models.ForeignKey(
        "emergencies.Incident", null=True, blank=True, on_delete=models.PROTECT, related_name="bypasses"
    )
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    implementer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Who merges and deploys the change; never its only approver.",
    )
    requested_at = models.DateTimeField()
    repository = models.CharField(max_length=200, blank=True)
    pull_request = models.CharField(max_length=200, blank=True)
    checks = models.JSONField(default=list, help_text="Keys of the failing checks this bypass skips.")

    # Decision tree
    production_impact = models.CharField(max_length=10, choices=Impact.choices)
    security_involved = models.BooleanField(default=False)
    compliance_involved = models.BooleanField(default=False)
    code_quality_only = models.BooleanField(default=False)
    decision_branch = models.CharField(max_length=200)

    # Level 1
    reason = models.TextField(blank=True, max_length=TEXT_MAX)
    impact_assessment = models.TextField(blank=True, max_length=TEXT_MAX)
    risk_evaluation = models.TextField(blank=True, max_length=TEXT_MAX)
    # Level 2: technical and business risk analysis
    complexity_score = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(10)]
    )
    test_coverage_impact = models.PositiveSmallIntegerField(
        "test-coverage impact (%)", null=True, blank=True, validators=[MaxValueValidator(100)]
    )
    integration_risk = models.TextField(blank=True, max_length=TEXT_MAX)
    rollback_feasibility = models.CharField(max_length=10, choices=Feasibility.choices, blank=True)
    business_factors = models.TextField(
        blank=True, help_text="Users affected, revenue, compliance, reputation.", max_length=TEXT_MAX
    )
    business_justification = models.TextField(blank=True, max_length=TEXT_MAX)
    stakeholder_notification_plan = models.TextField(blank=True, max_length=TEXT_MAX)
    # Level 3
    security_impact_analysis = models.TextField(blank=True, max_length=TEXT_MAX)
    legal_compliance_assessment = models.TextField(blank=True, max_length=TEXT_MAX)
    remediation_roadmap = models.TextField(blank=True, max_length=TEXT_MAX)
    incident_response_plan = models.TextField(blank=True, max_length=TEXT_MAX)
    communication_strategy = models.TextField(blank=True, max_length=TEXT_MAX)
    # Remediation plan
    remediation_plan = models.TextField(blank=True, max_length=TEXT_MAX)
    remediation_due = models.DateField(null=True, blank=True)
    remediation_assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    tracking_issue = models.CharField(max_length=300, blank=True)
    success_criteria = models.TextField(blank=True, max_length=TEXT_MAX)

    decided_at = models.DateTimeField(null=True, blank=True)
    rejection_reason = models.TextField(blank=True, max_length=COMMENT_MAX)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-requested_at", "-identifier"]
        indexes = [
            models.Index(fields=["status", "-requested_at"], name="bypass_status_requested"),
            models.Index(fields=["-requested_at", "-identifier"], name="bypass_requested"),  # the list's order
        ]

    def __str__(self) -> str:
        return self.identifier

    def get_absolute_url(self) -> str:
        return record_url("emergencies:bypass-detail", self.identifier)

    @property
    def rules(self):
        return self.procedure_version.rules

    @property
    def flags(self) -> dict[str, bool]:
        return {"security_involved": self.security_involved, "compliance_involved": self.compliance_involved}

    @property
    def check_labels(self) -> list[str]:
        rules = self.rules
        return [rules.check_label(key) for key in self.checks]

    @property
    def owner_of_remediation(self):
        return self.remediation_assignee or self.implementer or self.requested_by

    def signable_content(self) -> dict:
        """What a signature covers: any change to these fields invalidates the signatures given."""
        excluded = {"id", "status", "decided_at", "rejection_reason"}
        return {f.attname: getattr(self, f.attname) for f in self._meta.concrete_fields if f.attname not in excluded}

    # --- transitions ------------------------------------------------------------------------------------

    @transition(field=status, source=Status.PENDING, target=Status.ACTIVE, permission=_never)
    def activate(self, *, at, **kwargs) -> None:
        self.decided_at = at

    @transition(field=status, source=Status.PENDING, target=Status.REJECTED, permission=_never)
    def reject(self, *, at, reason, **kwargs) -> None:
        self.decided_at, self.rejection_reason = at, reason

    @transition(field=status, source=Status.PENDING, target=Status.WITHDRAWN, permission=_never)
    def withdraw(self, *, at, **kwargs) -> None:
        self.decided_at = at

    @transition(field=status, source=Status.ACTIVE, target=Status.REMEDIATED, permission=_never)
    def mark_remediated(self, **kwargs) -> None:
        pass


class BypassRemediation(models.Model):
    """A check skipped by a level 1-3 bypass, shown to pass again: the evidence, who validated it, when.

    Append-only. An emergency's skipped gates are validated as gate results on its change instead.
    """

    bypass = models.ForeignKey(BypassRequest, on_delete=models.PROTECT, related_name="remediations")
    # A code of the gate catalogue of the version the bypass pinned (a procedure may define its own), so no
    # global choices: the service checks the code against that version.
    gate = models.CharField(max_length=GATE_CODE_MAX, validators=[GATE_CODE_VALIDATOR])
    evidence = models.TextField(max_length=TEXT_MAX)
    validated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    validated_at = models.DateTimeField()

    class Meta:
        ordering = ["bypass", "gate"]
        constraints = [models.UniqueConstraint(fields=["bypass", "gate"], name="bypass_remediation_once")]

    def __str__(self) -> str:
        return f"{self.bypass_id} {self.gate} remediated"

    @property
    def gate_label(self) -> str:
        return self.bypass.rules.check_label(self.gate)

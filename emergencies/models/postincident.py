"""After the fix: rollback readings, the post-mortem, its action items and preventive measures, and the
retroactive validation of every gate the emergency bypassed."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django_fsm import FSMField, FSMModelMixin, transition
from simple_history.models import HistoricalRecords

from qms.limits import COMMENT_MAX, TEXT_MAX
from qms.procedures import GATE_CODE_MAX, GATE_CODE_VALIDATOR

# Emergency Bypass Workflow §3.4
DEFAULT_ROLLBACK_TRIGGERS = {"error_rate_increase_pct": "5", "response_time_ratio": "2", "new_critical_errors": 0}


class RollbackTriggerReading(models.Model):
    """Metrics read after a hotfix, against the rollback triggers of §3.4. Append-only."""

    change = models.ForeignKey("emergencies.ChangeRecord", on_delete=models.PROTECT, related_name="rollback_readings")
    error_rate_increase_pct = models.DecimalField(
        "error-rate increase (%)", max_digits=6, decimal_places=2, validators=[MinValueValidator(Decimal("-100"))]
    )
    response_time_ratio = models.DecimalField(
        "response time vs baseline (×)", max_digits=6, decimal_places=2, validators=[MinValueValidator(Decimal("0"))]
    )
    new_critical_errors = models.PositiveIntegerField("new critical errors")
    note = models.TextField(blank=True, max_length=COMMENT_MAX)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField()

    class Meta:
        ordering = ["-recorded_at", "-pk"]

    def __str__(self) -> str:
        return f"rollback reading on {self.change_id} at {self.recorded_at:%Y-%m-%d %H:%M}"

    def triggered(self, thresholds: dict | None = None) -> list[tuple[str, str]]:
        """The triggers this reading fires, each with the action the procedure calls for."""
        t = {**DEFAULT_ROLLBACK_TRIGGERS, **(thresholds or {})}
        fired = []
        if self.error_rate_increase_pct > Decimal(str(t["error_rate_increase_pct"])):
            fired.append(
                (f"Error rate +{self.error_rate_increase_pct}% (> {t['error_rate_increase_pct']}%)", "Rollback")
            )
        if self.response_time_ratio > Decimal(str(t["response_time_ratio"])):
            fired.append(
                (f"Response time {self.response_time_ratio}× baseline (> {t['response_time_ratio']}×)", "Evaluate")
            )
        if self.new_critical_errors > int(t["new_critical_errors"]):
            fired.append((f"{self.new_critical_errors} new critical error(s)", "Rollback"))
        return fired

    @property
    def recommends_rollback(self) -> bool:
        return any(action == "Rollback" for _, action in self.triggered())


class PostMortem(FSMModelMixin, models.Model):
    """The post-mortem of an emergency change (Emergency Bypass Workflow §4.2)."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        IN_REVIEW = "in_review", "In review"
        APPROVED = "approved", "Approved"

    change = models.OneToOneField("emergencies.ChangeRecord", on_delete=models.PROTECT, related_name="post_mortem")
    status = FSMField(max_length=12, choices=Status.choices, default=Status.DRAFT, protected=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    post_mortem_date = models.DateField()
    incident_start = models.DateTimeField(null=True, blank=True)
    incident_end = models.DateTimeField(null=True, blank=True)
    users_affected = models.PositiveIntegerField(null=True, blank=True)
    duration_hours = models.DecimalField(max_digits=7, decimal_places=2, null=True, blank=True)
    revenue_impact = models.CharField(max_length=300, blank=True)
    reputational_impact = models.CharField(max_length=300, blank=True)
    why_1 = models.TextField("Why? (1)", blank=True, max_length=TEXT_MAX)
    why_2 = models.TextField("Why? (2)", blank=True, max_length=TEXT_MAX)
    why_3 = models.TextField("Why? (3)", blank=True, max_length=TEXT_MAX)
    why_4 = models.TextField("Why? (4)", blank=True, max_length=TEXT_MAX)
    why_5 = models.TextField("Why? (5) — root cause", blank=True, max_length=TEXT_MAX)
    contributing_factors = models.TextField(blank=True, help_text="One factor per line.", max_length=TEXT_MAX)
    resolution = models.TextField(blank=True, help_text="What the hotfix did.", max_length=TEXT_MAX)
    went_well = models.TextField("What went well", blank=True, max_length=TEXT_MAX)
    went_poorly = models.TextField("What went poorly", blank=True, max_length=TEXT_MAX)
    got_lucky = models.TextField("Where we got lucky", blank=True, max_length=TEXT_MAX)
    submitted_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords()

    def __str__(self) -> str:
        return f"Post-mortem {self.change}"

    @property
    def whys(self) -> list[str]:
        return [self.why_1, self.why_2, self.why_3, self.why_4, self.why_5]

    @property
    def has_root_cause_analysis(self) -> bool:
        return all(w.strip() for w in self.whys)

    @property
    def factors(self) -> list[str]:
        return [line.strip() for line in self.contributing_factors.splitlines() if line.strip()]

    def signable_content(self) -> dict:
        excluded = {"id", "status", "submitted_at", "approved_at"}
        return {f.attname: getattr(self, f.attname) for f in self._meta.concrete_fields if f.attname not in excluded}

    @transition(field=status, source=Status.DRAFT, target=Status.IN_REVIEW)
    def submit(self, *, at, **kwargs) -> None:
        self.submitted_at = at

    @transition(field=status, source=Status.IN_REVIEW, target=Status.DRAFT)
    def reopen(self, **kwargs) -> None:
        self.submitted_at = None

    @transition(field=status, source=Status.IN_REVIEW, target=Status.APPROVED)
    def approve(self, *, at, **kwargs) -> None:
        self.approved_at = at


class TimelineEntry(models.Model):
    post_mortem = models.ForeignKey(PostMortem, on_delete=models.CASCADE, related_name="timeline")
    at = models.DateTimeField()
    event = models.CharField(max_length=300)
    history = HistoricalRecords()

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.at:%H:%M} {self.event}"


class ActionItem(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        IN_PROGRESS = "in_progress", "In progress"
        DONE = "done", "Done"

    post_mortem = models.ForeignKey(PostMortem, on_delete=models.PROTECT, related_name="action_items")
    number = models.PositiveSmallIntegerField()
    action = models.CharField(max_length=300)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    due_date = models.DateField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    history = HistoricalRecords()

    class Meta:
        ordering = ["number"]
        constraints = [models.UniqueConstraint(fields=["post_mortem", "number"], name="action_item_number_unique")]

    def __str__(self) -> str:
        return f"{self.number}. {self.action}"


class PreventiveMeasure(models.Model):
    class Category(models.TextChoices):
        MONITORING = "monitoring", "Monitoring improvements"
        HARDENING = "hardening", "Code hardening"
        TEST_COVERAGE = "test_coverage", "Test coverage"
        DOCUMENTATION = "documentation", "Documentation updates"
        PROCESS = "process", "Process improvements"

    class Priority(models.TextChoices):
        HIGH = "High", "High"
        MEDIUM = "Medium", "Medium"
        LOW = "Low", "Low"

    post_mortem = models.ForeignKey(PostMortem, on_delete=models.PROTECT, related_name="preventive_measures")
    measure = models.CharField(max_length=300)
    category = models.CharField(max_length=16, choices=Category.choices)
    priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.MEDIUM)
    follow_up = models.OneToOneField(
        "emergencies.ChangeRecord", null=True, blank=True, on_delete=models.PROTECT, related_name="prevents"
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.measure


class GateResult(models.Model):
    """The retroactive result of a gate the emergency bypassed. Append-only: the latest per gate counts."""

    class Result(models.TextChoices):
        PASSED = "passed", "Passed"
        FAILED = "failed", "Failed"
        WAIVED = "waived", "Waived"

    change = models.ForeignKey("emergencies.ChangeRecord", on_delete=models.PROTECT, related_name="gate_results")
    # A code of the gate catalogue of the version the change pinned (a procedure may define its own), so no
    # global choices: the service checks the code against that version.
    gate = models.CharField(max_length=GATE_CODE_MAX, validators=[GATE_CODE_VALIDATOR])
    result = models.CharField(max_length=8, choices=Result.choices)
    evidence = models.TextField(max_length=TEXT_MAX)
    validated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    validated_at = models.DateTimeField()
    retroactive = models.BooleanField(default=True)

    class Meta:
        ordering = ["gate", "-validated_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.change_id} {self.gate}: {self.result}"

    @property
    def gate_label(self) -> str:
        return self.change.rules.check_label(self.gate)

    @property
    def clears_gate(self) -> bool:
        return self.result in (self.Result.PASSED, self.Result.WAIVED)

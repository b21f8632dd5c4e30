from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django_fsm import FSMField, FSMModelMixin, transition
from simple_history.models import HistoricalRecords

from emergencies import permissions
from qms.limits import COMMENT_MAX, LIST_MAX, TEXT_MAX
from qms.links import record_url
from qms.models import ProcedureVersion
from qms.procedures import CATEGORY_CHOICES, CATEGORY_LABELS

INCIDENT_TICKET_VALIDATOR = RegexValidator(
    r"^INC-[A-Za-z0-9][A-Za-z0-9-]{0,36}$", "An incident ticket looks like INC-1234 (letters, digits and dashes)."
)
CVSS_VALIDATORS = [
    MinValueValidator(Decimal("0.0"), "A CVSS score is between 0.0 and 10.0."),
    MaxValueValidator(Decimal("10.0"), "A CVSS score is between 0.0 and 10.0."),
]


class Incident(models.Model):
    class DetectionSource(models.TextChoices):
        MONITORING = "monitoring", "Monitoring alert"
        CUSTOMER = "customer", "Customer report"
        INTERNAL = "internal", "Internal report"
        SECURITY = "security", "Security scan or disclosure"
        OTHER = "other", "Other"

    ticket = models.CharField(max_length=40, unique=True, validators=[INCIDENT_TICKET_VALIDATOR])
    title = models.CharField(max_length=200)
    category = models.CharField(max_length=32, choices=CATEGORY_CHOICES)
    severity = models.CharField(max_length=32, blank=True)
    cvss_score = models.DecimalField(
        "CVSS score", max_digits=3, decimal_places=1, null=True, blank=True, validators=CVSS_VALIDATORS
    )
    production_impact = models.BooleanField(default=False)
    security_involved = models.BooleanField(default=False)
    compliance_involved = models.BooleanField(default=False)
    safety_related = models.BooleanField(default=False)
    commander = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="commanded_incidents"
    )
    reported_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    detected_at = models.DateTimeField(null=True, blank=True)
    detection_source = models.CharField(max_length=16, choices=DetectionSource.choices, blank=True)
    declared_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    affected_systems = models.TextField(
        blank=True, help_text="Systems or serial numbers, one per line.", max_length=LIST_MAX
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-declared_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(cvss_score__isnull=True) | Q(cvss_score__gte=0, cvss_score__lte=10),
                name="incident_cvss_range",
            ),
            models.CheckConstraint(
                condition=Q(resolved_at__isnull=True) | Q(resolved_at__gte=models.F("declared_at")),
                name="incident_resolved_after_declared",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.ticket}: {self.title}"

    @property
    def category_label(self) -> str:
        return CATEGORY_LABELS.get(self.category, self.category).split(" — ")[0]

    @property
    def flags(self) -> dict[str, bool]:
        return {
            "production_impact": self.production_impact,
            "security_involved": self.security_involved,
            "compliance_involved": self.compliance_involved,
            "safety_related": self.safety_related,
        }


class ChangeRecord(FSMModelMixin, models.Model):
    class Level(models.TextChoices):
        EMERGENCY = "emergency", "Emergency"
        EXPEDITED = "expedited", "Expedited"
        STANDARD = "standard", "Standard"

    class Source(models.TextChoices):
        EMERGENCY = "emergency", "Emergency"
        FOLLOW_UP = "follow_up", "Follow-up"
        PREVENTIVE = "preventive", "Preventive"
        PLANNED = "planned", "Planned"

    class Status(models.TextChoices):
        STUB = "stub", "In Progress"
        BYPASS_AUTHORISED = "bypass_authorised", "Bypass authorised"
        HOTFIX = "hotfix_in_progress", "Hotfix in progress"
        DEPLOYED = "deployed", "Deployed"
        MONITORING = "monitoring", "Monitoring"
        POST_INCIDENT = "post_incident", "Post-incident documentation"
        CLOSED = "closed", "Closed"
        ROLLED_BACK = "rolled_back", "Rolled back"
        CONVERTED = "converted_standard", "Converted to standard process"
        # the standard-change lifecycle of follow-up and preventive changes
        DRAFT = "draft", "Draft"
        APPROVED = "approved", "Approved"
        IMPLEMENTED = "implemented", "Implemented"
        VERIFIED = "verified", "Verified"

    OPEN_STATUSES = (
        Status.STUB,
        Status.BYPASS_AUTHORISED,
        Status.HOTFIX,
        Status.DEPLOYED,
        Status.MONITORING,
        Status.POST_INCIDENT,
        Status.ROLLED_BACK,
    )
    # A follow-up or preventive change is done once verified (or closed), open before.
    STANDARD_OPEN_STATUSES = (Status.DRAFT, Status.APPROVED, Status.IMPLEMENTED)
    STANDARD_DONE_STATUSES = (Status.VERIFIED, Status.CLOSED)
    # Not finished yet, on either lifecycle (kept out of retention, shown as open in the register).
    UNFINISHED_STATUSES = (*OPEN_STATUSES, *STANDARD_OPEN_STATUSES, Status.VERIFIED)

    identifier = models.CharField(max_length=40, unique=True)
    title = models.CharField(max_length=250)
    level = models.CharField(max_length=16, choices=Level.choices, default=Level.EMERGENCY)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.EMERGENCY)
    incident = models.ForeignKey(Incident, null=True, blank=True, on_delete=models.PROTECT, related_name="changes")
    procedure_version = models.ForeignKey(ProcedureVersion, on_delete=models.PROTECT, related_name="changes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="authored_changes")
    problem_statement = models.TextField(max_length=TEXT_MAX)
    status = FSMField(max_length=24, choices=Status.choices, default=Status.STUB, protected=True, db_index=True)
    declared_at = models.DateTimeField(db_index=True)

    # Immediate actions (Emergency Bypass Workflow §2.2)
    hotfix_in_progress = models.BooleanField(default=False)
    monitoring_active = models.BooleanField(default=False)

    bypass_authorised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    bypass_authorised_at = models.DateTimeField(null=True, blank=True)
    # A signed "proceed before authorisation" deviation by the incident commander, where the procedure allows
    # one (Emergency Bypass Workflow: "verbal + stub"); EMG-E001 stays open until the authorisation completes.
    proceed_deviation_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    proceed_deviation_at = models.DateTimeField(null=True, blank=True)
    proceed_deviation_reason = models.TextField(max_length=COMMENT_MAX, blank=True)
    deployed_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # standard-change lifecycle (follow-up and preventive changes)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    verified_at = models.DateTimeField(null=True, blank=True)
    status_reason = models.TextField(blank=True, help_text="Why the last transition was taken.", max_length=TEXT_MAX)

    # Hotfix rules (§3.1-3.2) and the emergency deployment checklist (§3.3).
    hotfix_reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The second engineer who reviewed the code change (never its author).",
    )
    smoke_test_passed = models.BooleanField(default=False)
    security_scan_passed = models.BooleanField(default=False)
    deployment_notification_sent = models.BooleanField(default=False)
    dashboards_open = models.BooleanField("monitoring dashboards open", default=False)
    oncall_team_notified = models.BooleanField(default=False)
    stakeholders_notified = models.BooleanField(default=False)
    resolved_at = models.DateTimeField(null=True, blank=True)
    documentation_completed_at = models.DateTimeField(null=True, blank=True)

    # Full documentation (§4.1), completed after the incident.
    rollback_plan = models.TextField(blank=True, max_length=TEXT_MAX)
    root_cause = models.TextField(blank=True, max_length=TEXT_MAX)
    impact_assessment = models.TextField(blank=True, max_length=TEXT_MAX)
    timeline = models.TextField(blank=True, max_length=TEXT_MAX)
    affected_artifacts = models.TextField(blank=True, max_length=TEXT_MAX)
    resolution = models.TextField(blank=True, max_length=TEXT_MAX)
    lessons_learned = models.TextField(blank=True, max_length=TEXT_MAX)

    # Emergency CCB (CM-WF-EMERGENCY §9, §14, §16): set through emergencies.services.ccb.
    verification_complete = models.BooleanField(
        default=False, help_text="Focused testing done: fix, regression, integration and rollback testing (§9.1)."
    )
    false_alarm = models.BooleanField(
        default=False, help_text="The emergency was judged not warranted (a false alarm in the metrics, §16)."
    )
    false_alarm_reason = models.TextField(blank=True, max_length=COMMENT_MAX)

    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="follow_ups")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-declared_at", "-identifier"]
        indexes = [models.Index(fields=["status", "-declared_at"], name="change_status_declared")]

    def __str__(self) -> str:
        return self.identifier

    def get_absolute_url(self) -> str:
        return record_url("emergencies:change-detail", self.identifier)

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES

    @property
    def rules(self):
        return self.procedure_version.rules

    @property
    def severity_label(self) -> str:
        if not self.incident_id:
            return ""
        return self.rules.severity_labels.get(self.incident.severity, self.incident.severity)

    @property
    def security_incident(self) -> bool:
        return bool(self.incident_id and self.incident.security_involved)

    def deployment_checklist(self) -> list[tuple[str, bool]]:
        """The emergency deployment checklist of §3.3, plus the security scan for security incidents (§3.2)."""
        items = [
            (
                "Code change reviewed by second engineer",
                self.hotfix_reviewer_id is not None and self.hotfix_reviewer_id != self.author_id,
            ),
            ("Smoke test passed", self.smoke_test_passed),
            ("Deployment notification sent", self.deployment_notification_sent),
            ("Rollback plan ready", bool(self.rollback_plan.strip())),
            ("Monitoring dashboards open", self.dashboards_open),
            ("On-call team notified", self.oncall_team_notified),
        ]
        if self.security_incident:
            items.append(("Security scan passed (security incident)", self.security_scan_passed))
        return items

    def deployment_problems(self) -> list[str]:
        return [label for label, done in self.deployment_checklist() if not done]

    # --- transitions: they only set fields; services lock, check, save and record ----------------------

    @transition(
        field=status,
        source=Status.STUB,
        target=Status.BYPASS_AUTHORISED,
        permission=permissions.only_by_signatures,
        custom={"label": "Bypass authorised"},
    )
    def authorize_bypass(self, *, by, at, **kwargs) -> None:
        self.bypass_authorised_by, self.bypass_authorised_at = by, at

    @transition(
        field=status,
        source=[Status.STUB, Status.BYPASS_AUTHORISED, Status.ROLLED_BACK],
        target=Status.HOTFIX,
        permission=permissions.can_work_on_change,
        custom={"label": "Start hotfix"},
    )
    def start_hotfix(self, **kwargs) -> None:
        self.hotfix_in_progress = True

    @transition(
        field=status,
        source=Status.HOTFIX,
        target=Status.DEPLOYED,
        permission=permissions.can_work_on_change,
        conditions=[lambda change: not change.deployment_problems()],
        custom={"label": "Mark deployed"},
    )
    def deploy(self, *, at, **kwargs) -> None:
        self.deployed_at = at

    @transition(
        field=status,
        source=Status.DEPLOYED,
        target=Status.MONITORING,
        permission=permissions.can_work_on_change,
        custom={"label": "Start monitoring"},
    )
    def start_monitoring(self, **kwargs) -> None:
        self.monitoring_active = True

    @transition(
        field=status,
        source=[Status.MONITORING, Status.ROLLED_BACK],
        target=Status.POST_INCIDENT,
        permission=permissions.can_work_on_change,
        custom={"label": "Confirm resolution"},
    )
    def resolve(self, *, at, **kwargs) -> None:
        self.hotfix_in_progress = False
        self.resolved_at = at

    @transition(
        field=status,
        source=Status.POST_INCIDENT,
        target=Status.CLOSED,
        permission=permissions.can_close_change,
        custom={"label": "Close emergency change"},
    )
    def close(self, *, at, **kwargs) -> None:
        self.closed_at = at

    @transition(
        field=status,
        source=[Status.DEPLOYED, Status.MONITORING],
        target=Status.ROLLED_BACK,
        permission=permissions.can_work_on_change,
        custom={"label": "Roll back", "reason_required": True, "danger": True},
    )
    def roll_back(self, **kwargs) -> None:
        self.monitoring_active = False

    # --- the standard-change lifecycle of follow-up and preventive changes ----------------------------------

    @transition(
        field=status,
        source=Status.DRAFT,
        target=Status.APPROVED,
        permission=permissions.can_approve_standard_change,
        custom={"label": "Approve (not the author)"},
    )
    def approve_change(self, *, by, at, **kwargs) -> None:
        self.approved_by, self.approved_at = by, at

    @transition(
        field=status,
        source=Status.APPROVED,
        target=Status.IMPLEMENTED,
        permission=permissions.can_work_on_change,
        custom={"label": "Mark implemented"},
    )
    def implement_change(self, **kwargs) -> None:
        pass

    @transition(
        field=status,
        source=Status.IMPLEMENTED,
        target=Status.VERIFIED,
        permission=permissions.can_approve_standard_change,
        custom={"label": "Verify (not the author)"},
    )
    def verify_change(self, *, by, at, **kwargs) -> None:
        self.verified_by, self.verified_at = by, at

    @transition(
        field=status,
        source=Status.VERIFIED,
        target=Status.CLOSED,
        permission=permissions.can_close_standard_change,
        custom={"label": "Close change"},
    )
    def close_change(self, *, at, **kwargs) -> None:
        self.closed_at = at

    @transition(
        field=status,
        source=[Status.STUB, Status.BYPASS_AUTHORISED, Status.HOTFIX, Status.ROLLED_BACK],
        target=Status.CONVERTED,
        permission=permissions.can_convert_change,
        custom={"label": "Convert to standard process", "reason_required": True, "danger": True},
    )
    def convert_to_standard(self, **kwargs) -> None:
        self.level = self.Level.STANDARD
        self.hotfix_in_progress = False

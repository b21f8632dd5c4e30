from __future__ import annotations

from datetime import UTC

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from simple_history.models import HistoricalRecords

from qms.roles import Role


class AuditChainHead(models.Model):
    """The single row that serialises appends to the audit chain and remembers its head.

    Appending locks this row, so two transactions never chain onto the same predecessor; a deleted
    tail is caught because the head still names the last event.
    """

    position = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64, default="0" * 64)

    def __str__(self) -> str:
        return f"audit chain head #{self.position}"


class AuditEvent(models.Model):
    """An append-only, hash-chained record of a decision. Never updated, never deleted."""

    position = models.PositiveBigIntegerField(unique=True)
    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_name = models.CharField(max_length=200, blank=True)
    actor_roles = models.CharField(max_length=500, blank=True)
    action = models.CharField(max_length=100)
    subject_type = models.CharField(max_length=100, blank=True)
    subject_id = models.CharField(max_length=64, blank=True)
    subject_label = models.CharField(max_length=100, blank=True)
    reason = models.TextField(blank=True)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    ip_address = models.CharField(max_length=64, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["position"]
        # Declared in Meta rather than with unique=/db_index= on the fields: PostgreSQL then gets no second
        # ``varchar_pattern_ops`` index for LIKE queries nobody makes, which the sweep's bulk appends would pay for.
        indexes = [
            models.Index(fields=["subject_type", "subject_id", "position"], name="auditevent_subject"),
            models.Index(fields=["action"], name="auditevent_action"),
        ]
        constraints = [models.UniqueConstraint(fields=["hash"], name="auditevent_hash_unique")]

    def __str__(self) -> str:
        return f"#{self.position} {self.action} {self.subject_label}"


def clock_owner_label(owner, owner_role: str) -> str:
    """Who owns a clock, in words: the owner, or any holder of the owning role."""
    if owner is not None:
        return owner.display_name
    try:
        return f"any {Role(owner_role).label}" if owner_role else "unassigned"
    except ValueError:
        return owner_role


class Obligation(models.Model):
    """One concept for every clock: something someone owes by a time, until it is satisfied."""

    subject_type = models.ForeignKey(ContentType, on_delete=models.PROTECT)
    subject_id = models.PositiveBigIntegerField()
    subject = GenericForeignKey("subject_type", "subject_id")
    subject_label = models.CharField(max_length=100)
    subject_url = models.CharField(max_length=300, blank=True)
    kind = models.CharField(max_length=64)
    key = models.CharField(max_length=64, blank=True, default="")
    label = models.CharField(max_length=200)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="obligations"
    )
    owner_role = models.CharField(max_length=32, blank=True)
    started_at = models.DateTimeField()
    due_at = models.DateTimeField(db_index=True)
    satisfied_at = models.DateTimeField(null=True, blank=True)
    satisfied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    satisfaction_note = models.TextField(blank=True)
    escalation_level = models.PositiveSmallIntegerField(default=0)
    last_escalated_at = models.DateTimeField(null=True, blank=True)
    # History is read by object (its ``id`` index) and date; the indexes copied from the live table would only
    # slow down the sweep's bulk history writes.
    history = HistoricalRecords(no_db_index=["due_at", "owner", "satisfied_by", "subject_type"])

    class Meta:
        ordering = ["due_at"]
        constraints = [
            models.UniqueConstraint(fields=["subject_type", "subject_id", "kind", "key"], name="obligation_unique"),
        ]
        indexes = [
            models.Index(fields=["due_at"], condition=Q(satisfied_at__isnull=True), name="obligation_open_due"),
            models.Index(fields=["subject_type", "subject_id"], name="obligation_subject"),
            # The repeat-bypass sweep's "last preventive follow-up per pattern", every run. No index names
            # escalation_level: an escalation then changes no indexed column and stays a HOT update.
            models.Index(fields=["started_at"], condition=Q(kind="preventive_change"), name="obligation_preventive"),
            # The reports' "completed in the period" and "met since the period ended" (satisfying a clock
            # already changes an indexed column, obligation_open_due's condition).
            models.Index(fields=["satisfied_at"], name="obligation_satisfied"),
        ]

    def __str__(self) -> str:
        return f"{self.label} — {self.subject_label}"

    @property
    def is_open(self) -> bool:
        return self.satisfied_at is None

    @property
    def owner_label(self) -> str:
        return clock_owner_label(self.owner if self.owner_id else None, self.owner_role)

    @property
    def is_overdue(self) -> bool:
        return self.is_open and self.due_at < timezone.now()

    @property
    def met_on_time(self) -> bool | None:
        return None if self.is_open else self.satisfied_at <= self.due_at


class ComplianceReport(models.Model):
    """An immutable snapshot of a daily, weekly or monthly compliance report (append-only on PostgreSQL).

    ``payload`` holds every figure and the ids of the records behind it; ``html`` and ``text`` are what was
    rendered and mailed from it, and ``sha256`` is the digest of the canonical JSON of the payload. A period
    can be generated again (a new snapshot); the beat's own snapshot of a period exists once per scope.
    """

    class Kind(models.TextChoices):
        DAILY = "daily", "Daily"
        WEEKLY = "weekly", "Weekly"
        MONTHLY = "monthly", "Monthly"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    generated_at = models.DateTimeField(default=timezone.now)
    generated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # What the report counts (``audits.reports.scope``): one procedure (every version of it), one version of
    # it, or, both blank, all procedures. The scheduler covers all procedures, and the scopes of
    # settings.QMS_SCHEDULED_REPORT_SCOPES.
    procedure = models.ForeignKey("qms.Procedure", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    procedure_version = models.ForeignKey(
        "qms.ProcedureVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    payload = models.JSONField()
    html = models.TextField()
    text = models.TextField()
    sha256 = models.CharField(max_length=64)

    class Meta:
        ordering = ["-period_start", "-generated_at"]
        indexes = [models.Index(fields=["kind", "-period_start"], name="report_kind_period")]
        constraints = [
            # The scheduler's snapshot exists once per kind, period and scope (all procedures: both blank).
            models.UniqueConstraint(
                "kind",
                "period_start",
                Coalesce("procedure", Value(0)),
                Coalesce("procedure_version", Value(0)),
                condition=Q(generated_by__isnull=True),
                name="report_scheduled_once_per_period_and_scope",
            ),
            models.CheckConstraint(condition=Q(period_end__gt=models.F("period_start")), name="report_period_range"),
            models.CheckConstraint(
                condition=Q(procedure_version__isnull=True) | Q(procedure__isnull=False),
                name="report_version_names_its_procedure",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} compliance report {self.period_label}"

    @property
    def period_label(self) -> str:
        from datetime import timedelta

        last_day = (self.period_end - timedelta(seconds=1)).astimezone(UTC)
        start = self.period_start.astimezone(UTC)
        if self.kind == self.Kind.DAILY:
            return f"{start:%Y-%m-%d}"
        if self.kind == self.Kind.MONTHLY:
            return f"{start:%B %Y}"
        return f"{start:%Y-%m-%d} – {last_day:%Y-%m-%d}"

    @property
    def procedure_label(self) -> str:
        """ "Emergency Bypass Workflow v2", "…, all versions" or "all procedures" (select_related the two)."""
        from audits.reports.scope import scope_label

        return scope_label(self.procedure, self.procedure_version)


class AuditCheckpoint(models.Model):
    """A signed statement of the audit chain's head at one moment, also written outside the database.

    ``document`` is the checkpoint exactly as signed and as the sink holds it (see ``audits.checkpoints``);
    the other columns repeat what it says so that the latest one is found with an index. Append-only on
    PostgreSQL: a checkpoint is never rewritten, the next one names it.
    """

    sequence = models.PositiveBigIntegerField(unique=True)
    position = models.PositiveBigIntegerField()
    head_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    key_id = models.CharField(max_length=64)
    signature = models.CharField(max_length=128)
    document = models.JSONField()
    location = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["sequence"]

    def __str__(self) -> str:
        return f"checkpoint {self.sequence} at #{self.position}"


class SweepMark(models.Model):
    """Where the escalation sweep stands: the ``now`` of the last run that drained everything due, and of the
    last full run. Operational state, not a record: losing it only makes the next beat tick a full sweep."""

    name = models.CharField(max_length=40, unique=True)
    swept_until = models.DateTimeField()
    full_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name}: swept until {self.swept_until:%Y-%m-%d %H:%M:%S}"

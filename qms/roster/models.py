"""The on-call roster of the key roles (CM-WF-EMERGENCY §13.2): who is primary and who is backup, when.

Three sources say who is on call, the first that covers a moment wins: an override (a named person for a
period: a swap, a sick day), the role's latest imported iCalendar, and its weekly rotations. A page is one
message to the role's primary that waits for an acknowledgement; unacknowledged within the procedure's
response time, the backup is paged (``qms.roster.paging``)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from qms.limits import COMMENT_MAX, LINE_MAX, LIST_MAX, TITLE_MAX
from qms.roles import KEY_ROLES

KEY_ROLE_CHOICES = [(r.value, r.label) for r in KEY_ROLES]


class Slot(models.TextChoices):
    PRIMARY = "primary", "Primary"
    BACKUP = "backup", "Backup"


class OnCallRotation(models.Model):
    """People taking turns in one slot of a role: the first from ``starts_at`` for ``period_days``, then the
    next, round and round. A later rotation of the same role and slot takes over from where it starts."""

    role = models.CharField(max_length=16, choices=KEY_ROLE_CHOICES)
    slot = models.CharField(max_length=8, choices=Slot.choices)
    name = models.CharField(max_length=TITLE_MAX)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True)
    period_days = models.PositiveSmallIntegerField(
        default=7, validators=[MinValueValidator(1), MaxValueValidator(28)], help_text="Days of each turn."
    )
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="OnCallRotationMember", related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["role", "slot", "-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__isnull=True) | Q(ends_at__gt=models.F("starts_at")), name="rotation_ends_after"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_role_display()} {self.get_slot_display().lower()}: {self.name}"

    def member_at(self, at: datetime, members: list) -> object | None:
        """Whose turn it is at ``at`` (``members`` in their order), or None outside the rotation."""
        if not members or at < self.starts_at or (self.ends_at is not None and at >= self.ends_at):
            return None
        turn = (at - self.starts_at) // timedelta(days=self.period_days)
        return members[turn % len(members)]

    def turn_starts(self, start: datetime, end: datetime) -> list[datetime]:
        """The handovers inside [start, end)."""
        period = timedelta(days=self.period_days)
        first = self.starts_at
        if first < start:
            first += ((start - first) // period) * period
        found = []
        while first < end and (self.ends_at is None or first < self.ends_at):
            if first >= start:
                found.append(first)
            first += period
        return found


class OnCallRotationMember(models.Model):
    rotation = models.ForeignKey(OnCallRotation, on_delete=models.PROTECT, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["rotation", "position"]
        constraints = [models.UniqueConstraint(fields=["rotation", "position"], name="rotation_member_position")]

    def __str__(self) -> str:
        return f"{self.rotation} #{self.position + 1}: {self.user}"


class OnCallImport(models.Model):
    """One iCalendar file imported for a role: its shifts replace those of the role's earlier imports."""

    role = models.CharField(max_length=16, choices=KEY_ROLE_CHOICES)
    filename = models.CharField(max_length=TITLE_MAX, blank=True)
    sha256 = models.CharField(max_length=64)
    content = models.TextField(max_length=LIST_MAX)
    shift_count = models.PositiveIntegerField(default=0)
    horizon_end = models.DateTimeField(help_text="Recurring events are expanded up to here.")
    imported_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    imported_at = models.DateTimeField()

    class Meta:
        ordering = ["-imported_at", "-pk"]
        get_latest_by = ["imported_at", "pk"]

    def __str__(self) -> str:
        return f"{self.get_role_display()} roster {self.filename or self.sha256[:12]} ({self.imported_at:%Y-%m-%d})"


class OnCallShift(models.Model):
    """A named person in a slot for a period: an override, or one occurrence of an imported event."""

    class Kind(models.TextChoices):
        OVERRIDE = "override", "Override"
        IMPORTED = "imported", "Imported from iCalendar"

    role = models.CharField(max_length=16, choices=KEY_ROLE_CHOICES)
    slot = models.CharField(max_length=8, choices=Slot.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    kind = models.CharField(max_length=8, choices=Kind.choices)
    reason = models.TextField(max_length=COMMENT_MAX, blank=True)
    source = models.ForeignKey(OnCallImport, null=True, blank=True, on_delete=models.PROTECT, related_name="shifts")
    uid = models.CharField(max_length=LINE_MAX, blank=True, help_text="The iCalendar UID of the event.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["starts_at", "pk"]
        indexes = [models.Index(fields=["role", "ends_at"], name="oncall_shift_role_end")]
        constraints = [models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="shift_ends_after")]

    def __str__(self) -> str:
        return f"{self.get_role_display()} {self.slot}: {self.user} {self.starts_at:%Y-%m-%d %H:%M}"


class OnCallPage(models.Model):
    """A message to a role that waits for its on-call primary (then backup) to acknowledge it."""

    class Via(models.TextChoices):
        LINK = "link", "The link in the message"
        SESSION = "session", "Signed in"
        API = "api", "API"

    role = models.CharField(max_length=16, choices=KEY_ROLE_CHOICES)
    dedupe_prefix = models.CharField(max_length=200)
    severity = models.CharField(max_length=32, blank=True)
    subject = models.CharField(max_length=250)
    link = models.CharField(max_length=500, blank=True)
    primary = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    backup = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    paged_at = models.DateTimeField()
    respond_by = models.DateTimeField()
    escalated_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    acknowledged_via = models.CharField(max_length=8, choices=Via.choices, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-paged_at", "-pk"]
        constraints = [models.UniqueConstraint(fields=["dedupe_prefix", "role"], name="oncall_page_once")]
        indexes = [
            models.Index(
                fields=["respond_by"],
                condition=Q(acknowledged_at__isnull=True, escalated_at__isnull=True),
                name="oncall_page_waiting",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_role_display()}: {self.subject}"

    @property
    def waiting(self) -> bool:
        return self.acknowledged_at is None

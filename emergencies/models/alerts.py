"""Alert intake: routing rules configured in the admin, every payload as received, and the alerts (one per
key of the tool that sent them) that open and update incidents. The portal never declares an emergency from
an alert: a person files the stub from the incident."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from qms.procedures import CATEGORY_CHOICES


class AlertSource(models.TextChoices):
    ALERTMANAGER = "alertmanager", "Prometheus Alertmanager"
    PAGERDUTY = "pagerduty", "PagerDuty"
    OPSGENIE = "opsgenie", "Opsgenie"


class AlertRoute(models.Model):
    """A routing rule: which firing alerts open an incident, in which category and under which procedure,
    who commands it and which on-call engineers are told. The first active rule that matches (lowest
    position) wins."""

    name = models.CharField(max_length=120)
    position = models.PositiveIntegerField(default=100, help_text="Rules are tried from the lowest position up.")
    active = models.BooleanField(default=True)
    source = models.CharField(
        max_length=16, choices=AlertSource.choices, blank=True, help_text="Empty: alerts of every source."
    )
    match_labels = models.JSONField(
        default=dict,
        blank=True,
        help_text='Labels that must all be equal, e.g. {"severity": "critical", "team": "payments"}.',
    )
    service = models.CharField(max_length=200, blank=True, help_text="Empty: any service.")
    priority = models.CharField(max_length=32, blank=True, help_text="e.g. P1 (PagerDuty, Opsgenie). Empty: any.")
    category = models.CharField(max_length=32, choices=CATEGORY_CHOICES)
    procedure = models.ForeignKey("qms.Procedure", on_delete=models.PROTECT, related_name="+")
    commander = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    on_call = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="+",
        help_text="Who is told with the “declare emergency” link (empty: every on-call engineer).",
    )
    history = HistoricalRecords(m2m_fields=[on_call])

    class Meta:
        ordering = ["position", "pk"]

    def __str__(self) -> str:
        return self.name


class AlertPayload(models.Model):
    """A request to the intake endpoint exactly as received, kept for inspection whatever became of it."""

    class Outcome(models.TextChoices):
        ACCEPTED = "accepted", "Accepted"
        UNROUTED = "unrouted", "No routing rule matched"
        REJECTED = "rejected", "Rejected: authentication"
        MALFORMED = "malformed", "Rejected: malformed"

    source = models.CharField(max_length=32)
    received_at = models.DateTimeField(db_index=True)
    headers = models.JSONField(default=dict)
    body = models.TextField()
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    reason = models.TextField(blank=True)
    remote_addr = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-received_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.source} payload {self.pk} ({self.outcome})"


class Alert(models.Model):
    """One alert as its tool identifies it (Alertmanager fingerprint, PagerDuty incident id, Opsgenie alias):
    a second firing updates it, a resolve marks it resolved."""

    class Status(models.TextChoices):
        FIRING = "firing", "Firing"
        RESOLVED = "resolved", "Resolved"

    source = models.CharField(max_length=16, choices=AlertSource.choices)
    key = models.CharField(max_length=200)
    group_key = models.CharField(max_length=500, blank=True)
    incident = models.ForeignKey("emergencies.Incident", on_delete=models.PROTECT, related_name="alerts")
    route = models.ForeignKey(AlertRoute, null=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.FIRING)
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    service = models.CharField(max_length=200, blank=True)
    priority = models.CharField(max_length=32, blank=True)
    labels = models.JSONField(default=dict)
    url = models.URLField(max_length=1000, blank=True)
    started_at = models.DateTimeField()
    last_fired_at = models.DateTimeField()
    fire_count = models.PositiveIntegerField(default=1)
    resolved_at = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["started_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["source", "key"], name="alert_source_key_unique")]

    def __str__(self) -> str:
        return f"{self.get_source_display()} {self.key}: {self.title}"

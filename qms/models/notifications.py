"""Notifications (an outbox of messages, delivered once by the worker) and the channels they go to."""

from __future__ import annotations

import re

from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from qms.models.procedures import Procedure
from qms.models.users import User


class Notification(models.Model):
    """An outbox row: written in the transaction that caused it, delivered by the worker exactly once.

    A broker that is down when the row is written loses nothing: the beat job re-sends pending rows.
    """

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        SLACK = "slack", "Slack"
        TEAMS = "teams", "Microsoft Teams"
        WEBHOOK = "webhook", "Outgoing webhook"

    # A person's message names them; a message to a channel (a Slack channel, a Teams webhook, an outgoing
    # webhook, an external mailbox) names the channel and its destination instead.
    recipient = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="notifications")
    channel = models.CharField(max_length=8, choices=Channel.choices, default=Channel.EMAIL)
    target = models.ForeignKey(
        "qms.NotificationChannel", null=True, blank=True, on_delete=models.PROTECT, related_name="messages"
    )
    destination = models.CharField(max_length=500, blank=True, help_text="Slack id, email address or URL.")
    dedupe_key = models.CharField(max_length=200, unique=True)
    subject = models.CharField(max_length=250)
    body = models.TextField()
    html_body = models.TextField(blank=True)
    link = models.CharField(max_length=500, blank=True)
    attachment_name = models.CharField(max_length=200, blank=True)
    attachment_content = models.TextField(blank=True)
    attachment_mimetype = models.CharField(max_length=100, blank=True)
    # A message queued in bulk (the escalation digests) is rendered by the worker at delivery: ``template``
    # names emails/<template>{.txt,.html} and ``context`` is its JSON context. ``body`` is empty until then.
    template = models.CharField(max_length=64, blank=True)
    context = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # After a failed attempt the next one waits (exponential backoff); the beat job retries due rows.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords(excluded_fields=["html_body", "attachment_content", "context"])

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["created_at"], condition=Q(sent_at__isnull=True), name="notification_pending")]

    def __str__(self) -> str:
        return f"{self.subject} → {self.recipient or self.destination}"

    @property
    def failing(self) -> bool:
        return self.sent_at is None and bool(self.last_error)


class NotificationChannel(models.Model):
    """A shared place the portal posts to: a Slack channel, a Teams channel's incoming webhook (or Workflows
    URL), an outgoing webhook, or a mailbox (an internal list, external contacts). Configured per procedure
    and per event kind; its audience decides which fields of a record its messages carry (the procedure's
    ``channels`` block)."""

    class Kind(models.TextChoices):
        SLACK = "slack", "Slack channel"
        TEAMS = "teams", "Microsoft Teams webhook"
        WEBHOOK = "webhook", "Outgoing webhook (JSON, HMAC-signed)"
        EMAIL = "email", "Mailbox (email address)"

    class Audience(models.TextChoices):
        PUBLIC = "public", "Public: anyone in the company may read it"
        RESPONDERS = "responders", "Responders: restricted to the people working the emergency"
        EXTERNAL = "external", "External: customers, operators"

    class Event(models.TextChoices):
        FILED = "filed", "Emergency filed"
        AWAITING_SIGNATURE = "awaiting_signature", "Awaiting a signature"
        AUTHORISED = "authorised", "Authorised"
        CCB_CONVENED = "ccb_convened", "CCB convened"
        CCB_DECIDED = "ccb_decided", "CCB decided"
        OVERDUE = "overdue", "Overdue and escalated"
        REPORT_READY = "report_ready", "Report ready"
        STATUS_UPDATE = "status_update", "Status update"

    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    destination = models.CharField(max_length=500, help_text="Slack channel id (C…), webhook URL, or email address.")
    secret = models.CharField(max_length=200, blank=True, help_text="Outgoing webhooks: the HMAC-SHA256 key.")
    audience = models.CharField(max_length=12, choices=Audience.choices, default=Audience.PUBLIC)
    procedure = models.ForeignKey(
        Procedure, null=True, blank=True, on_delete=models.PROTECT, related_name="+", help_text="Empty: every one."
    )
    events = models.JSONField(default=list, help_text='Event kinds posted here, e.g. ["filed", "authorised"].')
    active = models.BooleanField(default=True)
    history = HistoricalRecords(excluded_fields=["secret"])

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError
        from django.core.validators import EmailValidator, URLValidator

        errors: dict[str, list[str]] = {}
        if not isinstance(self.events, list) or not set(self.events) <= set(self.Event.values):
            errors["events"] = [f"A list of event kinds among: {', '.join(self.Event.values)}."]
        try:
            if self.kind in (self.Kind.TEAMS, self.Kind.WEBHOOK):
                URLValidator(schemes=["https", "http"])(self.destination)
            elif self.kind == self.Kind.EMAIL:
                EmailValidator()(self.destination)
            elif self.kind == self.Kind.SLACK and not re.fullmatch(
                r"[CGD][A-Z0-9]{2,30}|#[a-z0-9_-]{1,80}", self.destination
            ):
                errors["destination"] = ["A Slack channel id (C0123ABC) or #name."]
        except ValidationError as exc:
            errors["destination"] = exc.messages
        if self.kind == self.Kind.WEBHOOK and len(self.secret) < 16:
            errors["secret"] = ["An outgoing webhook needs an HMAC key of at least 16 characters."]
        if self.audience == self.Audience.EXTERNAL and self.kind != self.Kind.EMAIL:
            errors["audience"] = ["External contacts are reached by email."]
        if errors:
            raise ValidationError(errors)
